/**
 * `porchlight skill setup`: the user's private smart-home skill, its Lambda and account linking,
 * in their own Amazon and AWS accounts. Idempotent: every step reads what is there and writes only
 * what differs; a second run with nothing changed makes no creating or updating call and says so.
 *
 * Order matters where Amazon checks: the skill is made first without an endpoint (the trigger
 * needs its id), then the function and its Alexa Smart Home trigger, and only then the manifest
 * names the function (SMAPI refuses an endpoint whose trigger is missing).
 */
import { relaySetup } from '../relay-setup/relay-setup.ts';
import type { RelayConfig } from '../config/relay-credentials.ts';
import { readStoredSecrets, secretsFile, updateStoredSecrets } from '../config/secrets.ts';
import { CodedError } from '../util/coded-error.ts';
import { LoginError, LwaSession, login } from './lwa-login.ts';
import { skillZip } from './skill-zip.ts';
import { SkillAws, type AwsTarget } from './skill-aws.ts';
import {
  accountLinking, alexaRedirectUrls, contains, functionEnvironment, loadManifestTemplate, secretDigest, setupArgumentProblem,
  skillManifest, skillRegion, type AmazonEndpoints, type Transport,
} from './skill-plan.ts';
import { readSkillState, writeSkillState, type SkillState } from './skill-state.ts';
import { SmapiClient } from './smapi.ts';

export type SkillSetupErrorCode = 'BAD_ARGUMENTS' | 'NO_SECURITY_PROFILE';

export class SkillSetupError extends CodedError<SkillSetupErrorCode> {}

export interface SkillSetupOptions {
  region: string;
  dataDir: string;
  /** The bridge's proxy secret: the function signs with it. */
  proxySecret: string;
  /** The YAML's relay: section, when it has one (its bridge id is kept). */
  configRelay?: RelayConfig;
  /** Whether the YAML sets alexa.clientId itself (then it wins over what setup stores). */
  configHasAlexaCredentials: boolean;
  lwaClientId?: string;
  lwaClientSecret?: string;
  callbackPort: number;
  functionName: string;
  bridgeUrl?: string;
  allowInsecureBridge: boolean;
  amazon: AmazonEndpoints;
  /** Tests: the fakes of IAM and Lambda, and of IoT for the relay. */
  aws?: Omit<AwsTarget, 'region'>;
  iot?: Omit<AwsTarget, 'region'>;
  input?: NodeJS.ReadableStream;
  say: (line: string) => void;
  sleep?: (ms: number) => Promise<void>;
}

export interface SkillSetupResult {
  skillId: string;
  vendorId: string;
  functionArn: string;
  /** How many creating or updating calls were made (0: everything was in place). */
  writes: number;
  /** The tokens this run held, for the CLI to scrub from anything it prints. */
  secrets: string[];
}

/** The developer's SMAPI session: the stored login while it refreshes, else a new login. */
export async function developerSession(options: Pick<SkillSetupOptions, 'dataDir' | 'lwaClientId' | 'lwaClientSecret' | 'callbackPort' | 'amazon' | 'input' | 'say'>, state: SkillState, allowLogin: boolean): Promise<LwaSession> {
  const save = (lwa: SkillState['lwa']) => {
    state.lwa = lwa;
    writeSkillState(options.dataDir, state);
  };
  const stored = state.lwa;
  const sameProfile = !options.lwaClientId || options.lwaClientId === stored?.clientId;
  if (stored && sameProfile) {
    const session = new LwaSession(stored, options.amazon, save);
    try {
      await session.token();
      options.say('· signed in with the stored Login with Amazon token');
      return session;
    } catch (err) {
      if (!(err instanceof LoginError) || err.code !== 'RELOGIN_NEEDED' || !allowLogin) throw err;
      options.say('· the stored login no longer works: signing in again');
    }
  }
  if (!allowLogin) throw new LoginError('RELOGIN_NEEDED', 'not signed in: run porchlight skill setup first');
  const clientId = options.lwaClientId ?? stored?.clientId;
  const clientSecret = options.lwaClientSecret ?? (sameProfile ? stored?.clientSecret : undefined);
  if (!clientId || !clientSecret) {
    throw new SkillSetupError('NO_SECURITY_PROFILE', 'give the Login with Amazon security profile\'s client id and secret: --lwa-client-id/--lwa-client-secret or LWA_CLIENT_ID/LWA_CLIENT_SECRET (README "Alexa in one command" says where to find them)');
  }
  const tokens = await login({ ...options.amazon, clientId, clientSecret, port: options.callbackPort, say: options.say, ...(options.input && { input: options.input }) });
  save(tokens);
  options.say('✔ signed in to Login with Amazon');
  return new LwaSession(tokens, options.amazon, save);
}

