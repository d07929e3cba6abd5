import { setTimeout as delay } from 'node:timers/promises';
import {
  amazonMessage,
  bearerRequest,
  requestId,
  retryAfterMs,
  stringField,
  type AmazonAnswer,
} from './amazon-api.ts';
import { ALEXA_BACKOFF, backoffDelayMs, retryWaitMs } from '../util/retry.ts';

/**
 * The client behind `porchlight discovery-session` (its command line: discovery-session-cli.ts):
 * ask Alexa (Alexa Smart Properties Discovery Session API) to discover a unit's endpoints again
 * through the skill, and wait for the answer.
 *
 *   POST {apiUrl}/v1/discoverySessions?unit={unitId}      (the unit is a query parameter)
 *        { "endpointReporter": { "type": "SKILL", "value": { "skillId", "skillStage" } } }
 *   → 2xx + Location: /v1/discoverySessions/amzn1.alexa.discoverySession.{id}  (valid for 1 hour)
 *   GET  {Location} until its `status` leaves IN_PROGRESS.
 *
 * Everything the process does (HTTP, waiting, the clock, output) comes in through options, so
 * tests drive it against a fake over real HTTP without waiting out real backoff.
 */

export { DEFAULT_API_URL } from './amazon-api.ts';
export const DEFAULT_TIMEOUT_MS = 30 * 60_000;
/** Amazon documents no polling interval for this API; 2 s is gentle, a session takes seconds. */
export const DEFAULT_POLL_INTERVAL_MS = 2_000;
/** One request that hangs this long counts as a network error (and is retried). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

export interface DiscoverySessionOptions {
  unit: string;
  skillId: string;
  stage: 'LIVE' | 'DEVELOPMENT';
  apiUrl: string;
  token: string;
  timeoutMs?: number;
  pollIntervalMs?: number;
  requestTimeoutMs?: number;
  fetch?: typeof fetch;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  now?: () => number;
  /** Progress lines for people. */
  log?: (line: string) => void;
}

export type DiscoverySessionFailureCode =
  'FAILED' | 'CONFLICT' | 'BAD_REQUEST' | 'UNAUTHORIZED' | 'FORBIDDEN' | 'NOT_FOUND' | 'UNAVAILABLE' | 'TIMEOUT' | 'NETWORK';

export type DiscoverySessionResult =
  | { status: 'SUCCESS'; sessionId: string; body: unknown }
  | { status: 'FAILURE'; sessionId?: string; reason: string; httpStatus?: number; code: DiscoverySessionFailureCode };

type Failure = Extract<DiscoverySessionResult, { status: 'FAILURE' }>;

/** Wait before retry number `attempt` (0-based) after a 429, 5xx or network error: 1 s doubling to 256 s, then 256 s. */
export function retryDelayMs(attempt: number): number {
  return backoffDelayMs(attempt + 1, ALEXA_BACKOFF);
}

// The docs name IN_PROGRESS, SUCCESS and FAILURE; the synonyms cost nothing and keep a renamed
// value from turning into a 30-minute wait.
const SUCCEEDED = new Set(['SUCCESS', 'SUCCEEDED', 'SUCCESSFUL', 'COMPLETED']);
const FAILED = new Set(['FAILURE', 'FAILED', 'ERROR', 'CANCELLED', 'CANCELED', 'EXPIRED', 'TIMED_OUT']);

interface Run {
  options: DiscoverySessionOptions;
  fetch: typeof fetch;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  now: () => number;
  log: (line: string) => void;
  deadline: number;
  startedAt: number;
}

export async function runDiscoverySession(options: DiscoverySessionOptions): Promise<DiscoverySessionResult> {
  const now = options.now ?? Date.now;
  const startedAt = now();
  const run: Run = {
    options,
    fetch: options.fetch ?? globalThis.fetch,
    sleep: options.sleep ?? ((ms, signal) => delay(ms, undefined, { signal })),
    now,
    log: options.log ?? (() => {}),
    deadline: startedAt + (options.timeoutMs ?? DEFAULT_TIMEOUT_MS),
    startedAt,
  };
  const base = options.apiUrl.replace(/\/+$/, '');
  const createUrl = `${base}/v1/discoverySessions?unit=${encodeURIComponent(options.unit)}`;
  const body = { endpointReporter: { type: 'SKILL', value: { skillId: options.skillId, skillStage: options.stage } } };

  run.log(`Creating a discovery session for unit ${options.unit} (skill ${options.skillId}, ${options.stage}) at ${base}`);
  const tries = { retried: false };
  const created = await request(run, 'POST', createUrl, body, undefined, tries);
  if ('status' in created) {
    // POST is not idempotent: an attempt that timed out may have created the session that this
    // 409 names. Following it is what the person wanted; a 409 on the first try is someone else's.
    if (created.code === 'CONFLICT' && tries.retried && created.sessionId) {
      run.log(`A retried POST found session ${created.sessionId} in progress (probably created by the attempt that got no answer); following it`);
      return poll(run, `${base}/v1/discoverySessions/${encodeURIComponent(created.sessionId)}`, created.sessionId);
    }
    return created;
  }

  const where = sessionLocation(created, base);
  if (!where) {
    return failure('FAILED', `Amazon accepted the request (HTTP ${created.response.status}) but gave no Location to follow${requestId(created.response)}`,
      { httpStatus: created.response.status });
  }
  const { url: sessionUrl, sessionId } = where;
  run.log(`Discovery session ${sessionId} created (HTTP ${created.response.status}); waiting for it to finish`);
  return poll(run, sessionUrl, sessionId);
}

