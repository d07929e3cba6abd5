import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { Detection } from '../alexa/ports.ts';
import { SampledLog } from '../util/sampled-log.ts';
import { OncePerCause } from '../util/once-per-cause.ts';
import type { CameraEventKind } from './onvif-topics.ts';

export type EventSourceName = 'onvif' | 'mqtt' | 'http';

export interface MotionReading {
  value: Detection;
  timeOfSample: Date;
}

export interface RecentEvent {
  kind: CameraEventKind;
  source: EventSourceName;
  /** `press` for a doorbell; `on` / `off` for motion. */
  value: 'press' | 'on' | 'off';
  at: string;
}

export interface CameraEventsEvents {
  /** A doorbell press from any source (before the cloud's debounce). */
  press: [cameraId: string, source: EventSourceName, at: Date];
  /** The camera's motion state changed (any source on → DETECTED; all off → NOT_DETECTED). */
  motion: [cameraId: string, reading: MotionReading];
}

/** What became of a press: queued for Alexa, folded into the previous one (debounce), or nowhere to send it. */
export type PressFate = 'queued' | 'folded' | 'not-configured';

/** A camera as CameraEvents sees it: a doorbell or not, a motion sensor or not. */
export interface EventCamera {
  id: string;
  kind: 'camera' | 'doorbell';
  motion: boolean;
}

export interface CameraEventsOptions {
  cameras: EventCamera[];
  /** Handles a press from any source and says what became of it (the app: a DoorbellPress and a warm stream). */
  onPress?: (cameraId: string, source: EventSourceName, at: Date) => PressFate;
  /** A source that has never said "off" is taken to have stopped seeing motion this long after its last "on". */
  motionHoldMs: number;
  log: Logger;
  now?: () => Date;
}

export type ReportOutcome = 'press' | 'motion-changed' | 'motion-unchanged' | 'ignored' | 'not-a-doorbell' | 'no-motion-sensor' | 'unknown-camera';

/** Even a source that says "off" is presumed to have lost it after this long without a fresh "on". */
export const MOTION_MAX_MS = 10 * 60_000;
const RECENT_PER_CAMERA = 20;
/** One "camera motion" line per camera per this long (with how many it stood for). */
const MOTION_LOG_INTERVAL_MS = 10_000;

interface SourceMotion {
  on: boolean;
  /** The source has said "off" before: it reports both edges, so only a lost "off" needs a timer. */
  saysOff: boolean;
  timer: NodeJS.Timeout | undefined;
}

interface CameraState {
  kind: 'camera' | 'doorbell';
  motion: boolean;
  reading: MotionReading;
  sources: Map<EventSourceName, SourceMotion>;
  recent: RecentEvent[];
  counts: Map<string, number>;
}

/**
 * Where presses and motion from every source (ONVIF, MQTT, HTTP) meet: it keeps each camera's
 * motion state (any source on = DETECTED), ends motion for sources that never say "off", keeps
 * the last events for people to see, and counts them. It knows nothing of Alexa or streams:
 * app.ts turns its `press` and `motion` events into DoorbellPress, ChangeReports and warm streams.
 */
export class CameraEvents extends EventEmitter<CameraEventsEvents> {
  readonly #cameras = new Map<string, CameraState>();
  readonly #options: CameraEventsOptions;
  readonly #now: () => Date;
  readonly #misfits = new OncePerCause();
  readonly #motionLog: SampledLog;
  #closed = false;

  constructor(options: CameraEventsOptions) {
    super();
    this.#options = options;
    this.#motionLog = new SampledLog(options.log, MOTION_LOG_INTERVAL_MS);
    this.#now = options.now ?? (() => new Date());
    this.setCameras(options.cameras);
  }

