/** Reconnect delays for event sources: 1 s doubling to 60 s, as a camera reboot or a broker restart needs. */
export const RETRY_INITIAL_MS = 1000;
export const RETRY_MAX_MS = 60_000;

/** The delay before retry number `attempt` (1-based). */
export function retryDelayMs(attempt: number, initialMs = RETRY_INITIAL_MS, maxMs = RETRY_MAX_MS): number {
  return Math.min(initialMs * 2 ** Math.max(0, attempt - 1), maxMs);
}

/** Keys logged already, so a cause repeating every retry is logged once; bounded so a noisy peer cannot grow it. */
export class OncePerCause {
  readonly #seen = new Map<string, number>();
  readonly #max: number;
  readonly #ttlMs: number;
  readonly #now: () => number;
  /**
   * Causes are forgotten after `ttlMs`, and the oldest goes when `max` are remembered: 600
   * publishes to unknown camera ids once filled it for good, and a real camera's problem was then
   * never logged.
   */
  constructor(max = 500, ttlMs = 60_000, now: () => number = Date.now) {
    this.#max = max;
    this.#ttlMs = ttlMs;
    this.#now = now;
  }
  /** True the first time `key` is seen within `ttlMs`. */
  first(key: string): boolean {
    const now = this.#now();
    const seen = this.#seen.get(key);
    if (seen !== undefined && now - seen < this.#ttlMs) return false;
    this.#seen.delete(key);
    this.#seen.set(key, now);
    if (this.#seen.size > this.#max) this.#seen.delete(this.#seen.keys().next().value!);
    return true;
  }
  /** Forget a cause once it is fixed, so its return is logged again. */
  forget(key: string): void {
    this.#seen.delete(key);
  }
  clear(): void {
    this.#seen.clear();
  }
}

/** Retries one connection with backoff: schedule() after each failure, reset() once it works, cancel() on close. */
/** A connection this long up and subscribed is one that works. */
export const STABLE_MS = 60_000;

export class RetryTimer {
  readonly #initialMs: number;
  readonly #maxMs: number;
  #attempt = 0;
  #timer: NodeJS.Timeout | undefined;
  #stableTimer: NodeJS.Timeout | undefined;

  constructor(initialMs = RETRY_INITIAL_MS, maxMs = RETRY_MAX_MS) {
    this.#initialMs = initialMs;
    this.#maxMs = maxMs;
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
    }, retryDelayMs(this.#attempt, this.#initialMs, this.#maxMs));
  }

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
