import { EventEmitter } from 'node:events';
import { access, constants } from 'node:fs/promises';
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'pino';
import type { ConnectivityReading, ConnectivitySource } from '../alexa/ports.ts';
import type { AuthScheme } from './rtsp-auth.ts';
import { probeRtsp } from './rtsp-probe.ts';

export interface CameraHealth {
  value: 'OK' | 'UNREACHABLE';
  /** Why it is unreachable, in words for the log and /readyz. */
  reason?: string;
  code?: string;
  timeOfSample: Date;
}

export interface HealthTarget {
  id: string;
  /** Camera URL with credentials (never logged); `file:/abs/path` for clips. */
  url: string;
}

export interface HealthMonitorOptions {
  cameras: HealthTarget[];
  intervalMs: number;
  probeTimeoutMs?: number;
  log: Logger;
}

export interface HealthMonitorEvents {
  change: [cameraId: string, health: CameraHealth, previous: CameraHealth | undefined];
}

/** Is the camera there? An RTSP OPTIONS round trip, or the clip file existing. */
export async function probeCamera(
  url: string,
  options: { timeoutMs: number; signal?: AbortSignal; knownScheme?: AuthScheme },
): Promise<Omit<CameraHealth, 'timeOfSample'> & { scheme?: AuthScheme }> {
  if (url.startsWith('file:')) {
    const path = url.slice('file:'.length);
    try {
      await access(path, constants.R_OK);
      return { value: 'OK' };
    } catch (err) {
      return { value: 'UNREACHABLE', code: 'FILE_MISSING', reason: `cannot read ${path} (${(err as NodeJS.ErrnoException).code})` };
    }
  }
  const result = await probeRtsp(url, options);
  return result.reachable ? { value: 'OK', ...(result.scheme && { scheme: result.scheme }) } : { value: 'UNREACHABLE', code: result.code, reason: result.reason };
}

/** Two failed probes in a row make a camera UNREACHABLE; one success makes it OK again. */
export const FAILURES_TO_UNREACHABLE = 2;

/** A probe under way, and how to stop it when its camera is removed or re-pointed. */
interface InFlightProbe {
  result: Promise<CameraHealth>;
  abort: AbortController;
}

/**
 * Probes every camera now and every `intervalMs` and keeps a debounced connectivity per camera:
 * one lost probe does not flap Alexa's state. Emits `change` when a camera's connectivity flips
 * (and once per camera for its first reading). Answers ReportState through ConnectivitySource.
 * A camera stream's own failures and successes count like probes. setCameras() takes a new
 * camera list while running.
 */
