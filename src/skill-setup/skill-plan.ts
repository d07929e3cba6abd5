/**
 * What `porchlight skill setup` asks Amazon and AWS for, as data: the Alexa regions a Lambda
 * region serves and their locales, the skill manifest (from skill/skill.json's texts), account
 * linking, the Lambda's settings and environment, the Alexa trigger, and how to tell that what is
 * there already is what would be made. Pure: no I/O but reading the manifest template once.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export type AlexaRegion = 'NA' | 'EU' | 'FE';

export interface SkillRegion {
  alexa: AlexaRegion;
  serves: string;
  /** The skill's locales: those Alexa serves from this region that porchlight has texts for (others get English). */
  locales: string[];
}

/** The only Lambda regions Alexa calls for smart-home skills, and what each serves. */
export const SKILL_REGIONS: Record<string, SkillRegion> = {
  'us-east-1': { alexa: 'NA', serves: 'North America', locales: ['en-US', 'en-CA'] },
  'eu-west-1': { alexa: 'EU', serves: 'Europe and India', locales: ['en-GB', 'de-DE', 'en-IN'] },
  'us-west-2': { alexa: 'FE', serves: 'the Far East (Japan, Australia)', locales: ['en-AU', 'ja-JP'] },
};

export function skillRegion(region: string): SkillRegion | undefined {
  return Object.hasOwn(SKILL_REGIONS, region) ? SKILL_REGIONS[region] : undefined;
}

export const REGION_CHOICES = 'us-east-1 (North America), eu-west-1 (Europe, India) or us-west-2 (Far East)';

// ── Login with Amazon and SMAPI ───────────────────────────────────────────────────────────────

export const DEFAULT_SMAPI_URL = 'https://api.amazonalexa.com';
export const DEFAULT_LWA_AUTHORIZE_URL = 'https://www.amazon.com/ap/oa';
export const DEFAULT_LWA_TOKEN_URL = 'https://api.amazon.com/auth/o2/token';
export const SMAPI_SCOPES = ['alexa::ask:skills:readwrite', 'alexa::ask:models:readwrite', 'alexa::ask:skills:test', 'profile:user_id'];
export const DEFAULT_CALLBACK_PORT = 9090;

export interface AmazonEndpoints {
  smapiUrl: string;
  authorizeUrl: string;
  tokenUrl: string;
}

/** The only knobs for other partitions and tests (docs/architecture.md "Skill setup"). */
export function amazonEndpoints(env: NodeJS.ProcessEnv): AmazonEndpoints {
  return {
    smapiUrl: env.PORCHLIGHT_SMAPI_URL || DEFAULT_SMAPI_URL,
    authorizeUrl: env.PORCHLIGHT_LWA_AUTHORIZE_URL || DEFAULT_LWA_AUTHORIZE_URL,
    tokenUrl: env.PORCHLIGHT_LWA_TOKEN_URL || DEFAULT_LWA_TOKEN_URL,
  };
}

export function callbackUrl(port: number): string {
  return `http://127.0.0.1:${port}/cb`;
}

/** Where Alexa sends the user back after account linking: the security profile must allow these. */
export function alexaRedirectUrls(vendorId: string): string[] {
  return ['https://pitangui.amazon.com', 'https://layla.amazon.com', 'https://alexa.amazon.co.jp'].map((host) => `${host}/api/skill/link/${vendorId}`);
}

// ── The manifest ─────────────────────────────────────────────────────────────────────────────

interface LocaleText {
  name: string;
  summary: string;
  description: string;
  examplePhrases: string[];
  keywords: string[];
}

interface ManifestTemplate {
  manifest: {
    manifestVersion: string;
    publishingInformation: { locales: Record<string, LocaleText>; testingInstructions: string; category: string };
    privacyAndCompliance: Record<string, unknown>;
    permissions: Array<{ name: string }>;
  };
}

const TEMPLATE_PATH = fileURLToPath(new URL('../../skill/skill.json', import.meta.url));

export function loadManifestTemplate(path = TEMPLATE_PATH): ManifestTemplate {
  return JSON.parse(readFileSync(path, 'utf8')) as ManifestTemplate;
}

