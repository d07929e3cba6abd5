/**
 * At most one motion transition per camera per interval goes to Alexa; within the interval the
 * last state wins and goes out when it ends (if it differs from what Alexa was last told). A
 * camera or broker flooding ON/OFF lines (1 500 in 0.2 s) then costs a few reports, not 1 500.
 */
import type { Detection } from '../alexa/ports.ts';

export interface MotionPacerOptions {
  intervalMs?: number;
  send: (endpointId: string, value: Detection, timeOfSample: Date) => void;
  now?: () => number;
}

interface CameraMotion {
  sentAt: number;
  sent: Detection;
  pending?: { value: Detection; timeOfSample: Date };
  timer?: NodeJS.Timeout;
}

export class MotionPacer {
  readonly #intervalMs: number;
  readonly #send: MotionPacerOptions['send'];
  readonly #now: () => number;
  readonly #cameras = new Map<string, CameraMotion>();
  /** Transitions folded into a later one. */
  folded = 0;

  constructor(options: MotionPacerOptions) {
    this.#intervalMs = options.intervalMs ?? 1000;
    this.#send = options.send;
    this.#now = options.now ?? Date.now;
  }

  report(endpointId: string, value: Detection, timeOfSample: Date): void {
    const now = this.#now();
    const camera = this.#cameras.get(endpointId);
    if (!camera || (now - camera.sentAt >= this.#intervalMs && !camera.timer)) {
      this.#cameras.set(endpointId, { sentAt: now, sent: value });
      this.#send(endpointId, value, timeOfSample);
      return;
    }
    if (camera.pending) this.folded += 1;
    camera.pending = { value, timeOfSample };
    camera.timer ??= setTimeout(() => this.#flush(endpointId), Math.max(0, camera.sentAt + this.#intervalMs - now));
  }

  #flush(endpointId: string): void {
    const camera = this.#cameras.get(endpointId);
    if (!camera) return;
    camera.timer = undefined;
    const pending = camera.pending;
    camera.pending = undefined;
    if (!pending) return;
    if (pending.value === camera.sent) {
      this.folded += 1;
      return;
    }
    camera.sentAt = this.#now();
    camera.sent = pending.value;
    this.#send(endpointId, pending.value, pending.timeOfSample);
  }

  close(): void {
    for (const camera of this.#cameras.values()) clearTimeout(camera.timer);
    this.#cameras.clear();
  }
}
