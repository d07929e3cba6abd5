import { EventEmitter } from 'node:events';
import mqtt, { type IPublishPacket, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { AlexaError, buildErrorResponse, salvageReplyTo, type AlexaEvent } from '../alexa/messages.ts';
import { OncePerCause, RetryTimer, STABLE_MS } from '../events/backoff.ts';
import { ReplayGuard, REPLY_SIGNATURE_HEADER, SIGNATURE_HEADER, signReply, TIMESTAMP_HEADER, verifySignature } from '../http/signature.ts';
import { SampledLog } from '../util/sampled-log.ts';
import { directivesTopic, isReplyTopic, bridgeClientId } from './topics.ts';

/**
 * The relay (DESIGN.md "Relay: Alexa without an inbound port"): the bridge dials out to an MQTT 5
 * broker over TLS with its client certificate, takes the skill Lambda's signed directives from
 * `porchlight/<bridgeId>/directives`, checks each exactly as POST /alexa does (window, replay
 * guard shared with it, constant-time compare), runs it through the same dispatcher and publishes
 * the signed reply to the message's responseTopic with its correlationData. Anything unsigned,
 * forged, replayed or older than the window gets nothing: nobody else on the broker can make the
 * bridge act or answer.
 */

export interface RelayOptions {
  url: string;
  bridgeId: string;
  /** PEM text of the client certificate and key, and an optional extra CA. Never logged. */
  cert: string;
  key: string;
  ca?: string;
  proxySecret: string;
  dispatch: (directive: unknown) => Promise<AlexaEvent>;
  /** Shared with POST /alexa: a directive seen on one transport is a replay on the other. */
  replays: ReplayGuard;
  log: Logger;
  nowSec?: () => number;
  retryInitialMs?: number;
  retryMaxMs?: number;
}

export type RelayState = 'connecting' | 'connected' | 'disconnected' | 'closed';

export interface RelayStatus {
  state: RelayState;
  url: string;
  bridgeId: string;
  since: string;
  lastError?: string;
  /** Directives answered. */
  served: number;
  /** Messages refused (unsigned, forged, replayed, stale, no reply topic). */
  refused: number;
}

export interface RelayEvents {
  state: [RelayState];
  served: [];
  refused: [reason: string];
}

const MAX_DIRECTIVE_BYTES = 64 * 1024;
/** MQTT 5 DISCONNECT reason 0x8E: another connection with the same client id took over. */
const SESSION_TAKEN_OVER = 0x8e;

function userProperty(packet: IPublishPacket, name: string): string | undefined {
  const value = packet.properties?.userProperties?.[name];
  return Array.isArray(value) ? value[0] : value;
}

/** What went wrong connecting, in words a user can act on (no certificate material in it). */
export function describeRelayError(err: Error & { code?: string | number }): string {
  const code = String(err.code ?? '');
  if (code === 'ECONNREFUSED') return 'the broker refused the connection (is the URL right, is it running?)';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'the broker\'s host name does not resolve';
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY/.test(code)) return `the broker's certificate is not trusted (${code}); set relay.ca when it is self-signed`;
  if (/certificate|handshake|alert/i.test(err.message)) return `TLS handshake failed: ${err.message}`;
  if (code === '135' || /Not authorized/i.test(err.message)) return 'the broker did not authorise this certificate (check its policy)';
  return err.message || code || 'unknown error';
}

export class RelayClient extends EventEmitter<RelayEvents> {
  readonly #options: RelayOptions;
  readonly #log: Logger;
  readonly #refusals: SampledLog;
  readonly #outage = new OncePerCause();
  /** Connections the broker closed soon after accepting them, in a row (the client-id fight, a broker that refuses us). */
  #quickDrops = 0;
  #connectedAt = 0;
  /** The broker said so (MQTT 5 DISCONNECT 0x8E, as AWS IoT Core does; mosquitto just closes). */
  #takeoverSaid = false;
  #client: MqttClient | undefined;
  #state: RelayState = 'disconnected';
  #since = new Date();
  #lastError: string | undefined;
  #served = 0;
  #refused = 0;
  readonly #retry: RetryTimer;

