import type { AlexaEvent } from '../alexa/messages.ts';
import { parseRetryAfter } from '../util/retry.ts';

/** Alexa's event gateway: one POST per event, the outcome sorted into what the outbox must do. */

export const EVENT_GATEWAYS = {
  NA: 'https://api.amazonalexa.com/v3/events',
  EU: 'https://api.eu.amazonalexa.com/v3/events',
  FE: 'https://api.fe.amazonalexa.com/v3/events',
} as const;

export type SendOutcome =
  | { kind: 'accepted' }
  /** The access token is not (or no longer) valid: refresh it and try again. */
  | { kind: 'unauthorized'; reason: string }
  /** The user disabled the skill or revoked its permission: nothing will work until re-linked. */
  | { kind: 'forbidden'; reason: string }
  /** Throttled, gateway trouble or no network: try again later. */
  | { kind: 'retry'; reason: string; retryAfterMs?: number }
  /** Alexa refuses this event itself (400, 413…): retrying it cannot help. */
  | { kind: 'rejected'; reason: string };

const TIMEOUT_MS = 10_000;

/** `cancel` aborts the request (shutdown); the outcome is then a retry, like any lost request. */
export async function postEvent(url: string, event: AlexaEvent, accessToken: string, timeoutMs: number = TIMEOUT_MS, cancel?: AbortSignal): Promise<SendOutcome> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${accessToken}` },
      body: JSON.stringify(event),
      signal: cancel ? AbortSignal.any([cancel, AbortSignal.timeout(timeoutMs)]) : AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    const cause = (err as Error & { cause?: { code?: string } }).cause?.code;
    return { kind: 'retry', reason: `the event gateway could not be reached (${cause ?? (err as Error).name})` };
  }
  if (response.ok) {
    await response.body?.cancel();
    return { kind: 'accepted' };
  }
  const reason = `${response.status} ${await errorCode(response)}`.trim();
  if (response.status === 401) return { kind: 'unauthorized', reason };
  if (response.status === 403) return { kind: 'forbidden', reason };
  if (response.status === 429 || response.status >= 500) {
    const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'), Date.now());
    return { kind: 'retry', reason, ...(retryAfterMs !== undefined && { retryAfterMs }) };
  }
  return { kind: 'rejected', reason };
}

/** Amazon's error body: `{ header, payload: { code, description } }`; anything else is ignored. */
async function errorCode(response: Response): Promise<string> {
  const text = await response.text().catch(() => '');
  try {
    const payload = (JSON.parse(text) as { payload?: { code?: unknown; description?: unknown } }).payload;
    return [payload?.code, payload?.description].filter((part) => typeof part === 'string').join(': ');
  } catch {
    return '';
  }
}

