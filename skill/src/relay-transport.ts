/**
 * The Lambda's side of the relay (docs/architecture.md "Relay: Alexa without an inbound port"): each signed
 * directive is published to `porchlight/<bridgeId>/directives` (MQTT 5, QoS 1) with this
 * function's own reply topic and a correlationData, and the bridge's reply is awaited there.
 *
 * The connection lives as long as the warm Lambda. A connection that may have died while the
 * Lambda was frozen is not trusted blindly: one that sat idle is replaced before use, and a
 * publish the broker does not acknowledge within PUBACK_MS is sent again on a fresh connection,
 * signed afresh (the bridge would refuse the same signature as a replay).
 */
import { randomBytes } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import { DeadlineError, MAX_REPLY_BYTES, ReplyTooLargeError, type BridgeReply } from './bridge-client.ts';
import { REPLY_SIGNATURE_HEADER } from './signature.ts';

export interface RelayTransportOptions {
  url: string;
  bridgeId: string;
  /** PEM text (Lambda env RELAY_CERT, RELAY_KEY, RELAY_CA). */
  cert: string;
  key: string;
  ca?: string;
}

/** A connection idle this long may have been cut while the Lambda was frozen: open a new one. */
const MAX_IDLE_MS = 50_000;
/** The broker acknowledges a QoS 1 publish in milliseconds; silence this long means a dead connection. */
const PUBACK_MS = 1500;

export interface RelayTransport {
  /**
   * `genuine` tells the bridge's reply from anyone else's on the broker: a reply that fails it is
   * ignored and the wait goes on (before: the first reply with the correlationData won, so a third
   * client on a broker without ACLs turned 6 of 10 directives into INTERNAL_ERROR).
   */
  post(body: string, sign: () => Record<string, string>, deadlineMs: number, genuine?: (reply: BridgeReply) => boolean): Promise<BridgeReply>;
  stats(): { connectionsOpened: number; protocol: 'mqtt' | undefined };
  close(): Promise<void>;
}

interface Connection {
  client: MqttClient;
  ready: Promise<void>;
}

function timeout<T>(promise: Promise<T>, ms: number, error: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(error()), Math.max(0, ms));
    }),
  ]).finally(() => clearTimeout(timer));
}

export function createRelayTransport(options: RelayTransportOptions): RelayTransport {
  if (!/^mqtts:\/\//.test(options.url)) throw new Error('RELAY_URL must be an mqtts:// URL (e.g. mqtts://<id>-ats.iot.<region>.amazonaws.com:8883)');
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(options.bridgeId)) throw new Error('RELAY_BRIDGE_ID must be 1–64 letters, digits, _ or - (the bridge\'s relay.bridgeId)');
  if (!options.cert || !options.key) throw new Error('RELAY_CERT and RELAY_KEY (PEM) are needed with RELAY_URL');
  const clientId = `porchlight-${options.bridgeId}-skill-${randomBytes(6).toString('hex')}`;
  const replyTopic = `porchlight/${options.bridgeId}/replies/${clientId}`;
  const directivesTopic = `porchlight/${options.bridgeId}/directives`;
  const waiting = new Map<string, { resolve: (reply: BridgeReply | ReplyTooLargeError) => void; genuine?: (reply: BridgeReply) => boolean }>();
  let connection: Connection | undefined;
  let connectionsOpened = 0;
  let lastUsed = 0;

  const drop = () => {
    const old = connection;
    connection = undefined;
    old?.client.end(true);
  };

  const open = (): Connection => {
    connectionsOpened += 1;
    const client = mqtt.connect(options.url, {
      protocolVersion: 5,
      clientId,
      cert: options.cert,
      key: options.key,
      ...(options.ca && { ca: options.ca }),
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: 5000,
    });
    client.on('message', (_topic, payload, packet) => {
      const id = packet.properties?.correlationData?.toString('hex');
      const signature = packet.properties?.userProperties?.[REPLY_SIGNATURE_HEADER];
      const wait = id ? waiting.get(id) : undefined;
      if (!wait) return;
      if (payload.length > MAX_REPLY_BYTES) {
        if (!wait.genuine) wait.resolve(new ReplyTooLargeError());
        return;
      }
      const reply: BridgeReply = { status: 200, body: payload.toString('utf8'), ...(signature && { replySignature: Array.isArray(signature) ? signature[0] : signature }) };
      if (wait.genuine && !wait.genuine(reply)) return;
      wait.resolve(reply);
    });
    // Errors surface through `ready` or a missing PUBACK; an unhandled 'error' would crash the Lambda.
    client.on('error', () => {});
    const ready = new Promise<void>((resolve, reject) => {
      client.once('connect', () => {
        (client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
        client.subscribe(replyTopic, { qos: 1 }, (err, granted) => {
          if (err) return reject(err);
          if (granted?.some((grant) => grant.qos >= 128)) return reject(new Error(`the broker refused the subscription to ${replyTopic} (check the skill certificate's policy)`));
          resolve();
        });
      });
      client.once('error', reject);
      client.once('close', () => reject(new Error('the broker closed the connection')));
    });
    ready.catch(() => {});
    return { client, ready };
  };

  const usable = (): Connection => {
    // Before first use a connection may still be connecting; after it, only a live, recent one is trusted.
    const stale = lastUsed > 0 && (!connection?.client.connected || Date.now() - lastUsed > MAX_IDLE_MS);
    if (!connection || connection.client.disconnecting || stale) {
      drop();
      connection = open();
    }
    return connection;
  };

  return {
    stats: () => ({ connectionsOpened, protocol: connection ? 'mqtt' : undefined }),
    async close() {
      const old = connection;
      connection = undefined;
      await old?.client.endAsync(true).catch(() => {});
    },
    async post(body, sign, deadlineMs, genuine) {
      const deadline = Date.now() + deadlineMs;
      const left = () => deadline - Date.now();
      const id = randomBytes(16).toString('hex');
      const reply = new Promise<BridgeReply | ReplyTooLargeError>((resolve) => waiting.set(id, { resolve, ...(genuine && { genuine }) }));
      try {
        for (let attempt = 1; ; attempt += 1) {
          const current = usable();
          try {
            await timeout(current.ready, left(), () => new DeadlineError(deadlineMs));
            const headers = sign();
            lastUsed = Date.now();
            await timeout(current.client.publishAsync(directivesTopic, body, {
              qos: 1,
              properties: {
                responseTopic: replyTopic,
                correlationData: Buffer.from(id, 'hex'),
                contentType: 'application/json',
                // The bridge's own window is 300 s; a directive Alexa gave up on long ago is worthless.
                messageExpiryInterval: 30,
                userProperties: { 'x-porchlight-timestamp': headers['x-porchlight-timestamp']!, 'x-porchlight-signature': headers['x-porchlight-signature']! },
              },
            }), Math.min(PUBACK_MS, left()), () => new Error('the broker did not acknowledge the directive'));
            break;
          } catch (err) {
            if (err instanceof DeadlineError || attempt >= 2 || left() <= 0) throw err;
            drop(); // dead or dying: the next attempt opens a fresh connection and signs again
          }
        }
        const answer = await timeout(reply, left(), () => new DeadlineError(deadlineMs));
        lastUsed = Date.now();
        if (answer instanceof ReplyTooLargeError) throw answer;
        return answer;
      } finally {
        waiting.delete(id);
      }
    },
  };
}