async function poll(run: Run, sessionUrl: string, sessionId: string): Promise<DiscoverySessionResult> {
  let lastStatus: string | undefined;
  for (;;) {
    const answer = await request(run, 'GET', sessionUrl, undefined, sessionId);
    if ('status' in answer) return answer;
    const status = statusOf(answer.body);
    if (status && SUCCEEDED.has(status)) {
      run.log(`Discovery session ${sessionId}: ${status} after ${duration(run.now() - run.startedAt)}`);
      return { status: 'SUCCESS', sessionId, body: answer.body };
    }
    if (status && FAILED.has(status)) {
      const why = amazonMessage(answer.body, answer.text);
      return failure('FAILED', `Alexa reported ${status} for discovery session ${sessionId}${why ? `: ${why}` : ''}${requestId(answer.response)}`,
        { sessionId });
    }
    if (status !== lastStatus) run.log(`Discovery session ${sessionId}: ${status ?? 'answer without a status'}`);
    lastStatus = status;

    const remaining = run.deadline - run.now();
    if (remaining <= 0) {
      return failure('TIMEOUT', `discovery session ${sessionId} was still ${lastStatus ?? 'unfinished'} after ${duration(run.now() - run.startedAt)}; ` +
        'Alexa may still finish it: run the command again later (a new session answers 409 while this one is in progress)', { sessionId });
    }
    const wait = retryAfterMs(answer.response, run.now()) ?? run.options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
    await run.sleep(Math.min(wait, remaining));
  }
}

/**
 * One logical request: retried on 429, 5xx other than 503, and network errors (a hung request
 * included), with retryDelayMs backoff (or a longer Retry-After) until the overall deadline.
 * Returns the 2xx answer, or the failure to report.
 */
async function request(
  run: Run, method: 'GET' | 'POST', url: string, body: unknown, sessionId: string | undefined, tries = { retried: false },
): Promise<AmazonAnswer | Failure> {
  for (let attempt = 0; ; attempt++) {
    tries.retried = attempt > 0;
    const outcome = await tryOnce(run, method, url, body);
    if (!('transient' in outcome)) {
      if (outcome.response.ok) return outcome;
      return httpFailure(run, method, outcome, sessionId);
    }
    if (outcome.permanent) return failure('NETWORK', `${method} ${pathOf(url)} failed: ${outcome.transient}`, { sessionId });
    const remaining = run.deadline - run.now();
    if (remaining <= 0) {
      return failure(outcome.code, `gave up after ${duration(run.now() - run.startedAt)} of retries (--timeout); the last ${method} got ${outcome.transient}`,
        { sessionId, httpStatus: outcome.httpStatus });
    }
    const wait = retryWaitMs(attempt + 1, ALEXA_BACKOFF, outcome.retryAfter, remaining);
    run.log(`${method} ${pathOf(url)}: ${outcome.transient}; retrying in ${duration(wait)}`);
    await run.sleep(wait);
  }
}

interface Transient {
  transient: string;
  code: 'NETWORK' | 'UNAVAILABLE';
  /** Retrying cannot help (a certificate problem, a port fetch refuses): report it now. */
  permanent?: boolean;
  httpStatus?: number;
  retryAfter?: number | undefined;
}

/** One HTTP exchange: a final answer (2xx or an error not worth retrying), or a transient failure. */
async function tryOnce(run: Run, method: 'GET' | 'POST', url: string, body: unknown): Promise<AmazonAnswer | Transient> {
  let answer: AmazonAnswer;
  try {
    answer = await bearerRequest({
      fetch: run.fetch, method, url, token: run.options.token, body,
      timeoutMs: run.options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
    });
  } catch (err) {
    return { transient: networkError(err, run), code: 'NETWORK', permanent: permanentNetworkError(err) };
  }
  const { response } = answer;
  if (response.ok || !retryable(response.status)) return answer;
  const why = amazonMessage(answer.body, answer.text);
  return {
    transient: `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}${why ? `: ${why}` : ''}${requestId(response)}`,
    code: 'UNAVAILABLE',
    httpStatus: response.status,
    retryAfter: retryAfterMs(response, run.now()),
  };
}

/**
 * 503 is reported, not retried: the issue lists it with the errors a person should see at once,
 * rather than behind half an hour of silent retries.
 */
function retryable(status: number): boolean {
  return status === 429 || (status >= 500 && status !== 503);
}

