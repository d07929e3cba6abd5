import type { EventEmitter } from 'node:events';
import type { Logger } from 'pino';

type AnyListener = (...args: unknown[]) => unknown;

/**
 * Emits like `emitter.emit`, but a listener that throws (or rejects) neither stops the listeners
 * after it nor reaches the caller. For events emitted from callbacks of code that is not ours
 * (werift's socket and transport handlers, the packet path), where a throw would unwind through
 * that code. The first failure of each event name is logged, with the name; later ones are
 * swallowed so a broken listener on the packet path cannot flood the log. Not for 'error', whose
 * missing listener must throw. One per emitter, owned by it.
 */
export class SafeEmitter<Events extends Record<keyof Events, unknown[]>> {
  readonly #emitter: EventEmitter<Events>;
  readonly #log: Pick<Logger, 'error'>;
  /** Event names whose listeners have thrown already. */
  readonly #reported = new Set<string>();

  constructor(emitter: EventEmitter<Events>, log: Pick<Logger, 'error'>) {
    this.#emitter = emitter;
    this.#log = log;
  }

  /** True when the event had listeners, as `emit` says. */
  emit<Name extends keyof Events & string>(event: Name, ...args: Events[Name]): boolean {
    // rawListeners: `once` wrappers remove themselves when called, as emit() would have them do.
    const listeners = (this.#emitter as unknown as EventEmitter).rawListeners(event) as AnyListener[];
    for (const listener of listeners) {
      try {
        const result = listener.apply(this.#emitter, args);
        if (result instanceof Promise) result.catch((err: unknown) => this.#report(event, err));
      } catch (err) {
        this.#report(event, err);
      }
    }
    return listeners.length > 0;
  }

  #report(event: string, err: unknown): void {
    if (this.#reported.has(event)) return;
    this.#reported.add(event);
    this.#log.error({ err, event }, `a listener of '${event}' threw; it was skipped (logged once per event)`);
  }
}
