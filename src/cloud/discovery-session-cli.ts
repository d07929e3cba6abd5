import { parseArgs } from 'node:util';
import { accessToken, parseDuration, scrubbedOutput, testDoubles } from './amazon-api.ts';
import {
  DEFAULT_API_URL,
  DEFAULT_POLL_INTERVAL_MS,
  DEFAULT_TIMEOUT_MS,
  runDiscoverySession,
  type DiscoverySessionOptions,
  type DiscoverySessionResult,
} from './discovery-session.ts';

/**
 * The command line of `porchlight discovery-session` (src/main.ts hands it its arguments): parses
 * and checks them, runs the session (discovery-session.ts) and prints the outcome, the token
 * scrubbed from every line.
 */

export const DISCOVERY_SESSION_USAGE = `usage: porchlight discovery-session --unit <unitId> --skill-id <skillId> [options]
Asks Alexa to discover the unit's endpoints again through the skill (Alexa Smart Properties
Discovery Session API) and waits for the session to finish.
  --unit ID               the unit, amzn1.alexa.unit.did.…
  --skill-id ID           the smart-home skill, amzn1.ask.skill.…
  --stage STAGE           LIVE (default) or DEVELOPMENT
  --api-url URL           default ${DEFAULT_API_URL}; EU https://api.eu.amazonalexa.com,
                          FE https://api.fe.amazonalexa.com
  --token TOKEN           Login with Amazon access token. Prefer the ALEXA_ACCESS_TOKEN environment
                          variable: other users can read a command line.
  --timeout DURATION      give up after this long (default 30m; 90s, 30m, 1h; a bare number is seconds)
  --poll-interval DURATION  between status checks when Amazon sends no Retry-After (default 2s)
Exit status: 0 SUCCESS, 1 the session failed or could not be created, 2 usage error.`;

export function parseDiscoverySessionArgs(
  argv: string[],
  env: NodeJS.ProcessEnv,
): { options: Omit<DiscoverySessionOptions, 'fetch' | 'sleep' | 'now' | 'log'> } | { error: string; usage: string } {
  const usageError = (error: string) => ({ error, usage: DISCOVERY_SESSION_USAGE });
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        unit: { type: 'string' },
        'skill-id': { type: 'string' },
        stage: { type: 'string' },
        'api-url': { type: 'string' },
        token: { type: 'string' },
        timeout: { type: 'string' },
        'poll-interval': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    return usageError((err as Error).message);
  }
  const { values } = parsed;
  // main.ts may hand over its whole argv or just what follows the command name.
  const positionals = parsed.positionals[0] === 'discovery-session' ? parsed.positionals.slice(1) : parsed.positionals;
  if (positionals.length > 0) return usageError(`unexpected argument "${positionals[0]}"`);
  if (values.help) return usageError('');

  const unit = values.unit?.trim();
  if (!unit) return usageError('--unit is required');
  const skillId = values['skill-id']?.trim();
  if (!skillId) return usageError('--skill-id is required');
  const stage = (values.stage ?? 'LIVE').trim().toUpperCase();
  if (stage !== 'LIVE' && stage !== 'DEVELOPMENT') return usageError(`--stage must be LIVE or DEVELOPMENT, not "${values.stage}"`);
  const apiUrl = (values['api-url'] ?? DEFAULT_API_URL).trim();
  if (!isHttpUrl(apiUrl)) return usageError(`--api-url must be an http(s) URL, not "${apiUrl}"`);
  const token = accessToken(values.token, env);
  if (!token) return usageError('an access token is required: set ALEXA_ACCESS_TOKEN (or pass --token)');
  const timeoutMs = values.timeout === undefined ? DEFAULT_TIMEOUT_MS : parseDuration(values.timeout, { hours: true });
  if (timeoutMs === undefined) return usageError(`--timeout must be a duration like 90s, 30m or 1h, not "${values.timeout}"`);
  const pollIntervalMs = values['poll-interval'] === undefined ? DEFAULT_POLL_INTERVAL_MS : parseDuration(values['poll-interval'], { hours: true });
  if (pollIntervalMs === undefined) return usageError(`--poll-interval must be a duration like 2s, not "${values['poll-interval']}"`);

  return { options: { unit, skillId, stage, apiUrl, token, timeoutMs, pollIntervalMs } };
}

export interface DiscoverySessionCliIo {
  env: NodeJS.ProcessEnv;
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  /** For tests: passed through to runDiscoverySession. */
  fetch?: typeof fetch;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  now?: () => number;
}

/** Runs the command; returns the exit code (0 SUCCESS, 1 failure, 2 usage). Never prints the token. */
export async function discoverySessionCli(argv: string[], io: DiscoverySessionCliIo): Promise<number> {
  const parsed = parseDiscoverySessionArgs(argv, io.env);
  if ('error' in parsed) {
    if (!parsed.error) {
      io.stdout(`${parsed.usage}\n`);
      return 0;
    }
    io.stderr(`porchlight discovery-session: ${parsed.error}\n${parsed.usage}\n`);
    return 2;
  }
  const { options } = parsed;
  const { out, err } = scrubbedOutput(io, options.token);

  let result: DiscoverySessionResult;
  try {
    result = await runDiscoverySession({ ...options, log: err, ...testDoubles(io) });
  } catch (e) {
    err(`porchlight discovery-session: ${(e as Error).message}`);
    return 1;
  }
  if (result.status === 'SUCCESS') {
    out(`Discovery session ${result.sessionId} for unit ${options.unit}: SUCCESS`);
    return 0;
  }
  err(`Discovery session failed (${result.code}): ${result.reason}`);
  return 1;
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'https:' || url.protocol === 'http:';
  } catch {
    return false;
  }
}
