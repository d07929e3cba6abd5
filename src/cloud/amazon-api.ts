import { parseRetryAfter } from '../util/retry.ts';

/**
 * What the two command-line clients of Amazon's REST APIs share: `porchlight discovery-session`
 * (discovery-session.ts, discovery-session-cli.ts) and `npm run simulate`
 * (skill/cli/simulation-client.ts, skill/cli/simulate.ts: a developer tool, never bundled into
 * the Lambda). Bearer-token JSON requests, Amazon's words from an error body, Retry-After (the
 * backoff itself is util/retry.ts), and for the command lines: the access token, durations, output with the token scrubbed.
 * Each client keeps its own limits (backoff cap, timeouts): they come in as arguments.
 */

export const DEFAULT_API_URL = 'https://api.amazonalexa.com';

// ── Requests ─────────────────────────────────────────────────────────────────────────────────

export interface AmazonAnswer {
  response: Response;
  /** The body parsed as JSON, or undefined. */
  body: unknown;
  text: string;
}

export interface BearerRequest {
  fetch: typeof fetch;
  method: 'GET' | 'POST';
  url: string;
  token: string;
  /** Sent as JSON; undefined sends no body. */
  body: unknown;
  /** A request with no answer this long rejects with a TimeoutError. */
  timeoutMs: number;
}

/** One HTTP exchange with the access token as a bearer token, JSON both ways. Network errors reject. */
export async function bearerRequest(request: BearerRequest): Promise<AmazonAnswer> {
  const headers: Record<string, string> = { accept: 'application/json', authorization: `Bearer ${request.token}` };
  if (request.body !== undefined) headers['content-type'] = 'application/json';
  const response = await request.fetch(request.url, {
    method: request.method,
    headers,
    body: request.body === undefined ? undefined : JSON.stringify(request.body),
    signal: AbortSignal.timeout(request.timeoutMs),
  });
  const text = await response.text();
  return { response, body: parseJson(text), text };
}

export function parseJson(text: string): unknown {
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    return undefined;
  }
}

// ── Amazon's answers ─────────────────────────────────────────────────────────────────────────

/**
 * Amazon's own words from an error or status body, whichever of the usual shapes it uses:
 * `{ message }` (with a SMAPI BadRequestError's `violations[].message` after it), the other
 * message fields, a nested `error`, an `errors` list, a bare code; else a short plain-text body.
 */
export function amazonMessage(body: unknown, text: string): string | undefined {
  if (body && typeof body === 'object') {
    const record = body as Record<string, unknown>;
    const direct = stringField(body, 'message', 'errorMessage', 'failureReason', 'statusReason', 'reason', 'description');
    const violations = Array.isArray(record.violations) ? record.violations.map((v) => stringField(v, 'message')) : [];
    const said = [direct, ...violations].filter(Boolean).join('; ');
    if (said) return said;
    const error = record.error ?? record.failure;
    if (typeof error === 'string') return error;
    const nested = stringField(error, 'message', 'errorMessage', 'reason');
    if (nested) return nested;
    if (Array.isArray(record.errors)) {
      const messages = record.errors.map((e) => (typeof e === 'string' ? e : stringField(e, 'message', 'errorMessage'))).filter(Boolean);
      if (messages.length > 0) return messages.join('; ');
    }
    const code = stringField(body, 'code', 'errorCode') ?? stringField(error, 'code', 'type');
    if (code) return code;
  }
  // A proxy's HTML page is noise; a short plain-text body is worth showing.
  const plain = text.trim();
  if (body === undefined && plain && !plain.startsWith('<')) return plain.length > 300 ? `${plain.slice(0, 300)}…` : plain;
  return undefined;
}

/** The first of `keys` that holds a non-empty string in `value`. */
export function stringField(value: unknown, ...keys: string[]): string | undefined {
  if (!value || typeof value !== 'object') return undefined;
  for (const key of keys) {
    const field = (value as Record<string, unknown>)[key];
    if (typeof field === 'string' && field) return field;
  }
  return undefined;
}

/** Amazon support asks for this id. */
export function requestId(response: Response): string {
  const id = response.headers.get('x-amzn-requestid');
  return id ? ` [x-amzn-requestid ${id}]` : '';
}

// ── Retrying ─────────────────────────────────────────────────────────────────────────────────

/** The answer's Retry-After in ms from `now` (backoff itself: util/retry.ts). */
export function retryAfterMs(response: Response, now: number): number | undefined {
  return parseRetryAfter(response.headers.get('retry-after'), now);
}

// ── Command lines ────────────────────────────────────────────────────────────────────────────

/** --token wins over ALEXA_ACCESS_TOKEN; a copied token often carries a trailing newline. */
export function accessToken(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  return (flag ?? env.ALEXA_ACCESS_TOKEN ?? '').trim();
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000 };

/** `90s`, `2m`, `500ms` (and `1h` where `hours` allows it); a bare number is seconds. Undefined unless over 0 ms. */
export function parseDuration(value: string, { hours = false }: { hours?: boolean } = {}): number | undefined {
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|min|h)?$/.exec(value.trim());
  if (!match || (match[2] === 'h' && !hours)) return undefined;
  const ms = Math.round(Number(match[1]) * DURATION_UNITS[match[2] ?? 's']!);
  return ms > 0 ? ms : undefined;
}

/** Tokens are long; a short string would also match inside ordinary text when redacting. */
export const MIN_REDACTED_TOKEN_LENGTH = 8;

/**
 * Line writers for a command's stdout and stderr that scrub the token from every line: nothing
 * formats it on purpose, but Amazon's messages (and a skill's JSON) are not ours.
 */
export function scrubbedOutput(
  io: { stdout: (s: string) => void; stderr: (s: string) => void },
  token: string,
): { out: (line: string) => void; err: (line: string) => void } {
  const scrub = (s: string) => (token.length >= MIN_REDACTED_TOKEN_LENGTH ? s.split(token).join('[token]') : s);
  return {
    out: (line) => io.stdout(`${scrub(line)}\n`),
    err: (line) => io.stderr(`${scrub(line)}\n`),
  };
}

/** The stand-ins a test hands a command (fetch, sleep, now), as client options: only those given. */
export function testDoubles<T extends { fetch?: unknown; sleep?: unknown; now?: unknown }>(io: T): Partial<Pick<T, 'fetch' | 'sleep' | 'now'>> {
  return {
    ...(io.fetch !== undefined && { fetch: io.fetch }),
    ...(io.sleep !== undefined && { sleep: io.sleep }),
    ...(io.now !== undefined && { now: io.now }),
  };
}
