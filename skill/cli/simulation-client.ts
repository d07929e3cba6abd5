import { setTimeout as delay } from 'node:timers/promises';
import {
  amazonMessage,
  bearerRequest,
  requestId,
  retryAfterMs,
  type AmazonAnswer,
} from '../../src/cloud/amazon-api.ts';
import { retryWaitMs, type Backoff } from '../../src/util/retry.ts';

/**
 * The client behind `npm run simulate` (its command line: simulate.ts): say an utterance to the
 * skill through Amazon's Skill Simulation API and wait for what Alexa answered and what passed
 * between Alexa and the skill. Two versions of the API, the same flow:
 *
 *   v1 (default)  POST {apiUrl}/v1/skills/{skillId}/simulations                 development stage only
 *   v2            POST {apiUrl}/v2/skills/{skillId}/stages/{stage}/simulations  development or live
 *        { session: { mode }, input: { content }, device: { locale } }
 *   → 200 { id, status: IN_PROGRESS, result: null } and a Location header
 *   GET  …/simulations/{id}   until SUCCESSFUL or FAILED
 *
 * Everything with an effect (HTTP, waiting, the clock, output) comes in through options, so the
 * tests drive it against a fake over real HTTP without waiting out any backoff.
 */

export { DEFAULT_API_URL } from '../../src/cloud/amazon-api.ts';

export const SIMULATION_APIS = ['v1', 'v2'] as const;
export type SimulationApi = (typeof SIMULATION_APIS)[number];

/** A simulation usually finishes in a few seconds: poll soon, then back off gently. */
const POLL_FIRST_MS = 1_000;
const POLL_MAX_MS = 5_000;
/** Throttling (429) and 503: 1 s doubling to 32 s; Retry-After when Amazon asks for longer. */
const RETRY_BACKOFF: Backoff = { initialMs: 1_000, maxMs: 32_000 };
/** Retries per request, whatever --timeout allows: a long --timeout must not turn into hammering. */
export const MAX_RETRIES = 6;
/** One hung request must not eat the whole --timeout silently. */
const REQUEST_TIMEOUT_MS = 30_000;

export interface SimulateOptions {
  skillId: string;
  utterance: string;
  locale: string;
  /** v1 simulates the development stage only; v2 takes the stage in the path. */
  api: SimulationApi;
  stage: string;
  newSession: boolean;
  apiUrl: string;
  token: string;
  timeoutMs: number;
  fetch?: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  /** Progress lines for people (stderr in the CLI). */
  log?: (line: string) => void;
}

/** One call of the skill's endpoint, as both versions describe it. */
export interface SkillInvocation {
  invocationRequest?: { endpoint?: string; body?: unknown };
  invocationResponse?: { body?: unknown };
  metrics?: { skillExecutionTimeInMilliseconds?: number };
}

/** The parts of Amazon's SimulationsApiResponse (v1 and v2) this command reads. */
export interface SimulationBody {
  id?: string;
  status?: string;
  result?: {
    alexaExecutionInfo?: { alexaResponses?: Array<{ type?: string; content?: { caption?: string } }> };
    /** v1: the one invocation itself; v2: `{ invocations: [...] }`. */
    skillExecutionInfo?: SkillInvocation & { invocations?: SkillInvocation[] };
    error?: { code?: string; message?: string } | null;
  } | null;
}

/** The skill invocations in a result, whichever version's shape it has. */
export function skillInvocations(body: SimulationBody): SkillInvocation[] {
  const info = body.result?.skillExecutionInfo;
  if (!info) return [];
  if (Array.isArray(info.invocations)) return info.invocations;
  return info.invocationRequest || info.invocationResponse ? [info] : [];
}

export type SimulationOutcome =
  | { ok: true; simulationId: string; body: SimulationBody }
  | { ok: false; message: string; simulationId?: string; httpStatus?: number };

