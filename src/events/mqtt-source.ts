import { EventEmitter } from 'node:events';
import mqtt, { type IPublishPacket, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { redactSecrets } from '../util/redact.ts';
import { OncePerCause, RetryTimer } from './backoff.ts';
import type { CameraEventKind } from './onvif-topics.ts';
import { parseSignal } from './signal.ts';

export interface MqttCamera {
  id: string;
  kind: 'camera' | 'doorbell';
  motion: boolean;
  /** Replaces `<prefix>/<id>/doorbell`. */
  doorbellTopic?: string;
  /** Replaces `<prefix>/<id>/motion`. */
  motionTopic?: string;
}

export interface MqttSourceOptions {
  url: string;
  username?: string;
  password?: string;
  topicPrefix: string;
  cameras: MqttCamera[];
  log: Logger;
  retryInitialMs?: number;
  retryMaxMs?: number;
}

export type MqttState = 'connecting' | 'connected' | 'disconnected' | 'closed';

export interface MqttStatus {
  state: MqttState;
  /** Without credentials. */
  url: string;
  since: string;
  lastError?: string;
  /** Topic filters subscribed to. */
  topics: string[];
  messages: number;
  ignored: number;
  failures: number;
}

export interface MqttSourceEvents {
  event: [cameraId: string, kind: CameraEventKind, on: boolean];
  state: [state: MqttState];
}

/** A topic mapped to the camera and kind it reports. */
interface Route {
  cameraId: string;
  kind: CameraEventKind;
}

/**
 * Presses and motion from an MQTT broker the user already runs. Subscribes to
 * `<prefix>/+/doorbell` and `<prefix>/+/motion` (so a typo in a camera id is reported, not
 * silently missed) and to each camera's own topics. Reconnects with backoff (1 s doubling to
 * 60 s); a broker that is down delays nothing else. Retained messages are old news, not presses.
 */
export class MqttEventSource extends EventEmitter<MqttSourceEvents> {
  readonly #options: MqttSourceOptions;
  readonly #log: Logger;
  readonly #cameras: Map<string, MqttCamera>;
  readonly #exact = new Map<string, Route>();
  readonly #filters: string[];
  readonly #once = new OncePerCause();
  /** Connection problems are logged once per outage: cleared when the broker is back. */
  readonly #outage = new OncePerCause();
  #client: MqttClient | undefined;
  #state: MqttState = 'disconnected';
  #since = new Date();
  #lastError: string | undefined;
  readonly #retry: RetryTimer;
  #messages = 0;
  #ignored = 0;
  #failures = 0;

  constructor(options: MqttSourceOptions) {
    super();
    this.#options = options;
    this.#retry = new RetryTimer(options.retryInitialMs, options.retryMaxMs);
    this.#log = options.log;
    this.#cameras = new Map(options.cameras.map((camera) => [camera.id, camera]));
    const prefix = options.topicPrefix.replace(/\/+$/, '');
    for (const camera of options.cameras) {
      if (camera.doorbellTopic && camera.kind === 'doorbell') this.#exact.set(camera.doorbellTopic, { cameraId: camera.id, kind: 'doorbell' });
      if (camera.motionTopic && camera.motion) this.#exact.set(camera.motionTopic, { cameraId: camera.id, kind: 'motion' });
    }
    this.#filters = [`${prefix}/+/doorbell`, `${prefix}/+/motion`, ...this.#exact.keys()];
  }

  /** Connects in the background; never throws and never waits for the broker. */
  start(): void {
    if (this.#client || this.#state === 'closed') return;
    const { url, username, password } = this.#options;
    this.#setState('connecting');
    this.#client = mqtt.connect(url, {
      ...(username !== undefined && { username }),
      ...(password !== undefined && { password }),
      // Reconnection is ours, with backoff: mqtt.js retries at a fixed period.
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      resubscribe: false,
      clientId: `porchlight-${process.pid}-${Math.random().toString(16).slice(2, 10)}`,
    });
    this.#client.on('connect', () => this.#onConnect());
    this.#client.on('message', (topic, payload, packet) => this.#onMessage(topic, payload, packet));
    this.#client.on('error', (err) => this.#onError(err));
    this.#client.on('close', () => this.#onClose());
  }

  status(): MqttStatus {
    return {
      state: this.#state,
      url: redactSecrets(this.#options.url),
      since: this.#since.toISOString(),
      ...(this.#lastError && { lastError: this.#lastError }),
      topics: [...this.#filters],
      messages: this.#messages,
      ignored: this.#ignored,
      failures: this.#failures,
    };
  }

  /** Idempotent. */
  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#retry.cancel();
    this.#setState('closed');
    const client = this.#client;
    this.#client = undefined;
    if (client) await client.endAsync(true).catch(() => {});
  }

  #setState(state: MqttState): void {
    if (this.#state === state || this.#state === 'closed') return;
    this.#state = state;
    this.#since = new Date();
    this.emit('state', state);
  }

  #onConnect(): void {
    this.#lastError = undefined;
    this.#setState('connected');
    this.#log.info({ url: redactSecrets(this.#options.url), topics: this.#filters }, 'MQTT connected: listening for presses and motion');
    // A clean session each time: subscribe again after every reconnect.
    this.#client?.subscribe(this.#filters, { qos: 1 }, (err, granted) => {
      if (err) return this.#onError(err);
      const refused = (granted ?? []).filter((grant) => grant.qos === 128).map((grant) => grant.topic);
      if (refused.length > 0) this.#warnOnce(`suback:${refused.join(',')}`, { topics: refused }, 'MQTT broker refused these subscriptions (check its ACL)');
      // Backoff and "said once" causes start over only once this connection has proved itself.
      this.#retry.connected(() => this.#outage.clear());
    });
  }

  #onError(err: Error & { code?: string | number }): void {
    if (this.#state === 'closed') return;
    const reason = describeMqttError(err);
    this.#lastError = reason;
    if (this.#outage.first(reason)) this.#log.warn({ url: redactSecrets(this.#options.url), reason }, 'MQTT broker problem: retrying with backoff');
  }

  #onClose(): void {
    if (this.#state === 'closed') return;
    // Every close we did not ask for is a failure: a lost connection or a failed attempt.
    this.#failures += 1;
    if (this.#state === 'connected') {
      this.#lastError = 'the connection to the broker was lost';
      if (this.#outage.first('lost')) this.#log.warn({ url: redactSecrets(this.#options.url) }, 'MQTT connection lost: reconnecting');
    }
    this.#setState('disconnected');
    this.#retry.schedule(() => {
      if (this.#state === 'closed' || !this.#client) return;
      this.#setState('connecting');
      this.#client.reconnect();
    });
  }

  #onMessage(topic: string, payload: Buffer, packet: IPublishPacket): void {
    this.#messages += 1;
    // A retained message was published before we connected: not a press happening now.
    if (packet.retain) {
      this.#ignored += 1;
      this.#log.debug({ topic }, 'MQTT retained message ignored (old news)');
      return;
    }
    const route = this.#route(topic);
    if (!route) {
      this.#ignored += 1;
      return;
    }
    const signal = parseSignal(payload);
    if (!signal.ok) {
      this.#ignored += 1;
      this.#warnOnce(`payload:${topic}:${signal.reason}`, { cameraId: route.cameraId, topic, reason: signal.reason }, 'MQTT payload not understood: ignored');
      return;
    }
    this.emit('event', route.cameraId, route.kind, signal.on);
  }

  /** Which camera a topic speaks for; logs (once) why when it is none. */
  #route(topic: string): Route | undefined {
    const exact = this.#exact.get(topic);
    if (exact) return exact;
    const prefix = `${this.#options.topicPrefix.replace(/\/+$/, '')}/`;
    const rest = topic.startsWith(prefix) ? topic.slice(prefix.length).split('/') : [];
    if (rest.length !== 2) return undefined;
    const [cameraId, kind] = rest as [string, CameraEventKind];
    const camera = this.#cameras.get(cameraId);
    if (!camera) {
      this.#warnOnce(`unknown:${cameraId}`, { topic, cameraId: cameraId.slice(0, 64) }, 'MQTT message for a camera id that is not configured: ignored');
      return undefined;
    }
    const replaced = kind === 'doorbell' ? camera.doorbellTopic : camera.motionTopic;
    if (replaced) {
      this.#warnOnce(`replaced:${topic}`, { cameraId, topic, listeningOn: replaced }, 'MQTT message on a default topic this camera replaced in its config: ignored');
      return undefined;
    }
    if (kind === 'doorbell' && camera.kind !== 'doorbell') {
      this.#warnOnce(`not-doorbell:${cameraId}`, { cameraId, topic }, 'MQTT doorbell press for a camera not configured kind: doorbell: ignored');
      return undefined;
    }
    if (kind === 'motion' && !camera.motion) {
      this.#warnOnce(`no-motion:${cameraId}`, { cameraId, topic }, 'MQTT motion for a camera configured motion: false: ignored');
      return undefined;
    }
    return { cameraId, kind };
  }

  #warnOnce(key: string, fields: Record<string, unknown>, message: string): void {
    if (this.#once.first(key)) this.#log.warn(fields, message);
  }
}

/** An mqtt.js error as a sentence a person can act on; never the password. */
export function describeMqttError(err: Error & { code?: string | number }): string {
  const code = err.code;
  if (code === 4 || code === 134 || code === 5 || code === 135) return 'the broker refused the username or password';
  if (code === 'ECONNREFUSED') return 'nothing listens at the broker address (connection refused)';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'the broker host name does not resolve';
  if (code === 'ETIMEDOUT' || /connack timeout/i.test(err.message)) return 'the broker does not answer (timeout)';
  if (typeof code === 'string' && /CERT|SSL|TLS/.test(code)) return `TLS problem: ${redactSecrets(err.message)}`;
  return redactSecrets(err.message || String(code ?? 'unknown error'));
}
