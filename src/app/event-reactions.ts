import type { Logger } from 'pino';
import type { CameraStreams } from '../camera/camera-streams.ts';
import type { HealthMonitor } from '../camera/health.ts';
import type { AlexaCloud } from '../cloud/alexa-cloud.ts';
import type { EventSourceName, MotionReading, PressFate } from '../events/camera-events.ts';

/** A press keeps the doorbell's stream warm this long: the Echo shows it within seconds. */
export const PRESS_WARM_MS = 30_000;

export interface EventReactionsOptions {
  cloud: AlexaCloud;
  streams: CameraStreams;
  health: HealthMonitor;
  log: Logger;
  /** False while no ffmpeg was found or the app is closing: no stream is started then. */
  canStream: () => boolean;
}

/**
 * What the bridge does when a camera says something: Alexa hears of it (DoorbellPress, a motion
 * ChangeReport) and the camera's stream is warmed, so the Echo that shows it next gets the
 * keyframe cache at once.
 */
export class EventReactions {
  readonly #options: EventReactionsOptions;

  constructor(options: EventReactionsOptions) {
    this.#options = options;
  }

  /** A press from any source: one DoorbellPress (the cloud debounces) and a warm stream. */
  press(cameraId: string, source: EventSourceName, at: Date): PressFate {
    const fate = this.#options.cloud.pressDoorbell(cameraId, at);
    this.#options.log.info({ cameraId, source, alexa: fate }, 'doorbell press');
    this.#warm(cameraId, 'doorbell', PRESS_WARM_MS);
    return fate;
  }

  /** The camera's motion state changed: a ChangeReport, and the stream held while motion lasts. */
  motion(cameraId: string, reading: MotionReading): void {
    this.#options.cloud.reportMotion(cameraId, reading.value, reading.timeOfSample);
    if (reading.value === 'DETECTED') this.#warm(cameraId, 'motion');
    else if (this.#options.canStream()) this.#options.streams.peek(cameraId)?.release('motion');
  }

  /** Starts the camera's stream (if it can run) so the next viewer gets the keyframe cache at once. */
  #warm(cameraId: string, reason: string, forMs?: number): void {
    if (!this.#options.canStream() || this.#options.health.health(cameraId)?.value === 'UNREACHABLE') return;
    this.#options.streams.get(cameraId)?.hold(reason, forMs);
  }
}
