import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { accessToken, parseDuration, scrubbedOutput, testDoubles } from '../../src/cloud/amazon-api.ts';
import { storedSkillAccess } from '../../src/skill-setup/stored-access.ts';
import {
  DEFAULT_API_URL,
  MAX_RETRIES,
  runSimulation,
  SIMULATION_APIS,
  skillInvocations,
  type SimulateOptions,
  type SimulationApi,
  type SimulationBody,
  type SimulationOutcome,
} from './simulation-client.ts';

/**
 * `npm run simulate`: say an utterance to the skill from a terminal. Parses and checks the
 * arguments, runs the simulation (simulation-client.ts) and prints Alexa's answer and the skill's
 * request and response, the token scrubbed from every line.
 */

export const DEFAULT_TIMEOUT_MS = 120_000;
export const DEFAULT_LOCALE = 'en-US';
export const DEFAULT_STAGE = 'development';
/** The seed contract names Skill Simulation API v1; v2 stays for what v1 cannot do (the live stage). */
export const DEFAULT_API: SimulationApi = 'v1';

export const SIMULATE_USAGE = `usage: npm run simulate -- --skill-id <skillId> [options] "<utterance>"
Says the utterance to the skill through Amazon's Skill Simulation API and prints Alexa's answer
and the skill's request and response.
  --skill-id ID        the skill, amzn1.ask.skill.…
  --api VERSION        which Skill Simulation API (default ${DEFAULT_API}):
                         v1  POST /v1/skills/{skillId}/simulations: the development stage only
                         v2  POST /v2/skills/{skillId}/stages/{stage}/simulations: development
                             or live (--stage), for skills that need it
  --stage STAGE        with --api v2: development (default) or live
  --locale LOCALE      the simulated device's locale (default ${DEFAULT_LOCALE})
  --new-session        start a new session (FORCE_NEW_SESSION) instead of the default behaviour
  --api-url URL        default ${DEFAULT_API_URL}
  --token TOKEN        SMAPI access token (Login with Amazon). Prefer the ALEXA_ACCESS_TOKEN
                       environment variable: other users can read a command line.
  --timeout DURATION   give up after this long (default 2m; 90s, 2m; a bare number is seconds)
  --config FILE        after porchlight skill setup: its stored login and skill id are used when
                       no token or --skill-id is given (the bridge's config; PORCHLIGHT_CONFIG)
429 (throttled) and 503 are retried with backoff, honouring Retry-After, at most ${MAX_RETRIES} times; 409
(a simulation is already running for this skill) is not: wait for it, then run the command again.
Exit status: 0 SUCCESSFUL, 1 the simulation failed or could not run, 2 usage error.`;

export type ParsedSimulateArgs =
  | { options: Omit<SimulateOptions, 'fetch' | 'sleep' | 'now' | 'log'> }
  | { help: true }
  | { error: string };

export function parseSimulateArgs(argv: string[], env: NodeJS.ProcessEnv): ParsedSimulateArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        'skill-id': { type: 'string' },
        locale: { type: 'string' },
        'new-session': { type: 'boolean' },
        api: { type: 'string' },
        stage: { type: 'string' },
        'api-url': { type: 'string' },
        token: { type: 'string' },
        timeout: { type: 'string' },
        config: { type: 'string', short: 'c' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    return { error: (err as Error).message };
  }
  const { values, positionals } = parsed;
  if (values.help) return { help: true };

  const skillId = values['skill-id']?.trim();
  if (!skillId) return { error: '--skill-id is required' };
  // `npm run simulate -- --skill-id … show the front door` (unquoted) means the same as quoted.
  const utterance = positionals.join(' ').trim();
  if (!utterance) return { error: 'say what to simulate, e.g. "show the front door"' };
  const locale = (values.locale ?? DEFAULT_LOCALE).trim();
  if (!/^[a-z]{2}-[A-Z]{2}$/.test(locale)) return { error: `--locale must look like en-US, not "${values.locale}"` };
  const api = (values.api ?? DEFAULT_API).trim().toLowerCase() as SimulationApi;
  if (!SIMULATION_APIS.includes(api)) return { error: `--api must be v1 or v2, not "${values.api}"` };
  const stage = (values.stage ?? DEFAULT_STAGE).trim().toLowerCase();
  if (stage !== 'development' && stage !== 'live') return { error: `--stage must be development or live, not "${values.stage}"` };
  // v1 has no stage in its path: quietly simulating development when live was asked for would mislead.
  if (api === 'v1' && stage !== 'development') return { error: `--stage ${stage} needs --api v2 (Simulation API v1 simulates the development stage only)` };
  const apiUrl = (values['api-url'] ?? DEFAULT_API_URL).trim();
  if (!/^https?:\/\/[^/]/.test(apiUrl)) return { error: `--api-url must be an http(s) URL, not "${apiUrl}"` };
  const token = accessToken(values.token, env);
  if (!token) return { error: 'an SMAPI access token is required: run porchlight skill setup (its login is then used), or set ALEXA_ACCESS_TOKEN (or pass --token)' };
  const timeoutMs = values.timeout === undefined ? DEFAULT_TIMEOUT_MS : parseDuration(values.timeout);
  if (timeoutMs === undefined) return { error: `--timeout must be a duration like 90s or 2m, not "${values.timeout}"` };

  return { options: { skillId, utterance, locale, api, stage, newSession: values['new-session'] ?? false, apiUrl, token, timeoutMs } };
}

