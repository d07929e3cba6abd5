import type { Logger } from 'pino';

/**
 * A warning that may come thousands of times a second (an unsigned request, a wrong token, a
 * refused connection) is written once per key per interval, with how many times it happened:
 * noise from the network cannot flood the log or hide what matters in it.
 */
export class SampledLog {
  readonly #log: Logger;
  readonly #intervalMs: number;
  readonly #now: () => number;
  readonly #keys = new Map<string, { loggedAt: number; suppressed: number }>();
  readonly #maxKeys: number;

  constructor(log: Logger, intervalMs = 60_000, options: { now?: () => number; maxKeys?: number } = {}) {
    this.#log = log;
    this.#intervalMs = intervalMs;
    this.#now = options.now ?? Date.now;
    this.#maxKeys = options.maxKeys ?? 1000;
  }

  /** Logs at warn now, or counts the occurrence to report with the next line for this key. */
  warn(key: string, fields: Record<string, unknown>, message: string): void {
    this.#write('warn', key, fields, message);
  }

  /** The same at info: routine events that a flood could repeat thousands of times. */
  info(key: string, fields: Record<string, unknown>, message: string): void {
    this.#write('info', key, fields, message);
  }

  #write(level: 'warn' | 'info', key: string, fields: Record<string, unknown>, message: string): void {
    const now = this.#now();
    const entry = this.#keys.get(key);
    if (entry && now - entry.loggedAt < this.#intervalMs) {
      entry.suppressed += 1;
      return;
    }
    if (!entry && this.#keys.size >= this.#maxKeys) this.#keys.clear();
    const suppressed = entry?.suppressed ?? 0;
    this.#keys.set(key, { loggedAt: now, suppressed: 0 });
    this.#log[level]({ ...fields, ...(suppressed > 0 && { sinceLastLine: suppressed + 1 }) }, message);
  }
}