interface Run {
  options: SimulateOptions;
  fetch: typeof fetch;
  sleep: (ms: number) => Promise<void>;
  now: () => number;
  log: (line: string) => void;
  deadline: number;
}

/** The simulations collection of the chosen API version. */
export function simulationsUrl(options: Pick<SimulateOptions, 'api' | 'apiUrl' | 'skillId' | 'stage'>): string {
  const skill = `${options.apiUrl.replace(/\/+$/, '')}/${options.api}/skills/${encodeURIComponent(options.skillId)}`;
  return options.api === 'v1' ? `${skill}/simulations` : `${skill}/stages/${encodeURIComponent(options.stage)}/simulations`;
}

export async function runSimulation(options: SimulateOptions): Promise<SimulationOutcome> {
  const now = options.now ?? Date.now;
  const run: Run = {
    options,
    fetch: options.fetch ?? globalThis.fetch,
    sleep: options.sleep ?? ((ms) => delay(ms)),
    now,
    log: options.log ?? (() => {}),
    deadline: now() + options.timeoutMs,
  };
  const base = simulationsUrl(options);
  const request = {
    session: { mode: options.newSession ? 'FORCE_NEW_SESSION' : 'DEFAULT' },
    input: { content: options.utterance },
    device: { locale: options.locale },
  };

  run.log(`Simulating "${options.utterance}" (${options.locale}) on skill ${options.skillId}, ` +
    `stage ${stageOf(options)}, Simulation API ${options.api}`);
  const created = await call(run, 'POST', base, request);
  if (!created.ok) return created;
  // Amazon names the simulation in the body and in Location; either will do.
  const id = created.body.id ?? lastSegment(created.location);
  if (!id) return { ok: false, message: `Amazon accepted the simulation (HTTP 200) but named no simulation id` };
  run.log(`Simulation ${id} started`);

  let body = created.body;
  for (let poll = 0; ; poll++) {
    if (body.status === 'SUCCESSFUL') return { ok: true, simulationId: id, body };
    if (body.status === 'FAILED') {
      const why = body.result?.error?.message ?? body.result?.error?.code;
      return { ok: false, simulationId: id, message: `Simulation ${id} FAILED${why ? `: ${why}` : ' (Amazon gave no reason)'}` };
    }
    const remaining = run.deadline - run.now();
    if (remaining <= 0) {
      return { ok: false, simulationId: id, message: `Simulation ${id} was still ${body.status ?? 'unfinished'} when --timeout ran out` };
    }
    await run.sleep(Math.min(POLL_FIRST_MS * 1.5 ** poll, POLL_MAX_MS, remaining));
    const answer = await call(run, 'GET', `${base}/${encodeURIComponent(id)}`, undefined, id);
    if (!answer.ok) return answer;
    body = answer.body;
  }
}

type Answer = { ok: true; body: SimulationBody; location?: string } | Extract<SimulationOutcome, { ok: false }>;

/** One logical request, retried on 429 and 503 (and, for the idempotent GET, on other 5xx and network errors). */
async function call(run: Run, method: 'GET' | 'POST', url: string, body: unknown, simulationId?: string): Promise<Answer> {
  for (let attempt = 0; ; attempt++) {
    let answer: AmazonAnswer;
    try {
      answer = await bearerRequest({ fetch: run.fetch, method, url, token: run.options.token, body, timeoutMs: REQUEST_TIMEOUT_MS });
    } catch (err) {
      // A POST that got no answer may have started a simulation: sending it again would only earn a 409.
      const why = `${method} failed: ${networkError(err)}`;
      if (method === 'POST') return { ok: false, message: `${why}. Check your network, then run the command again.` };
      const gaveUp = await backoff(run, attempt, undefined, why);
      if (gaveUp) return { ok: false, simulationId, message: `${why}; ${gaveUp}` };
      continue;
    }
    const { response, body: parsed, text } = answer;
    if (response.ok) {
      return { ok: true, body: (parsed ?? {}) as SimulationBody, location: response.headers.get('location') ?? undefined };
    }

    const said = `HTTP ${response.status}${amazonMessage(parsed, text) ? `: ${amazonMessage(parsed, text)}` : ''}${requestId(response)}`;
    if (response.status === 429 || response.status === 503 || (method === 'GET' && response.status >= 500)) {
      const gaveUp = await backoff(run, attempt, retryAfterMs(response, run.now()), said);
      if (!gaveUp) continue;
      return { ok: false, simulationId, httpStatus: response.status, message: `Amazon kept answering ${said}; ${gaveUp}` };
    }
    return { ok: false, simulationId, httpStatus: response.status, message: explain(run.options, method, response.status, said, attempt, simulationId) };
  }
}

