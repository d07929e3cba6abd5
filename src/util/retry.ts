/**
 * The one backoff everything that retries uses: camera-stream restarts, ONVIF and MQTT event
 * sources, the relay, the event outbox and Amazon's APIs. Exponential from `initialMs` by
 * `factor` up to `maxMs`, an optional jitter, and a server's Retry-After honoured when longer.
 * Pure functions plus one timer class, so tests drive it with fake timers.
 */

export interface Backoff {
  /** Before the first retry. */
  initialMs: number;
  /** No wait is longer (a Retry-After may be). */
  maxMs: number;
  /** Default 2. */
  factor?: number;
  /** 0–1: each wait is shortened by up to this fraction at random (default 0: deterministic). */
  jitter?: number;
}

/** Connections to cameras and brokers: 1 s doubling to 60 s, as a camera reboot or a broker restart needs. */
export const CONNECTION_BACKOFF: Backoff = { initialMs: 1000, maxMs: 60_000 };
/** Alexa's guidance for its event APIs: 1 s doubling to 256 s, then every 256 s. */
export const ALEXA_BACKOFF: Backoff = { initialMs: 1000, maxMs: 256_000 };

/** The wait before retry number `attempt` (1-based: the first retry waits `initialMs`). */
export function backoffDelayMs(attempt: number, backoff: Backoff, random: () => number = Math.random): number {
  const steps = Math.max(0, Math.floor(attempt) - 1);
  const delay = Math.min(backoff.initialMs * (backoff.factor ?? 2) ** steps, backoff.maxMs);
  const jitter = Math.min(1, Math.max(0, backoff.jitter ?? 0));
  return jitter === 0 ? delay : Math.round(delay * (1 - jitter * random()));
}

/** An HTTP Retry-After (delta-seconds or an HTTP date) in ms from `now`; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null | undefined, now: number): number | undefined {
  const text = value?.trim();
  if (!text) return undefined;
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** The wait before retry `attempt` (1-based): the backoff or a longer Retry-After, never past `remainingMs`. */
export function retryWaitMs(attempt: number, backoff: Backoff, retryAfterMs?: number, remainingMs = Number.POSITIVE_INFINITY): number {
  return Math.max(0, Math.min(Math.max(backoffDelayMs(attempt, backoff), retryAfterMs ?? 0), remainingMs));
}

/** A connection up this long is one that works: its backoff starts over. */
export const STABLE_MS = 60_000;

/**
 * Retries one connection with backoff: schedule() after each failure, connected() once it works,
 * cancel() on close. Owns its timers.
 */
export class RetryTimer {
  readonly #backoff: Backoff;
  #attempt = 0;
  #timer: NodeJS.Timeout | undefined;
  #stableTimer: NodeJS.Timeout | undefined;

  constructor(backoff: Backoff = CONNECTION_BACKOFF) {
    this.#backoff = backoff;
  }

  /** Runs `retry` after the next delay (1 s, 2 s, 4 s … up to the maximum), replacing a pending one. */
  schedule(retry: () => void): void {
    clearTimeout(this.#timer);
    clearTimeout(this.#stableTimer);
    this.#stableTimer = undefined;
    this.#attempt += 1;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      retry();
    }, backoffDelayMs(this.#attempt, this.#backoff));
  }

  /** Starts the backoff over at once. */
  reset(): void {
    this.#attempt = 0;
  }

  /**
   * The connection works: the backoff starts over once it has stayed up `stableMs` (then
   * `onStable` runs), not at once — a broker that accepts and then closes got 34 reconnects in
   * 35 s, and two bridges on one client id knocked each other off every second, for ever.
   */
  connected(onStable?: () => void, stableMs = STABLE_MS): void {
    clearTimeout(this.#stableTimer);
    this.#stableTimer = setTimeout(() => {
      this.#stableTimer = undefined;
      this.#attempt = 0;
      onStable?.();
    }, stableMs);
    this.#stableTimer.unref?.();
  }

  cancel(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    clearTimeout(this.#stableTimer);
    this.#stableTimer = undefined;
  }
}