export interface SkillManifest {
  manifestVersion: string;
  publishingInformation: Record<string, unknown>;
  privacyAndCompliance: Record<string, unknown>;
  permissions: Array<{ name: string }>;
  apis: { smartHome: { protocolVersion: '3'; endpoint?: { uri: string }; regions?: Partial<Record<AlexaRegion, { endpoint: { uri: string } }>> } };
}

/**
 * The development manifest: the region's locales, permission to send Alexa events, and — once
 * the function's trigger names the skill — the function as the region's endpoint. Without an ARN
 * it has no endpoint: SMAPI refuses an endpoint whose Alexa trigger is missing, and the trigger
 * needs the skill id, so the skill is created first.
 */
export function skillManifest(template: ManifestTemplate, region: SkillRegion, functionArn?: string): SkillManifest {
  const source = template.manifest;
  const english = source.publishingInformation.locales['en-US']!;
  const locales = Object.fromEntries(region.locales.map((locale) => [locale, source.publishingInformation.locales[locale] ?? english]));
  const countries = [...new Set(region.locales.map((locale) => locale.split('-')[1]!))];
  return {
    manifestVersion: source.manifestVersion,
    publishingInformation: {
      locales,
      isAvailableWorldwide: false,
      distributionCountries: countries,
      testingInstructions: source.publishingInformation.testingInstructions,
      category: source.publishingInformation.category,
    },
    privacyAndCompliance: source.privacyAndCompliance,
    // alexa::async_event:write is "Send Alexa Events": without it no press or health change reaches Alexa.
    permissions: source.permissions,
    apis: {
      smartHome: {
        protocolVersion: '3',
        ...(functionArn && { endpoint: { uri: functionArn }, regions: { [region.alexa]: { endpoint: { uri: functionArn } } } }),
      },
    },
  };
}

/** Every field of `wanted` has the same value in `actual` (which may hold more: SMAPI adds defaults). */
export function contains(actual: unknown, wanted: unknown): boolean {
  if (Array.isArray(wanted)) {
    return Array.isArray(actual) && actual.length === wanted.length && wanted.every((item, i) => contains(actual[i], item));
  }
  if (wanted && typeof wanted === 'object') {
    if (!actual || typeof actual !== 'object' || Array.isArray(actual)) return false;
    return Object.entries(wanted).every(([key, value]) => value === undefined || contains((actual as Record<string, unknown>)[key], value));
  }
  return actual === wanted;
}

// ── Account linking ──────────────────────────────────────────────────────────────────────────

export interface AccountLinkingRequest {
  type: 'AUTH_CODE';
  authorizationUrl: string;
  accessTokenUrl: string;
  clientId: string;
  clientSecret: string;
  accessTokenScheme: 'HTTP_BASIC';
  scopes: string[];
}

/** The user's own Amazon account is the identity: account linking with their security profile. */
export function accountLinking(clientId: string, clientSecret: string): AccountLinkingRequest {
  return {
    type: 'AUTH_CODE',
    authorizationUrl: 'https://www.amazon.com/ap/oa',
    accessTokenUrl: 'https://api.amazon.com/auth/o2/token',
    clientId,
    clientSecret,
    accessTokenScheme: 'HTTP_BASIC',
    scopes: ['profile:user_id'],
  };
}