/** Waits before retry `attempt`; or says why there is no retry left (the retry limit, the deadline). */
async function backoff(run: Run, attempt: number, retryAfter: number | undefined, why: string): Promise<string | undefined> {
  if (attempt >= MAX_RETRIES) return `gave up after ${MAX_RETRIES} retries`;
  const remaining = run.deadline - run.now();
  if (remaining <= 0) return 'gave up when --timeout ran out';
  const wait = retryWaitMs(attempt + 1, RETRY_BACKOFF, retryAfter, remaining);
  run.log(`${why}; retrying in ${seconds(wait)}`);
  await run.sleep(wait);
  return undefined;
}

function explain(options: SimulateOptions, method: string, status: number, said: string, attempt: number, simulationId?: string): string {
  const stage = stageOf(options);
  switch (status) {
    case 400:
      return `Amazon refused the simulation request as invalid (${said}). Check --locale (the skill must have that locale) and the utterance.`;
    case 401:
      return `Amazon did not accept the access token (${said}). SMAPI tokens last an hour: get a fresh one ` +
        '(`ask util generate-lwa-tokens`, its access_token) and set ALEXA_ACCESS_TOKEN.';
    case 403:
      return `Amazon refused to simulate skill ${options.skillId} (${said}). The token must belong to the skill's developer ` +
        `account, the skill must be enabled on that account, and testing must be enabled for the ${stage} stage (developer console → Test).`;
    case 404:
      if (method === 'GET') return `Simulation ${simulationId} is gone (${said}); Amazon keeps results for 10 minutes. Run the command again.`;
      return options.api === 'v1'
        ? `Amazon found no skill ${options.skillId} to simulate (${said}). Check --skill-id; Simulation API v1 only simulates ` +
          'the development stage (for the live stage use --api v2 --stage live).'
        : `Amazon found no skill ${options.skillId} in stage ${stage} (${said}). Check --skill-id and --stage.`;
    case 409:
      // Retrying would only meet the same running simulation: say so and stop.
      return `A simulation is already running for this skill (${said}): the Simulation API runs one at a time, so this command ` +
        `did not retry.${method === 'POST' && attempt > 0 ? ' It may be the one an earlier attempt of this command started before Amazon answered.' : ''} ` +
        'Wait for it to finish (the developer console\'s Test tab, another terminal), then run the command again.';
    default:
      return `Unexpected answer to ${method} (${said})`;
  }
}

function stageOf(options: Pick<SimulateOptions, 'api' | 'stage'>): string {
  return options.api === 'v1' ? 'development' : options.stage;
}

function lastSegment(location: string | undefined): string | undefined {
  const segment = location?.split('?')[0]?.split('/').filter(Boolean).pop();
  if (!segment) return undefined;
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function networkError(err: unknown): string {
  const error = err as Error & { cause?: { code?: string } };
  if (error?.name === 'TimeoutError') return `no answer within ${seconds(REQUEST_TIMEOUT_MS)}`;
  return `${error?.message ?? String(err)}${error?.cause?.code ? ` (${error.cause.code})` : ''}`;
}

function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}