function httpFailure(run: Run, method: string, answer: AmazonAnswer, sessionId: string | undefined): Failure {
  const { response, body, text } = answer;
  const status = response.status;
  const amazon = amazonMessage(body, text);
  const said = `(HTTP ${status}${amazon ? `: ${amazon}` : ''})${requestId(response)}`;
  const unit = run.options.unit;
  const extra = { sessionId, httpStatus: status };
  switch (status) {
    case 400:
      return failure('BAD_REQUEST', `Amazon refused the request as invalid ${said}. ` +
        'Check --unit (amzn1.alexa.unit.did.…), --skill-id (amzn1.ask.skill.…) and --stage (LIVE or DEVELOPMENT).', extra);
    case 401:
      return failure('UNAUTHORIZED', `Amazon did not accept the access token ${said}. ` +
        'Get a fresh Login with Amazon access token (they last an hour) and pass it in ALEXA_ACCESS_TOKEN.', extra);
    case 403:
      return failure('FORBIDDEN', `The access token may not do this ${said}. ` +
        'Check that it belongs to the Alexa Smart Properties organization that owns the unit, and that the skill is enabled for the unit.', extra);
    case 404:
      return failure('NOT_FOUND', method === 'GET'
        ? `Discovery session ${sessionId} was not found ${said}. Its Location is valid for an hour after creation; run the command again.`
        : `Not found ${said}. Check --unit ${unit} and that --api-url is your organization's region ` +
          '(https://api.amazonalexa.com NA, https://api.eu.amazonalexa.com EU, https://api.fe.amazonalexa.com FE).', extra);
    case 409: {
      const running = sessionId ?? inProgressSessionId(body, text, response);
      return failure('CONFLICT', `A discovery session is already in progress for unit ${unit}${running ? `: ${running}` : ''} ${said}. ` +
        'Wait for it to finish, then run this command again.', { ...extra, sessionId: running });
    }
    case 503:
      return failure('UNAVAILABLE', `Amazon's discovery service is unavailable ${said}. Try again later.`, extra);
    default:
      return failure('FAILED', `Unexpected answer to ${method} ${pathOf(response.url || '')} ${said}`, extra);
  }
}

function failure(code: DiscoverySessionFailureCode, reason: string, extra: { sessionId?: string | undefined; httpStatus?: number | undefined } = {}): Failure {
  const result: Failure = { status: 'FAILURE', code, reason };
  if (extra.sessionId !== undefined) result.sessionId = extra.sessionId;
  if (extra.httpStatus !== undefined) result.httpStatus = extra.httpStatus;
  return result;
}

/** The Location to poll, resolved against apiUrl; the docs' example shows it quoted, so quotes go. */
function sessionLocation(answer: AmazonAnswer, base: string): { url: string; sessionId: string } | undefined {
  let location = answer.response.headers.get('location')?.trim().replace(/^"(.*)"$/, '$1');
  if (!location) {
    // Not documented, but a body naming the session is as good as a Location.
    const id = stringField(answer.body, 'id', 'discoverySessionId', 'sessionId');
    if (!id) return undefined;
    location = `/v1/discoverySessions/${encodeURIComponent(id)}`;
  }
  const url = new URL(location, `${base}/`);
  const last = url.pathname.split('/').filter(Boolean).pop() ?? '';
  return { url: url.href, sessionId: decodeURIComponent(last) };
}

function statusOf(body: unknown): string | undefined {
  const status = stringField(body, 'status', 'discoverySessionStatus', 'state');
  return status?.toUpperCase();
}

/** The in-progress session a 409 names, wherever the body or headers put it. */
function inProgressSessionId(body: unknown, text: string, response: Response): string | undefined {
  const named = stringField(body, 'id', 'discoverySessionId', 'sessionId', 'existingSessionId', 'inProgressSessionId');
  if (named) return named;
  const location = response.headers.get('location');
  return (`${location ?? ''} ${text}`).match(/amzn1\.alexa\.discoverySession\.[\w.-]+/)?.[0];
}

function networkError(err: unknown, run: Run): string {
  const error = err as Error & { cause?: { code?: string; message?: string } };
  if (error?.name === 'TimeoutError') return `no answer within ${duration(run.options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS)}`;
  const cause = error?.cause;
  const detail = cause?.code ?? cause?.message;
  return `network error: ${error?.message ?? String(err)}${detail && detail !== error?.message ? ` (${detail})` : ''}`;
}

function permanentNetworkError(err: unknown): boolean {
  const cause = (err as { cause?: { code?: unknown; message?: unknown } })?.cause;
  const code = typeof cause?.code === 'string' ? cause.code : '';
  return cause?.message === 'bad port' || code === 'ERR_INVALID_URL' ||
    /^(CERT_|ERR_TLS_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED|SELF_SIGNED_CERT|HOSTNAME_MISMATCH|ERR_SSL_)/.test(code);
}

function pathOf(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.pathname}${parsed.search}`;
  } catch {
    return url;
  }
}

function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  return seconds % 60 ? `${minutes} min ${seconds % 60} s` : `${minutes} min`;
}
