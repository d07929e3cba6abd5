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
