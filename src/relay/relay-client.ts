import { EventEmitter } from 'node:events';
import type { IPublishPacket } from 'mqtt';
import type { Logger } from 'pino';
import type { AlexaEvent } from '../alexa/messages.ts';
import { handleSignedDirective } from '../signing/signed-directive.ts';
import { REPLY_SIGNATURE_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, type ReplayGuard } from '../signing/signature.ts';
import { MqttConnection, type MqttConnectionState } from '../util/mqtt-connection.ts';
import type { Backoff } from '../util/retry.ts';
import { SampledLog } from '../util/sampled-log.ts';
import { directivesTopic, isReplyTopic, bridgeClientId } from './topics.ts';

/**
 * The relay (docs/architecture.md "Relay: Alexa without an inbound port"): the bridge dials out to an MQTT 5
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
  /** Reconnect backoff (default 1 s doubling to 60 s). */
  retry?: Backoff;
}

export type RelayState = MqttConnectionState;

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
  readonly #connection: MqttConnection;
  #served = 0;
  #refused = 0;

  constructor(options: RelayOptions) {
    super();
    this.#options = options;
    this.#log = options.log;
    this.#refusals = new SampledLog(options.log);
    const { url, cert, key, ca, bridgeId } = options;
    this.#connection = new MqttConnection({
      name: 'relay',
      url,
      client: { clientId: bridgeClientId(bridgeId), cert, key, ...(ca && { ca }) },
      topics: [directivesTopic(bridgeId)],
      maxPacketBytes: MAX_DIRECTIVE_BYTES + 6 * 1024,
      // Response topics and correlation data are MQTT 5.
      protocol: 'mqtt5',
      describeError: describeRelayError,
      fixedClientIdHint: 'two bridges with the same relay certificate and bridgeId? Give each its own (porchlight relay setup --bridge-id …)',
      log: options.log,
      ...(options.retry && { retry: options.retry }),
    });
    this.#connection.on('state', (state) => this.emit('state', state));
    this.#connection.on('message', (_topic, payload, packet) => this.#onMessage(payload, packet));
  }

  /** Connects in the background; never throws and never waits for the broker. */
  start(): void {
    this.#connection.start();
  }

  status(): RelayStatus {
    const { state, since, lastError } = this.#connection.status();
    return {
      state,
      url: this.#options.url,
      bridgeId: this.#options.bridgeId,
      since,
      ...(lastError && { lastError }),
      served: this.#served,
      refused: this.#refused,
    };
  }

  /** Idempotent. */
  async close(): Promise<void> {
    await this.#connection.close();
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
    this.#answer(payload, packet, responseTopic, correlationData).catch((err: unknown) => {
      this.#log.error({ err }, 'relay: the reply could not be published');
    });
  }

  async #answer(payload: Buffer, packet: IPublishPacket, responseTopic: string, correlationData: Buffer | undefined): Promise<void> {
    const { proxySecret, replays, dispatch } = this.#options;
    const now = (this.#options.nowSec ?? (() => Math.floor(Date.now() / 1000)))();
    const outcome = await handleSignedDirective(
      { proxySecret, replays, dispatch, log: this.#log },
      { timestamp: userProperty(packet, TIMESTAMP_HEADER), signature: userProperty(packet, SIGNATURE_HEADER), body: payload },
      now,
    );
    // Unsigned, forged, stale or replayed: no answer at all, so nobody else on the broker can make the bridge speak.
    if (outcome.kind === 'refused') return this.#refuse(outcome.reason);
    if (this.#connection.state === 'closed') return;
    await this.#connection.publish(responseTopic, outcome.reply.text, {
      ...(correlationData && { correlationData }),
      contentType: 'application/json',
      userProperties: { [REPLY_SIGNATURE_HEADER]: outcome.reply.signature },
    });
    this.#served += 1;
    this.emit('served');
  }
}