export async function skillSetup(options: SkillSetupOptions): Promise<SkillSetupResult> {
  const { say, dataDir } = options;
  // Everything that can be refused without asking anyone is refused before any change.
  const problem = setupArgumentProblem(options.region, options.bridgeUrl, options.allowInsecureBridge);
  if (problem) throw new SkillSetupError('BAD_ARGUMENTS', problem);
  const region = skillRegion(options.region)!;
  const template = loadManifestTemplate();
  const zip = await skillZip(say);
  const state = readSkillState(dataDir);
  const save = () => writeSkillState(dataDir, state);
  let writes = 0;

  const session = await developerSession(options, state, true);
  const smapi = new SmapiClient({ url: options.amazon.smapiUrl, session, say, ...(options.sleep && { sleep: options.sleep }) });
  const aws = new SkillAws({ region: options.region, ...options.aws }, say, options.sleep);
  try {
    const vendorId = await smapi.vendorId();
    state.vendorId = vendorId;

    // 1. The skill, found by the id remembered, else created without an endpoint.
    let skillId = state.skillId;
    if (skillId && !(await smapi.manifest(skillId))) {
      say(`· skill ${skillId} no longer exists: making a new one`);
      skillId = undefined;
    }
    if (!skillId) {
      skillId = await smapi.createSkill(vendorId, skillManifest(template, region));
      writes++;
      state.skillId = skillId;
      state.created = { ...state.created, skill: skillId };
      save();
      await smapi.waitForManifest(skillId);
      say(`✔ skill porchlight (${skillId}) created`);
    } else {
      say(`· skill porchlight (${skillId}) found`);
    }

    // 2. The function's role, the function, and how it reaches the bridge.
    const role = await aws.ensureRole(options.functionName);
    writes += role.writes;
    if (role.created) {
      state.created = { ...state.created, role: role.arn };
      save();
    }
    const { transport, writes: transportWrites } = await chooseTransport(options, state);
    writes += transportWrites;
    const deployed = await aws.ensureFunction({
      name: options.functionName,
      roleArn: role.arn,
      zip,
      environment: (current) => functionEnvironment(current, transport, options.proxySecret),
    });
    state.region = options.region;
    state.functionName = options.functionName;
    state.functionArn = deployed.arn;
    if (deployed.created) state.created = { ...state.created, function: deployed.arn };
    save();
    writes += deployed.writes;

    // 3. The trigger before the manifest names the function.
    if (await aws.ensureTrigger(options.functionName, skillId)) writes++;

    // 4. The manifest names the function for the region.
    const wanted = skillManifest(template, region, deployed.arn);
    const current = await smapi.manifest(skillId);
    const status = await smapi.manifestStatus(skillId);
    if (!current || !contains(current.manifest, wanted) || status?.status === 'FAILED') {
      await smapi.putManifest(skillId, wanted, current?.eTag);
      writes++;
      await smapi.waitForManifest(skillId);
      say(`✔ manifest: Alexa (${region.alexa}) calls ${deployed.arn}`);
    } else {
      say(`· manifest already names ${deployed.arn}`);
    }

    // 5. Account linking with the user's security profile.
    const { clientId, clientSecret } = state.lwa!;
    const linking = accountLinking(clientId, clientSecret);
    const { clientSecret: _secret, ...shown } = linking;
    const existingLinking = await smapi.accountLinking(skillId);
    if (!existingLinking || !contains(existingLinking, shown) || state.accountLinkingSecret !== secretDigest(clientSecret)) {
      await smapi.putAccountLinking(skillId, linking);
      writes++;
      state.accountLinkingSecret = secretDigest(clientSecret);
      save();
      say('✔ account linking: Login with Amazon with your security profile');
    } else {
      say('· account linking already set');
    }

    // 6. The skill's messaging credentials, for the bridge to send events with.
    const credentials = await smapi.messagingCredentials(skillId);
    if (updateStoredSecrets(dataDir, { alexa: { ...credentials, region: region.alexa } })) {
      writes++;
      say(`✔ the skill's Alexa event credentials written to ${secretsFile(dataDir)}: restart the bridge to use them`);
    } else {
      say('· the bridge already has the skill\'s event credentials');
    }
    if (options.configHasAlexaCredentials) {
      say('! your configuration sets alexa.clientId/clientSecret itself, and wins over secrets.json: remove them from the YAML, or make sure they are this skill\'s (developer console → Permissions → Alexa Skill Messaging)');
    }
    save();

    if (writes === 0) say('Nothing to change: the skill, the function and account linking were already in place.');
    say('');
    say('What only you can do:');
    say('  1. In the Login with Amazon console, your security profile → Web Settings → Allowed Return URLs, add:');
    for (const url of alexaRedirectUrls(vendorId)) say(`       ${url}`);
    say('  2. Alexa app → More → Skills & Games → Your Skills → Dev → porchlight → Enable to use (it links your account).');
    say('Then: porchlight skill status');
    return { skillId, vendorId, functionArn: deployed.arn, writes, secrets: [...session.seenTokens, clientSecret] };
  } finally {
    aws.close();
  }
}

/**
 * How the function reaches the bridge: BRIDGE_URL when given, else the relay through the user's
 * AWS IoT Core (what `porchlight relay setup` makes), stored for the bridge in secrets.json
 * unless the YAML has its own relay: section.
 */
async function chooseTransport(options: SkillSetupOptions, state: SkillState): Promise<{ transport: Transport; writes: number }> {
  if (options.bridgeUrl) return { transport: { kind: 'bridge-url', bridgeUrl: options.bridgeUrl, allowInsecure: options.allowInsecureBridge }, writes: 0 };
  const bridgeId = options.configRelay?.bridgeId ?? readStoredSecrets(options.dataDir).relay?.bridgeId ?? 'home';
  const relay = await relaySetup({
    region: options.region,
    bridgeId,
    dataDir: options.dataDir,
    ...options.iot,
    say: (line) => options.say(`· relay: ${line}`),
  });
  let writes = relay.created.length;
  if (writes > 0) state.created = { ...state.created, relayBridgeId: bridgeId };
  for (const warning of relay.warnings) options.say(`! ${warning}`);
  if (!options.configRelay) {
    const bridgeFiles = relay.bridgeFiles;
    if (updateStoredSecrets(options.dataDir, { relay: { url: `mqtts://${relay.endpoint}:8883`, bridgeId, cert: bridgeFiles.cert, key: bridgeFiles.key } })) {
      writes++;
      options.say(`✔ relay: the bridge dials ${relay.endpoint} (stored in ${secretsFile(options.dataDir)}; restart the bridge)`);
    }
  }
  return { transport: { kind: 'relay', variables: relay.lambdaEnv }, writes };
}
