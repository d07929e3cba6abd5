import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'pino';
import type { Backoff } from '../util/retry.ts';
import type { CameraConfig, MqttConfig } from '../config/schema.ts';
import type { CameraEvents } from './camera-events.ts';
import { MqttEventSource, type MqttSourceOptions, type MqttStatus } from './mqtt-source.ts';
import { OnvifEventSource, type OnvifStatus, type OnvifTarget } from './onvif-source.ts';
import type { TopicOverrides } from './onvif-topics.ts';

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

/** What a camera's ONVIF subscription depends on: a difference means a new subscription. */
interface OnvifSettings {
  target: OnvifTarget;
  topics: TopicOverrides;
}

/** What the MQTT source listens to: a difference means a new client. */
type MqttSettings = Omit<MqttSourceOptions, 'log' | 'retry'>;

interface OnvifChild {
  source: OnvifEventSource;
  settings: OnvifSettings;
  /** Failures of the sources this one replaced: /metrics counters must not go backwards. */
  failuresBefore: number;
}

interface MqttChild {
  source: MqttEventSource;
  settings: MqttSettings;
}

/** The camera's ONVIF subscription settings, or undefined when it has none. Pure. */
function onvifSettings(camera: CameraConfig): OnvifSettings | undefined {
  const target = onvifTarget(camera);
  if (!target) return undefined;
  const overrides = camera.onvif === true || !camera.onvif ? {} : camera.onvif;
  return {
    target,
    topics: {
      ...(overrides.doorbellTopic && { doorbellTopic: overrides.doorbellTopic }),
      ...(overrides.motionTopic && { motionTopic: overrides.motionTopic }),
    },
  };
}

/** What the MQTT source would listen to, or undefined without a broker. Pure. */
function mqttSettings(cameras: CameraConfig[], mqtt: MqttConfig | undefined): MqttSettings | undefined {
  if (!mqtt) return undefined;
  const { url, username, password, topicPrefix } = mqtt;
  return {
    url,
    ...(username !== undefined && { username }),
    ...(password !== undefined && { password }),
    topicPrefix,
    // In id order: the order cameras are listed in routes nothing differently.
    cameras: [...cameras].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).map((camera) => ({
      id: camera.id,
      kind: camera.kind,
      motion: hasMotion(camera, mqtt),
      ...(camera.mqtt?.doorbellTopic && { doorbellTopic: camera.mqtt.doorbellTopic }),
      ...(camera.mqtt?.motionTopic && { motionTopic: camera.mqtt.motionTopic }),
    })),
  };
}

/**
 * Owns the event sources built from the configuration (one MQTT client, one ONVIF subscription
 * per camera that has `onvif`) and feeds what they hear into CameraEvents. setCameras() applies a
 * new camera list, replacing only the sources whose settings changed.
 */
export class EventSources {
  readonly #options: EventSourcesOptions;
  readonly #onvif = new Map<string, OnvifChild>();
  #mqtt: MqttChild | undefined;
  /** Failures of MQTT clients closed by setCameras(): /metrics counters must not go backwards. */
  #mqttFailuresBefore = 0;
  #cameras: CameraConfig[] = [];
  /** Replaced or removed sources still unsubscribing; close() waits for them too. */
  readonly #retiring = new Set<Promise<void>>();
  #started = false;
  #closed = false;

  constructor(options: EventSourcesOptions) {
    this.#options = options;
    this.#apply(options.cameras, options.mqtt);
  }

