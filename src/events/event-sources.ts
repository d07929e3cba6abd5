import type { Logger } from 'pino';
import type { Backoff } from '../util/retry.ts';
import type { CameraConfig, MqttConfig } from '../config/schema.ts';
import type { CameraEvents } from './camera-events.ts';
import { MqttEventSource, type MqttStatus } from './mqtt-source.ts';
import { OnvifEventSource, type OnvifStatus, type OnvifTarget } from './onvif-source.ts';

/** Where a camera's ONVIF device service is and how to sign in, from its config. Pure. */
export function onvifTarget(camera: Pick<CameraConfig, 'url' | 'onvif'>): OnvifTarget | undefined {
  const onvif = camera.onvif;
  if (!onvif) return undefined;
  let rtsp: URL | undefined;
  try {
    rtsp = camera.url.startsWith('rtsp') ? new URL(camera.url) : undefined;
  } catch {
    rtsp = undefined;
  }
  const explicit = onvif === true ? {} : onvif;
  // Default: the ONVIF device service on port 80 of the host the RTSP stream comes from.
  const url = explicit.url ?? (rtsp ? `http://${rtsp.host.replace(/:\d+$/, '')}/onvif/device_service` : undefined);
  if (!url) return undefined;
  const username = explicit.username ?? (rtsp?.username ? decodeURIComponent(rtsp.username) : undefined);
  const password = explicit.password ?? (rtsp?.password ? decodeURIComponent(rtsp.password) : undefined);
  return { url, ...(username !== undefined && { username }), ...(password !== undefined && { password }) };
}

/** A camera advertises Alexa.MotionSensor when it says so, or by default when it has a motion source. */
export function hasMotion(camera: Pick<CameraConfig, 'motion' | 'onvif' | 'mqtt'>, mqtt: MqttConfig | undefined): boolean {
  return camera.motion ?? (Boolean(camera.onvif) || mqtt !== undefined);
}

export interface EventSourcesOptions {
  cameras: CameraConfig[];
  mqtt: MqttConfig | undefined;
  events: CameraEvents;
  log: Logger;
  /** Reconnect backoff (default 1 s doubling to 60 s); tests fit an outage in seconds. */
  retry?: Backoff;
}

export interface SourceFailures {
  source: 'onvif' | 'mqtt';
  camera: string;
  failures: number;
}

/**
 * Owns the event sources built from the configuration (one MQTT client, one ONVIF subscription
 * per camera that has `onvif`) and feeds what they hear into CameraEvents.
 */
export class EventSources {
  readonly #options: EventSourcesOptions;
  readonly #onvif = new Map<string, OnvifEventSource>();
  #mqtt: MqttEventSource | undefined;
  #closed = false;

  constructor(options: EventSourcesOptions) {
    this.#options = options;
    const retry = options.retry ? { retry: options.retry } : {};
    for (const camera of options.cameras) {
      const target = onvifTarget(camera);
      if (!target) continue;
      const topics = camera.onvif === true || !camera.onvif ? {} : camera.onvif;
      const source = new OnvifEventSource({
        cameraId: camera.id,
        target,
        topics: {
          ...(topics.doorbellTopic && { doorbellTopic: topics.doorbellTopic }),
          ...(topics.motionTopic && { motionTopic: topics.motionTopic }),
        },
        log: options.log.child({ source: 'onvif', cameraId: camera.id }),
        ...retry,
      });
      source.on('event', (kind, on) => options.events.report(camera.id, kind, on, 'onvif', true));
      this.#onvif.set(camera.id, source);
    }
    if (options.mqtt) {
      const { url, username, password, topicPrefix } = options.mqtt;
      this.#mqtt = new MqttEventSource({
        url,
        ...(username !== undefined && { username }),
        ...(password !== undefined && { password }),
        topicPrefix,
        cameras: options.cameras.map((camera) => ({
          id: camera.id,
          kind: camera.kind,
          motion: hasMotion(camera, options.mqtt),
          ...(camera.mqtt?.doorbellTopic && { doorbellTopic: camera.mqtt.doorbellTopic }),
          ...(camera.mqtt?.motionTopic && { motionTopic: camera.mqtt.motionTopic }),
        })),
        log: options.log.child({ source: 'mqtt' }),
        ...retry,
      });
      this.#mqtt.on('event', (cameraId, kind, on) => options.events.report(cameraId, kind, on, 'mqtt'));
    }
  }

  /** Starts every source in the background: none of them delays start-up. */
  start(): void {
    if (this.#closed) return;
    this.#mqtt?.start();
    for (const source of this.#onvif.values()) source.start();
  }

  mqttStatus(): MqttStatus | undefined {
    return this.#mqtt?.status();
  }

  onvifStatus(cameraId: string): OnvifStatus | undefined {
    return this.#onvif.get(cameraId)?.status();
  }

  /** Which sources feed a camera, for people to see. */
  sourcesOf(cameraId: string): Array<'onvif' | 'mqtt'> {
    const camera = this.#options.cameras.find((c) => c.id === cameraId);
    if (!camera) return [];
    return [...(this.#onvif.has(cameraId) ? ['onvif' as const] : []), ...(this.#mqtt ? ['mqtt' as const] : [])];
  }

  failures(): SourceFailures[] {
    const rows: SourceFailures[] = [...this.#onvif.values()].map((source) => ({ source: 'onvif', camera: source.cameraId, failures: source.status().failures }));
    if (this.#mqtt) rows.push({ source: 'mqtt', camera: '', failures: this.#mqtt.status().failures });
    return rows;
  }

  /** Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([this.#mqtt?.close(), ...[...this.#onvif.values()].map((source) => source.close())]);
  }
}