  /**
   * A new camera list, applied while running. New cameras start NOT_DETECTED. A removed camera is
   * forgotten (hold timers, motion state, recent events, counts) and says nothing more — no
   * 'motion' event follows for it, so whoever removed it releases what it held for it. A camera
   * whose kind or motion flag changed keeps its recent events and counts, but its motion restarts
   * from NOT_DETECTED with no source on: when it was DETECTED, a 'motion' NOT_DETECTED event says
   * so, or Alexa and the stream's motion hold would keep a DETECTED that no source will ever end.
   * Unchanged cameras are untouched. Idempotent; does nothing after close().
   */
  setCameras(cameras: readonly EventCamera[]): void {
    if (this.#closed) return;
    const wanted = new Map(cameras.map((camera) => [camera.id, camera]));
    for (const [cameraId, camera] of [...this.#cameras]) {
      if (wanted.has(cameraId)) continue;
      this.#stopHolds(camera);
      this.#cameras.delete(cameraId);
      this.#forgetMisfits(cameraId);
    }
    const ended: Array<[string, CameraState]> = [];
    for (const [cameraId, { kind, motion }] of wanted) {
      const camera = this.#cameras.get(cameraId);
      if (!camera) {
        this.#cameras.set(cameraId, {
          kind,
          motion,
          reading: { value: 'NOT_DETECTED', timeOfSample: this.#now() },
          sources: new Map(),
          recent: [],
          counts: new Map(),
        });
        continue;
      }
      if (camera.kind === kind && camera.motion === motion) continue;
      camera.kind = kind;
      camera.motion = motion;
      this.#stopHolds(camera);
      camera.sources.clear();
      this.#forgetMisfits(cameraId);
      if (camera.reading.value === 'DETECTED') ended.push([cameraId, camera]);
      else camera.reading = { value: 'NOT_DETECTED', timeOfSample: this.#now() };
    }
    // Emitted once the whole list is in place, so a listener sees the new configuration.
    for (const [cameraId, camera] of ended) this.#update(cameraId, camera);
  }

  /**
   * One message from a source: `on` is a press for a doorbell, motion seen or ended for motion.
   * `statesBothEdges`: the source is known to say "off" (ONVIF property events do).
   */
  report(cameraId: string, kind: CameraEventKind, on: boolean, source: EventSourceName, statesBothEdges = false): ReportOutcome {
    const camera = this.#cameras.get(cameraId);
    if (!camera) return 'unknown-camera';
    if (this.#closed) return 'ignored';
    const at = this.#now();
    if (kind === 'doorbell') {
      if (camera.kind !== 'doorbell') return this.#misfit(cameraId, source, 'not-a-doorbell', 'doorbell press for a camera not configured kind: doorbell: ignored');
      // Only the press matters; a doorbell's "released" is no news.
      if (!on) return 'ignored';
      this.#press(cameraId, camera, source, at);
      return 'press';
    }
    if (!camera.motion) return this.#misfit(cameraId, source, 'no-motion-sensor', 'motion for a camera configured motion: false: ignored');
    this.#remember(camera, { kind, source, value: on ? 'on' : 'off', at: at.toISOString() });
    let state = camera.sources.get(source);
    if (!state) {
      state = { on: false, saysOff: statesBothEdges, timer: undefined };
      camera.sources.set(source, state);
    }
    clearTimeout(state.timer);
    state.timer = undefined;
    state.on = on;
    if (!on) state.saysOff = true;
    else {
      const holdMs = state.saysOff ? MOTION_MAX_MS : this.#options.motionHoldMs;
      const sourceState = state;
      state.timer = setTimeout(() => {
        sourceState.timer = undefined;
        sourceState.on = false;
        this.#options.log.debug({ cameraId, source, holdMs }, 'motion held long enough without an "off": ending it');
        this.#update(cameraId, camera);
      }, holdMs);
    }
    return this.#update(cameraId, camera) ? 'motion-changed' : 'motion-unchanged';
  }

  /** A press (from the HTTP API): what became of it, or why it is no press. */
  press(cameraId: string, source: EventSourceName): PressFate | 'unknown-camera' | 'not-a-doorbell' | 'ignored' {
    const camera = this.#cameras.get(cameraId);
    if (!camera) return 'unknown-camera';
    if (this.#closed) return 'ignored';
    if (camera.kind !== 'doorbell') return this.#misfit(cameraId, source, 'not-a-doorbell', 'doorbell press for a camera not configured kind: doorbell: ignored');
    return this.#press(cameraId, camera, source, this.#now());
  }

  /** The camera's motion state; undefined for a camera without a motion sensor. */
  motion(cameraId: string): MotionReading | undefined {
    const camera = this.#cameras.get(cameraId);
    return camera?.motion ? { ...camera.reading } : undefined;
  }

  hasMotionSensor(cameraId: string): boolean {
    return this.#cameras.get(cameraId)?.motion ?? false;
  }

  /** The last events of a camera, newest first. */
  recent(cameraId: string): RecentEvent[] {
    return [...(this.#cameras.get(cameraId)?.recent ?? [])];
  }

  /** Events received, per camera, kind and source (for /metrics). */
  counts(): Array<{ camera: string; kind: CameraEventKind; source: EventSourceName; count: number }> {
    const rows: Array<{ camera: string; kind: CameraEventKind; source: EventSourceName; count: number }> = [];
    for (const [camera, state] of this.#cameras) {
      for (const [key, count] of state.counts) {
        const [kind, source] = key.split('/') as [CameraEventKind, EventSourceName];
        rows.push({ camera, kind, source, count });
      }
    }
    return rows;
  }

  /** Idempotent: clears every hold timer. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const camera of this.#cameras.values()) this.#stopHolds(camera);
  }

  #stopHolds(camera: CameraState): void {
    for (const source of camera.sources.values()) {
      clearTimeout(source.timer);
      source.timer = undefined;
    }
  }

  /** A camera's configuration changed or it is gone: its misfits, if they come again, are news again. */
  #forgetMisfits(cameraId: string): void {
    for (const outcome of ['not-a-doorbell', 'no-motion-sensor']) {
      for (const source of ['onvif', 'mqtt'] satisfies EventSourceName[]) this.#misfits.forget(`${cameraId}/${outcome}/${source}`);
    }
  }

  #misfit<T extends string>(cameraId: string, source: EventSourceName, outcome: T, message: string): T {
    if (source !== 'http' && this.#misfits.first(`${cameraId}/${outcome}/${source}`)) this.#options.log.warn({ cameraId, source }, message);
    return outcome;
  }

  #press(cameraId: string, camera: CameraState, source: EventSourceName, at: Date): PressFate | 'ignored' {
    this.#remember(camera, { kind: 'doorbell', source, value: 'press', at: at.toISOString() });
    this.emit('press', cameraId, source, at);
    return this.#options.onPress?.(cameraId, source, at) ?? 'ignored';
  }

  #remember(camera: CameraState, event: RecentEvent): void {
    camera.recent.unshift(event);
    camera.recent.length = Math.min(camera.recent.length, RECENT_PER_CAMERA);
    const key = `${event.kind}/${event.source}`;
    camera.counts.set(key, (camera.counts.get(key) ?? 0) + 1);
  }

  /** Recomputes the camera's state from its sources; true (and an event) when it changed. */
  #update(cameraId: string, camera: CameraState): boolean {
    const value: Detection = [...camera.sources.values()].some((source) => source.on) ? 'DETECTED' : 'NOT_DETECTED';
    if (value === camera.reading.value || this.#closed) return false;
    camera.reading = { value, timeOfSample: this.#now() };
    // Sampled: a flood of ON/OFF lines wrote 158 k log lines in 16 s.
    this.#motionLog.info(cameraId, { cameraId, motion: value }, 'camera motion');
    this.emit('motion', cameraId, { ...camera.reading });
    return true;
  }
}