export class HealthMonitor extends EventEmitter<HealthMonitorEvents> implements ConnectivitySource {
  readonly #targets = new Map<string, HealthTarget>();
  readonly #latest = new Map<string, CameraHealth>();
  readonly #failures = new Map<string, number>();
  readonly #inFlight = new Map<string, InFlightProbe>();
  /** The auth scheme each camera's credentials worked with; Digest, once seen, is never given up. */
  readonly #schemes = new Map<string, AuthScheme>();
  readonly #abort = new AbortController();
  readonly #options: HealthMonitorOptions;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: HealthMonitorOptions) {
    super();
    this.#options = options;
    for (const camera of options.cameras) this.#targets.set(camera.id, { ...camera });
  }

  /**
   * Takes a new camera list. Added cameras are probed at once (once started) and then with the
   * others; removed ones are no longer probed and forgotten — reading, failures, auth scheme — and
   * a probe of theirs still under way is aborted and its answer ignored, so no `change` follows.
   * A camera whose target changed (its URL) is forgotten the same way and probed afresh.
   * Idempotent: the same list again changes nothing.
   */
  setCameras(targets: HealthTarget[]): void {
    if (this.#closed) return;
    const next = new Map(targets.map((target) => [target.id, target]));
    for (const [id, current] of this.#targets) {
      const wanted = next.get(id);
      if (!wanted || !isDeepStrictEqual(wanted, current)) this.#forget(id);
    }
    const added: string[] = [];
    for (const [id, target] of next) {
      if (this.#targets.has(id)) continue;
      this.#targets.set(id, { ...target });
      added.push(id);
    }
    if (this.#timer) for (const id of added) this.#probeInBackground(id);
  }

  start(): void {
    if (this.#timer || this.#closed) return;
    this.#probeAll();
    this.#timer = setInterval(() => this.#probeAll(), this.#options.intervalMs);
  }

  /** The debounced reading; undefined before the first probe finished. */
  health(cameraId: string): CameraHealth | undefined {
    return this.#latest.get(cameraId);
  }

  async connectivity(cameraId: string): Promise<ConnectivityReading> {
    const health = this.#latest.get(cameraId) ?? (await this.probe(cameraId));
    return { value: health.value, timeOfSample: health.timeOfSample };
  }

  /** Probes one camera now; concurrent callers share one probe. Resolves with the debounced reading. */
  probe(cameraId: string): Promise<CameraHealth> {
    const target = this.#targets.get(cameraId);
    if (!target) return Promise.reject(new Error(`unknown camera ${cameraId}`));
    const running = this.#inFlight.get(cameraId);
    if (running) return running.result;
    const timeoutMs = this.#options.probeTimeoutMs ?? Math.min(5000, this.#options.intervalMs);
    const knownScheme = this.#schemes.get(cameraId);
    const abort = new AbortController();
    const signal = AbortSignal.any([this.#abort.signal, abort.signal]);
    const result = probeCamera(target.url, { timeoutMs, signal, ...(knownScheme && { knownScheme }) })
      .then(({ scheme, ...observed }) => {
        // Removed or re-pointed while probed: the answer is about a camera no longer configured.
        if (this.#targets.get(cameraId) !== target) return this.#afterStaleProbe(cameraId);
        if (scheme) this.#noteScheme(cameraId, target.url, scheme);
        return this.#record(cameraId, { ...observed, timeOfSample: new Date() });
      })
      .finally(() => {
        if (this.#inFlight.get(cameraId) === probe) this.#inFlight.delete(cameraId);
      });
    const probe: InFlightProbe = { result, abort };
    this.#inFlight.set(cameraId, probe);
    return result;
  }

  /** The auth scheme the camera's credentials worked with, once a probe has used them. */
  authScheme(cameraId: string): AuthScheme | undefined {
    return this.#schemes.get(cameraId);
  }

  #noteScheme(cameraId: string, url: string, scheme: AuthScheme): void {
    const known = this.#schemes.get(cameraId);
    if (known === 'digest' || known === scheme) return;
    this.#schemes.set(cameraId, scheme);
    if (scheme === 'basic' && url.startsWith('rtsp:')) {
      this.#options.log.warn(
        { cameraId },
        'camera asks for Basic auth over plain rtsp://: its password crosses the network readable at every probe and stream start; switch the camera to Digest or use rtsps://',
      );
    }
  }

  /** The camera's stream failed: count it as a failed probe and probe again at once. */
  noteStreamFailure(cameraId: string, code: string, reason: string): void {
    if (!this.#targets.has(cameraId) || this.#closed) return;
    this.#record(cameraId, { value: 'UNREACHABLE', code, reason, timeOfSample: new Date() });
    this.#probeInBackground(cameraId);
  }

  /** The camera's stream delivers video: as good as a successful probe. */
  noteStreamHealthy(cameraId: string): void {
    if (!this.#targets.has(cameraId) || this.#closed) return;
    this.#record(cameraId, { value: 'OK', timeOfSample: new Date() });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    this.#abort.abort();
  }

  #probeAll(): void {
    for (const id of this.#targets.keys()) this.#probeInBackground(id);
  }

  #probeInBackground(cameraId: string): void {
    this.probe(cameraId).catch((err: unknown) => {
      // A camera removed meanwhile: its probe's end is expected, not a fault.
      if (this.#targets.has(cameraId)) this.#options.log.error({ err, cameraId }, 'health probe failed');
    });
  }

  /** What a caller waiting on a stale probe gets: the camera's fresh probe, or the news that it is gone. */
  #afterStaleProbe(cameraId: string): Promise<CameraHealth> {
    if (this.#targets.has(cameraId)) return this.probe(cameraId);
    return Promise.reject(new Error(`camera ${cameraId} was removed while being probed`));
  }

  /** Drops everything known about a camera and stops its probe. */
  #forget(cameraId: string): void {
    this.#targets.delete(cameraId);
    this.#latest.delete(cameraId);
    this.#failures.delete(cameraId);
    this.#schemes.delete(cameraId);
    const probe = this.#inFlight.get(cameraId);
    this.#inFlight.delete(cameraId);
    probe?.abort.abort();
  }

  /** Folds one observation into the debounced reading. */
  #record(cameraId: string, observed: CameraHealth): CameraHealth {
    const previous = this.#latest.get(cameraId);
    // A probe cut short by close() says nothing about the camera.
    if (this.#closed) return previous ?? observed;
    const failures = observed.value === 'OK' ? 0 : (this.#failures.get(cameraId) ?? 0) + 1;
    this.#failures.set(cameraId, failures);
    const flips = previous === undefined || (observed.value === 'OK' ? previous.value !== 'OK' : previous.value === 'OK' && failures >= FAILURES_TO_UNREACHABLE);
    if (!flips) {
      // Same state: refresh the sample time (and the reason while it stays unreachable).
      const current = previous.value === observed.value ? observed : { ...previous, timeOfSample: observed.timeOfSample };
      this.#latest.set(cameraId, current);
      return current;
    }
    this.#latest.set(cameraId, observed);
    const log = this.#options.log.child({ cameraId });
    if (observed.value === 'OK') log.info('camera reachable');
    else log.warn({ code: observed.code, reason: observed.reason }, 'camera unreachable');
    this.emit('change', cameraId, observed, previous);
    return observed;
  }
}
