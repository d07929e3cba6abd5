/**
 * `porchlight skill setup|status|remove` from parsed options (src/cli.ts): the configuration, the
 * endpoints (PORCHLIGHT_SMAPI_URL, PORCHLIGHT_LWA_AUTHORIZE_URL, PORCHLIGHT_LWA_TOKEN_URL; AWS
 * through the SDK's own AWS_ENDPOINT_URL…), output with every token and secret scrubbed.
 */
import { resolveConfigPath } from '../config/config-file.ts';
import { loadConfigFile } from '../config/load.ts';
import { withSecrets } from '../config/secrets.ts';
import type { Config } from '../config/schema.ts';
import type { ChecklistItem } from '../cloud/alexa-checklist.ts';
import { MIN_REDACTED_TOKEN_LENGTH } from '../cloud/amazon-api.ts';
import { amazonEndpoints, DEFAULT_CALLBACK_PORT, DEFAULT_FUNCTION_NAME, REGION_CHOICES, setupArgumentProblem, type AmazonEndpoints } from './skill-plan.ts';
import { readSkillState } from './skill-state.ts';

export interface SkillCliIo {
  env: NodeJS.ProcessEnv;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  stdin?: NodeJS.ReadableStream;
}

type Values = Record<string, string | boolean | undefined>;

/** The configuration as the bridge runs it, and whether the YAML itself sets the skill's event credentials. */
function loadConfig(values: Values, env: NodeJS.ProcessEnv): { config: Config; yamlHasAlexaCredentials: boolean } {
  const { config: file, source } = loadConfigFile(resolveConfigPath(values.config as string | undefined, env));
  return { config: withSecrets(file, source), yamlHasAlexaCredentials: Boolean(file.alexa.clientId) };
}

/** Writers that scrub every secret this run knows from every line. */
function scrubbing(io: SkillCliIo, secrets: () => string[]) {
  const scrub = (text: string) => secrets().filter((s) => s && s.length >= MIN_REDACTED_TOKEN_LENGTH).reduce((out, secret) => out.split(secret).join('[redacted]'), text);
  return { out: (line: string) => io.stdout(`${scrub(line)}\n`), err: (line: string) => io.stderr(`${scrub(line)}\n`) };
}

function knownSecrets(config: Config, extra: string[]): string[] {
  const state = readSkillState(config.dataDir);
  return [config.server.proxySecret, config.server.adminToken, config.alexa.clientSecret ?? '', state.lwa?.clientSecret ?? '', state.lwa?.refreshToken ?? '', state.lwa?.accessToken ?? '', ...extra];
}

export async function skillCli(command: 'setup' | 'status' | 'remove', values: Values, io: SkillCliIo): Promise<number> {
  if (command === 'setup') {
    // Refused before anything is read or written.
    const problem = setupUsageProblem(values);
    if (problem) {
      io.stderr(`porchlight skill setup: ${problem}\n`);
      return 2;
    }
  }
  let loaded: ReturnType<typeof loadConfig>;
  try {
    loaded = loadConfig(values, io.env);
  } catch (err) {
    io.stderr(`porchlight skill ${command}: ${(err as Error).message}\n`);
    return 1;
  }
  const { config } = loaded;
  const extra: string[] = [];
  const { out, err } = scrubbing(io, () => knownSecrets(config, extra));
  const amazon = amazonEndpoints(io.env);
  try {
    if (command === 'setup') return await setup(values, io, loaded, amazon, out, extra);
    if (command === 'status') return await status(values, config, amazon, out);
    const { skillRemove } = await import('./skill-remove.ts');
    const result = await skillRemove({ dataDir: config.dataDir, yes: values.yes === true, amazon, say: out });
    return result.removed || result.planned.length === 0 ? 0 : 1;
  } catch (e) {
    err(`porchlight skill ${command}: ${(e as Error).message}`);
    return 1;
  }
}

function setupUsageProblem(values: Values): string | undefined {
  const region = values.region as string | undefined;
  if (!region) return `--region is required: ${REGION_CHOICES}`;
  const port = callbackPort(values);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return '--callback-port must be a port number';
  return setupArgumentProblem(region, values['bridge-url'] as string | undefined, values['allow-insecure-bridge'] === true);
}

function callbackPort(values: Values): number {
  return values['callback-port'] === undefined ? DEFAULT_CALLBACK_PORT : Number(values['callback-port']);
}

async function setup(values: Values, io: SkillCliIo, loaded: ReturnType<typeof loadConfig>, amazon: AmazonEndpoints, out: (line: string) => void, extra: string[]): Promise<number> {
  const { config } = loaded;
  const lwaClientId = (values['lwa-client-id'] as string | undefined) ?? io.env.LWA_CLIENT_ID;
  const lwaClientSecret = (values['lwa-client-secret'] as string | undefined) ?? io.env.LWA_CLIENT_SECRET;
  if (lwaClientSecret) extra.push(lwaClientSecret);
  const { skillSetup } = await import('./skill-setup.ts');
  const result = await skillSetup({
    region: values.region as string,
    dataDir: config.dataDir,
    proxySecret: config.server.proxySecret,
    ...(config.relay && { configRelay: config.relay }),
    configHasAlexaCredentials: loaded.yamlHasAlexaCredentials,
    ...(lwaClientId && { lwaClientId: lwaClientId.trim() }),
    ...(lwaClientSecret && { lwaClientSecret: lwaClientSecret.trim() }),
    callbackPort: callbackPort(values),
    functionName: (values['function-name'] as string | undefined) ?? DEFAULT_FUNCTION_NAME,
    ...(values['bridge-url'] !== undefined && { bridgeUrl: values['bridge-url'] as string }),
    allowInsecureBridge: values['allow-insecure-bridge'] === true,
    amazon,
    ...(io.stdin && { input: io.stdin }),
    say: out,
  });
  extra.push(...result.secrets);
  return 0;
}

async function status(values: Values, config: Config, amazon: AmazonEndpoints, out: (line: string) => void): Promise<number> {
  const { skillStatus } = await import('./skill-status.ts');
  const items = await skillStatus({ config, amazon });
  const ok = items.every((item) => item.ok);
  if (values.json) out(JSON.stringify({ ok, items }, null, 2));
  else for (const line of checklistLines(items)) out(line);
  return ok ? 0 : 1;
}

export function checklistLines(items: ChecklistItem[]): string[] {
  return items.flatMap((item) => [`${item.ok ? '✔' : '✘'} ${item.what}`, ...(item.ok || !item.fix ? [] : [`    → ${item.fix}`])]);
}
