import { EventEmitter } from 'node:events';
import type { IPublishPacket } from 'mqtt';
import type { Logger } from 'pino';
import { redactSecrets } from '../util/redact.ts';
import { MqttConnection, type MqttConnectionState } from '../util/mqtt-connection.ts';
import { OncePerCause } from '../util/once-per-cause.ts';
import type { Backoff } from '../util/retry.ts';
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
  /** Reconnect backoff (default 1 s doubling to 60 s). */
  retry?: Backoff;
}

export type MqttState = MqttConnectionState;

/** Topic plus an on/off payload, with room to spare: the broker drops anything larger (MQTT 5). */
const MAX_EVENT_PACKET_BYTES = 64 * 1024;

export interface MqttStatus {
  state: MqttState;
  /** Without credentials. */
  url: string;
  since: string;
  lastError?: string;
  /** 5, or 4 when the broker speaks only MQTT 3.1.1 (oversized messages then arrive and are refused here). */
  protocolVersion: 4 | 5;
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
 * silently missed) and to each camera's own topics, over util/mqtt-connection.ts (MQTT 5, or
 * 3.1.1 for a broker that speaks nothing else; reconnects with backoff); a broker that is down
 * delays nothing else. Retained messages are old news, not presses.
 */
export class MqttEventSource extends EventEmitter<MqttSourceEvents> {
  readonly #options: MqttSourceOptions;
  readonly #log: Logger;
  readonly #cameras: Map<string, MqttCamera>;
  readonly #exact = new Map<string, Route>();
  readonly #filters: string[];
  readonly #once = new OncePerCause();
  readonly #connection: MqttConnection;
  #messages = 0;
  #ignored = 0;
  #failures = 0;

  constructor(options: MqttSourceOptions) {
    super();
    this.#options = options;
    this.#log = options.log;
    this.#cameras = new Map(options.cameras.map((camera) => [camera.id, camera]));
    const prefix = options.topicPrefix.replace(/\/+$/, '');
    for (const camera of options.cameras) {
      if (camera.doorbellTopic && camera.kind === 'doorbell') this.#exact.set(camera.doorbellTopic, { cameraId: camera.id, kind: 'doorbell' });
      if (camera.motionTopic && camera.motion) this.#exact.set(camera.motionTopic, { cameraId: camera.id, kind: 'motion' });
    }
    this.#filters = [`${prefix}/+/doorbell`, `${prefix}/+/motion`, ...this.#exact.keys()];
    const { url, username, password } = options;
    this.#connection = new MqttConnection({
      name: 'MQTT',
      url,
      logUrl: redactSecrets(url),
      client: {
        clientId: `porchlight-${process.pid}-${Math.random().toString(16).slice(2, 10)}`,
        ...(username !== undefined && { username }),
        ...(password !== undefined && { password }),
      },
      topics: this.#filters,
      // A press or motion line is a few bytes; the broker drops anything bigger than this (a 200 MB
      // event payload once took the bridge to 544 MB before the size check after receipt).
      maxPacketBytes: MAX_EVENT_PACKET_BYTES,
      protocol: 'mqtt5-or-3.1.1',
      describeError: describeMqttError,
      log: options.log,
      ...(options.retry && { retry: options.retry }),
    });
    this.#connection.on('state', (state) => {
      // Every close we did not ask for is a failure: a lost connection or a failed attempt.
      if (state === 'disconnected') this.#failures += 1;
      this.emit('state', state);
    });
    this.#connection.on('message', (topic, payload, packet) => this.#onMessage(topic, payload, packet));
  }

  /** Connects in the background; never throws and never waits for the broker. */
  start(): void {
    this.#connection.start();
  }

  status(): MqttStatus {
    const { state, since, lastError, protocolVersion } = this.#connection.status();
    return {
      state,
      url: redactSecrets(this.#options.url),
      since,
      ...(lastError && { lastError }),
      protocolVersion,
      topics: [...this.#filters],
      messages: this.#messages,
      ignored: this.#ignored,
      failures: this.#failures,
    };
  }

  /** Idempotent. */
  async close(): Promise<void> {
    await this.#connection.close();
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
