/**
 * What `porchlight relay setup` asks AWS IoT Core for, as data: least-privilege policies for the
 * bridge's and the skill's certificates, the Lambda's environment, the config block, and which
 * Alexa regions a Lambda region serves. Pure.
 */
import { bridgeClientId, directivesTopic } from '../relay/topics.ts';

export type Role = 'bridge' | 'skill';

export interface PolicyDocument {
  Version: '2012-10-17';
  Statement: Array<{ Effect: 'Allow'; Action: string; Resource: string }>;
}

export function policyName(bridgeId: string, role: Role): string {
  return `porchlight-${bridgeId}-${role}`;
}

/** The skill's client ids: `porchlight-<id>-skill-<random>`, one per warm Lambda environment. */
export function skillClientIdPrefix(bridgeId: string): string {
  return `porchlight-${bridgeId}-skill-`;
}

/**
 * The bridge may connect as its one client id, take directives and answer on any skill's reply
 * topic; the skill may connect as a skill client id, send directives and hear only the replies to
 * its own client id (`${iot:ClientId}`): neither can do the other's part, nothing else is open.
 */
export function relayPolicy(role: Role, region: string, account: string, bridgeId: string): PolicyDocument {
  const arn = (kind: string, name: string) => `arn:aws:iot:${region}:${account}:${kind}/${name}`;
  const directives = directivesTopic(bridgeId);
  const allow = (Action: string, Resource: string) => ({ Effect: 'Allow' as const, Action, Resource });
  if (role === 'bridge') {
    return {
      Version: '2012-10-17',
      Statement: [
        allow('iot:Connect', arn('client', bridgeClientId(bridgeId))),
        allow('iot:Subscribe', arn('topicfilter', directives)),
        allow('iot:Receive', arn('topic', directives)),
        allow('iot:Publish', arn('topic', `porchlight/${bridgeId}/replies/*`)),
      ],
    };
  }
  const ownReplies = `porchlight/${bridgeId}/replies/\${iot:ClientId}`;
  return {
    Version: '2012-10-17',
    Statement: [
      allow('iot:Connect', arn('client', `${skillClientIdPrefix(bridgeId)}*`)),
      allow('iot:Publish', arn('topic', directives)),
      allow('iot:Subscribe', arn('topicfilter', ownReplies)),
      allow('iot:Receive', arn('topic', ownReplies)),
    ],
  };
}

/** The account id in an IoT ARN (arn:aws:iot:<region>:<account>:cert/<id>). */
export function accountOf(arn: string): string {
  const account = arn.split(':')[4];
  if (!account || !/^\d{12}$/.test(account)) throw new Error(`no account id in ${arn}`);
  return account;
}

/** Same policy, whatever the key order or spacing AWS returns it in. */
export function samePolicy(a: string, b: PolicyDocument): boolean {
  try {
    return JSON.stringify(JSON.parse(a)) === JSON.stringify(b);
  } catch {
    return false;
  }
}

/** Alexa sends a skill's directives to the Lambda in the region of the skill's locale. */
const ALEXA_REGIONS: Record<string, string> = {
  'us-east-1': 'North America',
  'eu-west-1': 'Europe and India',
  'us-west-2': 'the Far East (Japan, Australia)',
};

/** Which Alexa regions a Lambda in `region` serves, or a warning that it serves none. */
export function alexaRegionCheck(region: string): { serves?: string; warning?: string } {
  const serves = ALEXA_REGIONS[region];
  if (serves) return { serves };
  return {
    warning: `a Lambda in ${region} is never called by Alexa: smart-home skills are served from us-east-1 (North America), eu-west-1 (Europe, India) and us-west-2 (Far East). `
      + 'Deploy the Lambda (and run this setup) in the region of your skill\'s locale, or discovery will find nothing.',
  };
}

/** AWS limits a function's environment to 4 KB (names and values). */
export const LAMBDA_ENV_LIMIT_BYTES = 4096;

export function envBytes(variables: Record<string, string>): number {
  return Object.entries(variables).reduce((sum, [name, value]) => sum + Buffer.byteLength(name) + Buffer.byteLength(value), 0);
}

export function lambdaRelayEnv(endpoint: string, bridgeId: string, certPem: string, keyPem: string): Record<string, string> {
  return { RELAY_URL: `mqtts://${endpoint}:8883`, RELAY_BRIDGE_ID: bridgeId, RELAY_CERT: certPem, RELAY_KEY: keyPem };
}

/** The bridge's config block, paths relative to a config file in the data directory's parent. */
export function relayConfigBlock(endpoint: string, bridgeId: string, certPath: string, keyPath: string): string {
  return ['relay:', `  url: mqtts://${endpoint}:8883`, `  bridgeId: ${bridgeId}`, `  cert: ${certPath}`, `  key: ${keyPath}`, ''].join('\n');
}