  constructor(options: RelayOptions) {
    super();
    this.#options = options;
    this.#retry = new RetryTimer(options.retryInitialMs, options.retryMaxMs);
    this.#log = options.log;
    this.#refusals = new SampledLog(options.log);
  }

  /** Connects in the background; never throws and never waits for the broker. */
  start(): void {
    if (this.#client || this.#state === 'closed') return;
    const { url, cert, key, ca, bridgeId } = this.#options;
    this.#setState('connecting');
    this.#client = mqtt.connect(url, {
      protocolVersion: 5,
      clientId: bridgeClientId(bridgeId),
      cert,
      key,
      ...(ca && { ca }),
      clean: true,
      // MQTT 5: the broker must not send us anything larger (mosquitto drops it), so an oversized
      // publish never reaches memory here (a 250 MB one once took the bridge to 675 MB before the
      // 64 KiB check could refuse it).
      properties: { maximumPacketSize: MAX_DIRECTIVE_BYTES + 6 * 1024 },
      // Reconnection is ours, with backoff: mqtt.js retries at a fixed period.
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      resubscribe: false,
    });
    this.#client.on('connect', () => this.#onConnect());
    this.#client.on('message', (_topic, payload, packet) => this.#onMessage(payload, packet));
    this.#client.on('error', (err) => this.#onError(err));
    this.#client.on('close', () => this.#onClose());
    this.#client.on('disconnect', (packet) => this.#onDisconnect(packet.reasonCode));
  }

  /** The broker said why it closed the connection (MQTT 5 DISCONNECT). */
  #onDisconnect(reasonCode: number | undefined): void {
    if (reasonCode === SESSION_TAKEN_OVER) this.#takeoverSaid = true;
  }

  /** Three connections in a row closed within a minute of working, or the broker said why. */
  #fighting(): boolean {
    return this.#quickDrops >= 3 || (this.#takeoverSaid && this.#quickDrops >= 1);
  }

  status(): RelayStatus {
    return {
      state: this.#state,
      url: this.#options.url,
      bridgeId: this.#options.bridgeId,
      since: this.#since.toISOString(),
      ...(this.#lastError && { lastError: this.#lastError }),
      served: this.#served,
      refused: this.#refused,
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

  #setState(state: RelayState): void {
    if (this.#state === state || this.#state === 'closed') return;
    this.#state = state;
    this.#since = new Date();
    this.emit('state', state);
  }

  #onConnect(): void {
    // Nagle and delayed ACKs would add ~40–90 ms to every QoS 1 exchange (DESIGN.md).
    (this.#client?.stream as { setNoDelay?: (on: boolean) => void } | undefined)?.setNoDelay?.(true);
    const topic = directivesTopic(this.#options.bridgeId);
    // A clean session each time: subscribe again after every reconnect.
    this.#client?.subscribe(topic, { qos: 1 }, (err, granted) => {
      if (err) return this.#onError(err);
      if (granted?.some((grant) => grant.qos >= 128)) {
        this.#lastError = `the broker refused the subscription to ${topic} (check the certificate's policy)`;
        this.#log.error({ topic }, 'relay: the broker refused the directive subscription');
        return;
      }
      if (!this.#fighting()) this.#lastError = undefined;
      this.#connectedAt = Date.now();
      this.#setState('connected');
      if (this.#outage.first('connected')) this.#log.info({ url: this.#options.url, topic }, 'relay connected: Alexa directives arrive through the broker');
      // Backoff and "said once" causes start over only once this connection has proved itself.
      this.#retry.connected(() => {
        this.#outage.clear();
        this.#quickDrops = 0;
        this.#takeoverSaid = false;
      });
    });
  }

  #onError(err: Error & { code?: string | number }): void {
    if (this.#state === 'closed') return;
    const reason = describeRelayError(err);
    this.#lastError = reason;
    if (this.#outage.first(reason)) this.#log.warn({ url: this.#options.url, reason }, 'relay broker problem: retrying with backoff');
  }

  #onClose(): void {
    if (this.#state === 'closed') return;
    if (this.#state === 'connected') {
      if (Date.now() - this.#connectedAt < STABLE_MS) this.#quickDrops += 1;
      if (this.#fighting()) {
        const clientId = bridgeClientId(this.#options.bridgeId);
        this.#lastError = `the broker closed this bridge's connection ${this.#quickDrops} times soon after accepting it${this.#takeoverSaid ? ' (session taken over)' : ''}: another client keeps connecting as ${clientId} — two bridges with the same relay certificate and bridgeId? Give each its own (porchlight relay setup --bridge-id …)`;
        if (this.#outage.first('takeover')) this.#log.error({ url: this.#options.url, clientId }, this.#lastError);
      } else {
        this.#lastError = 'the connection to the broker was lost';
        if (this.#outage.first('lost')) this.#log.warn({ url: this.#options.url }, 'relay connection lost: reconnecting');
      }
    }
    this.#setState('disconnected');
    this.#retry.schedule(() => {
      if (this.#state === 'closed' || !this.#client) return;
      this.#setState('connecting');
      this.#client.reconnect();
    });
  }

  #refuse(reason: string): void {
    this.#refused += 1;
    this.#refusals.warn(reason, { reason }, 'relay: refused a directive message');
    this.emit('refused', reason);
  }

  #onMessage(payload: Buffer, packet: IPublishPacket): void {
    const responseTopic = packet.properties?.responseTopic;
    const correlationData = packet.properties?.correlationData;
    if (!responseTopic || !isReplyTopic(this.#options.bridgeId, responseTopic)) return this.#refuse('no-reply-topic');
    if (payload.length > MAX_DIRECTIVE_BYTES) return this.#refuse('too-large');
    const now = (this.#options.nowSec ?? (() => Math.floor(Date.now() / 1000)))();
    const check = verifySignature(
      this.#options.proxySecret,
      { timestamp: userProperty(packet, TIMESTAMP_HEADER), signature: userProperty(packet, SIGNATURE_HEADER), body: payload },
      now,
    );
    if (!check.ok) return this.#refuse(check.reason);
    if (!this.#options.replays.accept(check.mac, check.timestamp, now)) return this.#refuse('replay');
    this.#answer(payload, check.mac, responseTopic, correlationData).catch((err: unknown) => {
      this.#log.error({ err }, 'relay: the reply could not be published');
    });
  }

  async #answer(payload: Buffer, mac: string, responseTopic: string, correlationData: Buffer | undefined): Promise<void> {
    let directive: unknown;
    let event: AlexaEvent;
    try {
      directive = JSON.parse(payload.toString('utf8'));
      event = await this.#options.dispatch(directive);
    } catch (err) {
      this.#log.error({ err }, 'relay: dispatch failed');
      event = buildErrorResponse(crypto.randomUUID(), salvageReplyTo(directive), new AlexaError(directive === undefined ? 'INVALID_DIRECTIVE' : 'INTERNAL_ERROR', directive === undefined ? 'the directive is not JSON' : 'porchlight failed to handle this directive'));
    }
    const text = JSON.stringify(event);
    const client = this.#client;
    if (!client || this.#state === 'closed') return;
    await client.publishAsync(responseTopic, text, {
      qos: 1,
      properties: {
        ...(correlationData && { correlationData }),
        contentType: 'application/json',
        userProperties: { [REPLY_SIGNATURE_HEADER]: signReply(this.#options.proxySecret, mac, text) },
      },
    });
    this.#served += 1;
    this.emit('served');
  }
}
