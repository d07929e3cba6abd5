import { EventEmitter } from 'node:events';
import mqtt, { type IClientOptions, type IClientPublishOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { OncePerCause } from './once-per-cause.ts';
import { RetryTimer, STABLE_MS, type Backoff } from './retry.ts';

/**
 * One supervised MQTT connection, shared by the relay and the MQTT event source: connect,
 * subscribe and check what the broker granted, reconnect with backoff (paced: the backoff starts
 * over only after a minute up), and a state plus the last error in words for /readyz. Only
 * `connected` once the subscriptions are granted: a broker whose ACL refuses them is an error
 * retried with backoff, not a connection that silently hears nothing.
 */

export type MqttConnectionState = 'connecting' | 'connected' | 'disconnected' | 'closed';

export interface MqttConnectionOptions {
  /** Names the connection in log lines ("relay", "MQTT"). */
  name: string;
  url: string;
  /** Client id, credentials, TLS material. Never logged. */
  client: Pick<IClientOptions, 'clientId' | 'username' | 'password' | 'cert' | 'key' | 'ca'>;
  /** Subscribed at QoS 1 after every connect (clean sessions). */
  topics: string[];
  /**
   * The broker must not send anything larger (MQTT 5 maximumPacketSize: mosquitto drops it), so an
   * oversized publish never reaches memory here (a 250 MB one once took the bridge to 675 MB before
   * a size check after receipt could refuse it).
   */
  maxPacketBytes: number;
  /** 'mqtt5' when MQTT 5 properties are needed; 'mqtt5-or-3.1.1' falls back for a broker that speaks only 3.1.1. */
  protocol: 'mqtt5' | 'mqtt5-or-3.1.1';
  /** What went wrong, in words a user can act on (no credentials in it). */
  describeError: (err: Error & { code?: string | number }) => string;
  /** The client id is this bridge's own (not random): repeated quick drops mean another client uses it. Said with this hint. */
  fixedClientIdHint?: string;
  /** The url as it may be logged. */
  logUrl?: string;
  log: Logger;
  retry?: Backoff;
  /** A connection up this long resets the backoff (default 60 s). */
  stableMs?: number;
}

export interface MqttConnectionStatus {
  state: MqttConnectionState;
  since: string;
  lastError?: string;
  /** 5, or 4 (3.1.1) once the broker refused MQTT 5. */
  protocolVersion: 4 | 5;
  /** Subscriptions the broker refused on the last connect. */
  refusedTopics: string[];
}

export interface MqttConnectionEvents {
  state: [MqttConnectionState];
  message: [topic: string, payload: Buffer, packet: IPublishPacket];
}

/** MQTT 5 DISCONNECT reason 0x8E: another connection with the same client id took over. */
const SESSION_TAKEN_OVER = 0x8e;
/** CONNACK "unacceptable protocol version": 1 from a 3.1.1 broker, 0x84 from an MQTT 5 one. */
const UNSUPPORTED_PROTOCOL = new Set<string | number>([1, 0x84]);
/** Quick drops in a row that name a client-id fight (or one, when the broker said "taken over"). */
const FIGHT_DROPS = 3;

export class MqttConnection extends EventEmitter<MqttConnectionEvents> {
  readonly #options: MqttConnectionOptions;
  readonly #log: Logger;
  readonly #retry: RetryTimer;
  readonly #stableMs: number;
  /** Connection problems are logged once per outage: cleared when the connection has proved itself. */
  readonly #outage = new OncePerCause();
  #client: MqttClient | undefined;
  #state: MqttConnectionState = 'disconnected';
  #since = new Date();
  #lastError: string | undefined;
  #protocolVersion: 4 | 5 = 5;
  #refusedTopics: string[] = [];
  #connectedAt = 0;
  /** Connections the broker closed within stableMs of accepting them, in a row. */
  #quickDrops = 0;
  #takeoverSaid = false;

  constructor(options: MqttConnectionOptions) {
    super();
    this.#options = options;
    this.#log = options.log;
    this.#retry = new RetryTimer(options.retry);
    this.#stableMs = options.stableMs ?? STABLE_MS;
  }

  get state(): MqttConnectionState {
    return this.#state;
  }

  /** Connects in the background; never throws and never waits for the broker. */
  start(): void {
    if (this.#client || this.#state === 'closed') return;
    this.#connect();
  }

  status(): MqttConnectionStatus {
    return {
      state: this.#state,
      since: this.#since.toISOString(),
      ...(this.#lastError && { lastError: this.#lastError }),
      protocolVersion: this.#protocolVersion,
      refusedTopics: [...this.#refusedTopics],
    };
  }

  /** Publishes at QoS 1; rejects when not connected. */
  async publish(topic: string, payload: string, properties: IClientPublishOptions['properties']): Promise<void> {
    const client = this.#client;
    if (!client || this.#state !== 'connected') throw new Error(`${this.#options.name}: not connected`);
    await client.publishAsync(topic, payload, { qos: 1, ...(properties && { properties }) });
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

  #connect(): void {
    const options = this.#options;
    this.#setState('connecting');
    const client = mqtt.connect(options.url, {
      ...options.client,
      protocolVersion: this.#protocolVersion,
      clean: true,
      ...(this.#protocolVersion === 5 && { properties: { maximumPacketSize: options.maxPacketBytes } }),
      // Reconnection is ours, with backoff: mqtt.js retries at a fixed period.
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      resubscribe: false,
    });
    this.#client = client;
    client.on('connect', () => this.#onConnect(client));
    client.on('message', (topic, payload, packet) => this.emit('message', topic, payload, packet));
    client.on('error', (err) => this.#onError(client, err));
    client.on('close', () => this.#onClose(client));
    client.on('disconnect', (packet) => {
      if (packet.reasonCode === SESSION_TAKEN_OVER) this.#takeoverSaid = true;
    });
  }

  #setState(state: MqttConnectionState): void {
    if (this.#state === state || this.#state === 'closed') return;
    this.#state = state;
    this.#since = new Date();
    this.emit('state', state);
  }

  #onConnect(client: MqttClient): void {
    // Nagle and delayed ACKs would add ~40–90 ms to every QoS 1 exchange.
    (client.stream as { setNoDelay?: (on: boolean) => void } | undefined)?.setNoDelay?.(true);
    const { topics, name } = this.#options;
    client.subscribe(topics, { qos: 1 }, (err, granted) => {
      if (client !== this.#client || this.#state === 'closed') return;
      // mqtt.js reports an MQTT 5 refusal (0x87 "not authorized") as an error, a 3.1.1 one (0x80) as a grant.
      this.#refusedTopics = err ? [...topics] : (granted ?? []).filter((grant) => grant.qos >= 0x80).map((grant) => grant.topic);
      if (this.#refusedTopics.length >= topics.length) {
        // Nothing would ever arrive: an error, retried with backoff (before: the relay stayed "connecting" for ever).
        this.#lastError = `the broker refused the subscription to ${this.#refusedTopics.join(', ')}${err ? ` (${this.#options.describeError(err)})` : ''}: check its ACL or the certificate's policy`;
        if (this.#outage.first('refused')) this.#log.error({ url: this.#logUrl(), topics: this.#refusedTopics }, `${name}: the broker refused every subscription; retrying with backoff`);
        client.stream.destroy();
        return;
      }
      if (this.#refusedTopics.length > 0 && this.#outage.first(`refused:${this.#refusedTopics.join(',')}`)) {
        this.#log.warn({ url: this.#logUrl(), topics: this.#refusedTopics }, `${name}: the broker refused these subscriptions (check its ACL)`);
      }
      if (!this.#fighting()) this.#lastError = undefined;
      this.#connectedAt = Date.now();
      this.#setState('connected');
      if (this.#outage.first('connected')) this.#log.info({ url: this.#logUrl(), topics, protocolVersion: this.#protocolVersion }, `${name} connected`);
      // Backoff and "said once" causes start over only once this connection has proved itself.
      this.#retry.connected(() => {
        this.#outage.clear();
        this.#quickDrops = 0;
        this.#takeoverSaid = false;
      }, this.#stableMs);
    });
  }

  #onError(client: MqttClient, err: Error & { code?: string | number }): void {
    if (client !== this.#client || this.#state === 'closed') return;
    if (this.#protocolVersion === 5 && this.#options.protocol === 'mqtt5-or-3.1.1' && err.code !== undefined && UNSUPPORTED_PROTOCOL.has(err.code)) {
      // The broker speaks only MQTT 3.1.1 (aedes, old mosquitto): no maximumPacketSize there, so
      // oversized messages are refused after they arrive.
      this.#protocolVersion = 4;
      this.#retry.reset();
      this.#log.info({ url: this.#logUrl() }, `${this.#options.name}: the broker speaks MQTT 3.1.1 only; using it (it cannot be asked to drop oversized messages)`);
      return;
    }
    const reason = this.#options.describeError(err);
    this.#lastError = reason;
    if (this.#outage.first(reason)) this.#log.warn({ url: this.#logUrl(), reason }, `${this.#options.name} broker problem: retrying with backoff`);
  }

  #onClose(client: MqttClient): void {
    if (client !== this.#client || this.#state === 'closed') return;
    if (this.#state === 'connected') this.#lostConnection();
    this.#setState('disconnected');
    this.#retry.schedule(() => {
      if (this.#state === 'closed' || this.#client !== client) return;
      client.removeAllListeners();
      this.#client = undefined;
      client.end(true);
      this.#connect();
    });
  }

  #lostConnection(): void {
    const { name } = this.#options;
    if (Date.now() - this.#connectedAt < this.#stableMs) this.#quickDrops += 1;
    if (this.#fighting()) {
      const clientId = this.#options.client.clientId;
      const fixed = this.#options.fixedClientIdHint;
      this.#lastError = `the broker closed this connection ${this.#quickDrops} times soon after accepting it${this.#takeoverSaid ? ' (session taken over)' : ''}`
        + (fixed !== undefined ? `: another client keeps connecting as ${clientId} — ${fixed}` : ': check the broker\'s log');
      if (this.#outage.first('fight')) this.#log.error({ url: this.#logUrl(), clientId }, `${name}: ${this.#lastError}`);
    } else {
      this.#lastError = 'the connection to the broker was lost';
      if (this.#outage.first('lost')) this.#log.warn({ url: this.#logUrl() }, `${name} connection lost: reconnecting`);
    }
  }

  /** Three connections in a row closed soon after working, or the broker said why. */
  #fighting(): boolean {
    return this.#quickDrops >= FIGHT_DROPS || (this.#takeoverSaid && this.#quickDrops >= 1);
  }

  #logUrl(): string {
    return this.#options.logUrl ?? this.#options.url;
  }
}