  /** Starts every source in the background: none of them delays start-up. */
  start(): void {
    if (this.#closed) return;
    this.#started = true;
    this.#mqtt?.source.start();
    for (const { source } of this.#onvif.values()) source.start();
  }

  /**
   * A new camera list (and broker settings), applied while running. ONVIF: a removed camera's
   * subscription is closed (unsubscribed), a new camera's started (once start() was called), a
   * camera whose target (URL, credentials) or topic overrides changed gets a new source; the others
   * keep theirs, untouched. MQTT: a new client only when the broker settings or the routes (camera
   * ids, kinds, motion flags, custom topics) changed. A retired source reports nothing more from
   * the moment of the call. Resolves once retired sources have closed; never rejects. Idempotent;
   * does nothing after close().
   */
  async setCameras(cameras: CameraConfig[], mqtt: MqttConfig | undefined): Promise<void> {
    if (this.#closed) return;
    await Promise.all(this.#apply(cameras, mqtt));
  }

  mqttStatus(): MqttStatus | undefined {
    if (!this.#mqtt) return undefined;
    const status = this.#mqtt.source.status();
    return { ...status, failures: this.#mqttFailuresBefore + status.failures };
  }

  onvifStatus(cameraId: string): OnvifStatus | undefined {
    const child = this.#onvif.get(cameraId);
    if (!child) return undefined;
    const status = child.source.status();
    return { ...status, failures: child.failuresBefore + status.failures };
  }

  /** The camera's live ONVIF source (replaced when its settings change), for diagnostics and tests. */
  onvifSource(cameraId: string): OnvifEventSource | undefined {
    return this.#onvif.get(cameraId)?.source;
  }

  /** The live MQTT source (replaced when what it listens to changes), for diagnostics and tests. */
  mqttSource(): MqttEventSource | undefined {
    return this.#mqtt?.source;
  }

  /** Which sources feed a camera, for people to see. */
  sourcesOf(cameraId: string): Array<'onvif' | 'mqtt'> {
    if (!this.#cameras.some((c) => c.id === cameraId)) return [];
    return [...(this.#onvif.has(cameraId) ? ['onvif' as const] : []), ...(this.#mqtt ? ['mqtt' as const] : [])];
  }

  failures(): SourceFailures[] {
    const rows: SourceFailures[] = [...this.#onvif.values()].map(({ source, failuresBefore }) => ({
      source: 'onvif',
      camera: source.cameraId,
      failures: failuresBefore + source.status().failures,
    }));
    if (this.#mqtt) rows.push({ source: 'mqtt', camera: '', failures: this.#mqttFailuresBefore + this.#mqtt.source.status().failures });
    return rows;
  }

  /** Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([this.#mqtt?.source.close(), ...[...this.#onvif.values()].map(({ source }) => source.close()), ...this.#retiring]);
  }

  /** Brings the sources in line with the list; returns the closes of the sources it retired. */
  #apply(cameras: CameraConfig[], mqtt: MqttConfig | undefined): Array<Promise<void>> {
    this.#cameras = cameras;
    const retired: Array<Promise<void>> = [];
    const added: string[] = [];
    const replaced: string[] = [];
    const removed: string[] = [];

    const wanted = new Map<string, OnvifSettings>();
    for (const camera of cameras) {
      const settings = onvifSettings(camera);
      if (settings) wanted.set(camera.id, settings);
    }
    for (const [cameraId, child] of [...this.#onvif]) {
      const settings = wanted.get(cameraId);
      if (settings && isDeepStrictEqual(settings, child.settings)) continue;
      this.#onvif.delete(cameraId);
      retired.push(this.#retire(child.source));
      if (!settings) {
        removed.push(cameraId);
        continue;
      }
      this.#addOnvif(cameraId, settings, child.failuresBefore + child.source.status().failures);
      replaced.push(cameraId);
    }
    for (const [cameraId, settings] of wanted) {
      if (this.#onvif.has(cameraId)) continue;
      this.#addOnvif(cameraId, settings, 0);
      added.push(cameraId);
    }

    const settings = mqttSettings(cameras, mqtt);
    const mqttChanged = !isDeepStrictEqual(settings, this.#mqtt?.settings);
    if (mqttChanged) {
      if (this.#mqtt) {
        this.#mqttFailuresBefore += this.#mqtt.source.status().failures;
        retired.push(this.#retire(this.#mqtt.source));
        this.#mqtt = undefined;
      }
      if (settings) this.#addMqtt(settings);
    }

    if (this.#started && (added.length > 0 || replaced.length > 0 || removed.length > 0 || mqttChanged)) {
      this.#options.log.info({ onvif: { added, replaced, removed }, mqtt: mqttChanged ? (settings ? 'new client' : 'closed') : 'unchanged' }, 'event sources: camera list applied');
    }
    return retired;
  }

  #addOnvif(cameraId: string, settings: OnvifSettings, failuresBefore: number): void {
    const source = new OnvifEventSource({
      cameraId,
      target: settings.target,
      topics: settings.topics,
      log: this.#options.log.child({ source: 'onvif', cameraId }),
      ...(this.#options.retry && { retry: this.#options.retry }),
    });
    source.on('event', (kind, on) => this.#options.events.report(cameraId, kind, on, 'onvif', true));
    this.#onvif.set(cameraId, { source, settings, failuresBefore });
    if (this.#started) source.start();
  }

  #addMqtt(settings: MqttSettings): void {
    const source = new MqttEventSource({
      ...settings,
      log: this.#options.log.child({ source: 'mqtt' }),
      ...(this.#options.retry && { retry: this.#options.retry }),
    });
    source.on('event', (cameraId, kind, on) => this.#options.events.report(cameraId, kind, on, 'mqtt'));
    this.#mqtt = { source, settings };
    if (this.#started) source.start();
  }

  /** Silences a source at once (nothing it hears afterwards is reported) and closes it. */
  #retire(source: OnvifEventSource | MqttEventSource): Promise<void> {
    source.removeAllListeners('event');
    const closing: Promise<void> = source
      .close()
      .catch((err: unknown) => this.#options.log.warn({ err }, 'event source did not close cleanly'))
      .then(() => {
        this.#retiring.delete(closing);
      });
    this.#retiring.add(closing);
    return closing;
  }
}