/** A digest to tell whether a secret changed without keeping or printing it. */
export function secretDigest(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

// ── The Lambda ───────────────────────────────────────────────────────────────────────────────

export const DEFAULT_FUNCTION_NAME = 'porchlight-skill';
export const BASIC_EXECUTION_POLICY = 'arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole';
export const ALEXA_SMART_HOME_PRINCIPAL = 'alexa-connectedhome.amazon.com';
export const TRIGGER_STATEMENT_ID = 'porchlight-alexa-smart-home';

export function roleName(functionName: string): string {
  return `${functionName}-role`.slice(0, 64);
}

export const LAMBDA_TRUST_POLICY = {
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' }],
} as const;

/** What the function is, besides its code and environment. */
export const FUNCTION_SETTINGS = {
  Runtime: 'nodejs22.x',
  Handler: 'index.handler',
  // The proxy gives the bridge 7 s; Lambda's default of 3 s would cut every slow answer.
  Timeout: 10,
  Description: 'porchlight: forwards Alexa directives to your bridge (made by porchlight skill setup)',
} as const;

/** Lambda reports CodeSha256 as the base64 SHA-256 of the zip. */
export function codeSha256(zip: Buffer): string {
  return createHash('sha256').update(zip).digest('base64');
}

export type Transport =
  | { kind: 'relay'; variables: Record<string, string> }
  | { kind: 'bridge-url'; bridgeUrl: string; allowInsecure: boolean };

const TRANSPORT_VARIABLES = ['BRIDGE_URL', 'ALLOW_INSECURE_BRIDGE', 'RELAY_URL', 'RELAY_BRIDGE_ID', 'RELAY_CERT', 'RELAY_KEY', 'RELAY_CA'];

/**
 * The function's environment: what is there already, the chosen transport (the other one's
 * variables removed: with both, the proxy would not know which to use) and the bridge's proxy
 * secret. Other variables are the user's and stay.
 */
export function functionEnvironment(current: Record<string, string>, transport: Transport, proxySecret: string): Record<string, string> {
  const kept = Object.fromEntries(Object.entries(current).filter(([name]) => !TRANSPORT_VARIABLES.includes(name)));
  if (transport.kind === 'relay') return { ...kept, ...transport.variables, PROXY_SECRET: proxySecret };
  return {
    ...kept,
    BRIDGE_URL: transport.bridgeUrl,
    ...(transport.allowInsecure && { ALLOW_INSECURE_BRIDGE: '1' }),
    PROXY_SECRET: proxySecret,
  };
}

export function sameVariables(a: Record<string, string>, b: Record<string, string>): boolean {
  const sorted = (v: Record<string, string>) => JSON.stringify(Object.entries(v).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)));
  return sorted(a) === sorted(b);
}

interface PolicyStatement {
  Sid?: string;
  Effect?: string;
  Principal?: { Service?: string } | string;
  Action?: string | string[];
  Condition?: { StringEquals?: Record<string, string> };
}

/** Whether a function's resource policy lets Alexa Smart Home invoke it for this skill. */
export function triggerFor(policyJson: string | undefined, skillId: string): { present: boolean; otherSkill?: string; sid?: string } {
  let statements: PolicyStatement[] = [];
  try {
    statements = (JSON.parse(policyJson ?? '{}') as { Statement?: PolicyStatement[] }).Statement ?? [];
  } catch {
    return { present: false };
  }
  const alexa = statements.filter((s) => s.Effect === 'Allow'
    && (typeof s.Principal === 'object' ? s.Principal.Service : s.Principal) === ALEXA_SMART_HOME_PRINCIPAL
    && [s.Action].flat().includes('lambda:InvokeFunction'));
  const mine = alexa.find((s) => s.Condition?.StringEquals?.['lambda:EventSourceToken'] === skillId);
  if (mine) return { present: true, ...(mine.Sid && { sid: mine.Sid }) };
  const other = alexa.find((s) => s.Sid === TRIGGER_STATEMENT_ID);
  return { present: false, ...(other && { otherSkill: other.Condition?.StringEquals?.['lambda:EventSourceToken'] ?? 'any skill', sid: TRIGGER_STATEMENT_ID }) };
}

/** Why `skill setup` cannot start with these arguments (checked before anything is read or written), or undefined. */
export function setupArgumentProblem(region: string, bridgeUrl: string | undefined, allowInsecure: boolean): string | undefined {
  if (!skillRegion(region)) return `--region ${region} is not a region Alexa calls: use ${REGION_CHOICES}`;
  return bridgeUrl === undefined ? undefined : checkBridgeUrl(bridgeUrl, allowInsecure);
}

/** https:// only, unless the user says the path to the bridge is private. */
export function checkBridgeUrl(url: string, allowInsecure: boolean): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `--bridge-url ${url} is not a URL (expected https://your.host)`;
  }
  if (parsed.protocol === 'https:') return undefined;
  if (parsed.protocol === 'http:') {
    return allowInsecure ? undefined : '--bridge-url is http://: the user\'s token and the Echo\'s SDP would cross the internet readable. Use https://, or add --allow-insecure-bridge for a bridge reached over a private network only';
  }
  return `--bridge-url must be https:// (not ${parsed.protocol})`;
}