export interface SimulateCliIo {
  env: NodeJS.ProcessEnv;
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  /** For tests: passed through to runSimulation. */
  fetch?: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

/** Runs the command; returns the exit code. Never prints the token. */
export async function simulateCli(argv: string[], io: SimulateCliIo): Promise<number> {
  let env = io.env;
  const given = (flag: string) => argv.some((a) => a === flag || a.startsWith(`${flag}=`));
  const help = argv.includes('--help') || argv.includes('-h');
  if (!help && ((!given('--token') && !accessToken(undefined, env)) || !given('--skill-id'))) {
    // After `porchlight skill setup`: its stored login and skill id.
    try {
      const configAt = argv.indexOf('--config');
      const stored = await storedSkillAccess(configAt >= 0 ? argv[configAt + 1] : undefined, env);
      if (stored) {
        if (!accessToken(undefined, env)) env = { ...env, ALEXA_ACCESS_TOKEN: stored.token };
        if (stored.skillId && !given('--skill-id')) argv = ['--skill-id', stored.skillId, ...argv];
      }
    } catch (e) {
      io.stderr(`simulate: the login stored by porchlight skill setup did not work: ${(e as Error).message}\n`);
      return 1;
    }
  }
  const parsed = parseSimulateArgs(argv, env);
  if ('help' in parsed) {
    io.stdout(`${SIMULATE_USAGE}\n`);
    return 0;
  }
  if ('error' in parsed) {
    io.stderr(`simulate: ${parsed.error}\n${SIMULATE_USAGE}\n`);
    return 2;
  }
  const { options } = parsed;
  const { out, err } = scrubbedOutput(io, options.token);

  let outcome: SimulationOutcome;
  try {
    outcome = await runSimulation({ ...options, log: err, ...testDoubles(io) });
  } catch (e) {
    err(`simulate: ${(e as Error).message}`);
    return 1;
  }
  if (!outcome.ok) {
    err(`simulate: ${outcome.message}`);
    return 1;
  }
  printResult(outcome.body, out);
  return 0;
}

function printResult(body: SimulationBody, out: (s: string) => void): void {
  const captions = (body.result?.alexaExecutionInfo?.alexaResponses ?? [])
    .map((r) => r.content?.caption)
    .filter((c): c is string => typeof c === 'string');
  if (captions.length === 0) out('Alexa said nothing.');
  for (const caption of captions) out(`Alexa said: "${caption}"`);

  const invocations = skillInvocations(body);
  if (invocations.length === 0) {
    // Amazon documents the skill I/O for custom skills; for a smart-home skill the bridge log is the witness.
    out('Amazon reported no skill invocation: the skill was not called, or Amazon did not show the call (check the bridge log).');
  }
  invocations.forEach((invocation, i) => {
    const n = invocations.length > 1 ? ` ${i + 1}` : '';
    const ms = invocation.metrics?.skillExecutionTimeInMilliseconds;
    const where = invocation.invocationRequest?.endpoint;
    out(`\nSkill request${n}${where ? ` (to ${where})` : ''}:`);
    out(JSON.stringify(redactTokens(invocation.invocationRequest?.body), null, 2) ?? '(none)');
    out(`\nSkill response${n}${ms !== undefined ? ` (${ms} ms)` : ''}:`);
    out(JSON.stringify(redactTokens(invocation.invocationResponse?.body), null, 2) ?? '(none)');
  });
}

/** The directive's `scope.token` is the linked account's access token: useful to no reader of this output. */
function redactTokens(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactTokens);
  if (!value || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).map(([key, v]) =>
    [key, key === 'token' && typeof v === 'string' ? '[redacted]' : redactTokens(v)]));
}

/** `import.meta.main` exists from Node 24.2; on an older Node the script's path tells. */
function isEntry(): boolean {
  const main = (import.meta as { main?: boolean }).main;
  if (typeof main === 'boolean') return main;
  try {
    return !!process.argv[1] && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntry()) {
  process.exitCode = await simulateCli(process.argv.slice(2), {
    env: process.env,
    stdout: (s) => process.stdout.write(s),
    stderr: (s) => process.stderr.write(s),
  });
}
