/**
 * The skill's AWS Lambda (Node 22 runtime, ESM; handler `index.handler`): a thin proxy that
 * forwards every Alexa directive, signed, to the bridge's `POST /alexa` (docs/architecture.md "HTTP surface")
 * and hands the bridge's reply back to Alexa. When the bridge cannot answer, it answers for it with
 * a valid ErrorResponse — Alexa must never get silence or a Lambda crash.
 *
 * skill/build.ts bundles this file and its siblings in skill/src/ alone into one .mjs: they may
 * import Node's built-ins only, never ../../src (the build refuses anything else). That is why
 * signature.ts and alexa-errors.ts duplicate a few lines of src/signing/signature.ts and
 * src/alexa/messages.ts. The connection to the bridge lives in bridge-client.ts.
 *
 * Environment: BRIDGE_URL (https://…, optionally with a base path; http:// only with
 * ALLOW_INSECURE_BRIDGE=1), PROXY_SECRET (the bridge's server.proxySecret) and BRIDGE_CA (PEM, a
 * CA to trust for a bridge with a self-signed certificate). Or, for a bridge with no inbound port,
 * the relay through an MQTT 5 broker (relay-transport.ts): RELAY_URL (mqtts://…), RELAY_BRIDGE_ID,
 * RELAY_CERT and RELAY_KEY (PEM), RELAY_CA (optional PEM); BRIDGE_URL is then not needed. The function's timeout must exceed the 7 s forward deadline
 * (Lambda's default of 3 s is too short).
 */
import { errorResponse } from './alexa-errors.ts';
import { createBridgeClient, DeadlineError, ReplyTooLargeError, type BridgeReply, type ProxyStats } from './bridge-client.ts';
import { field, short } from './json-fields.ts';
import { createRelayTransport, type RelayTransportOptions } from './relay-transport.ts';
import { replySignedByBridge, signatureHeaders } from './signature.ts';

export { errorResponse } from './alexa-errors.ts';
export type { ProxyStats } from './bridge-client.ts';

export interface ProxyOptions {
  /** Where POST /alexa is; ignored with `relay`. */
  bridgeUrl: string;
  /** Reach the bridge through an MQTT 5 broker instead of HTTP. */
  relay?: RelayTransportOptions;
  proxySecret: string;
  /** The whole forward, connecting included. Alexa waits about 8 s for the Lambda. */
  deadlineMs?: number;
  /** One JSON object per line; console.log (CloudWatch) by default. */
  log?: (line: object) => void;
  /** An extra CA (PEM) to trust besides Node's roots, for a bridge with a self-signed certificate. */
  ca?: string;
  /**
   * Allow an http:// BRIDGE_URL. Off by default: anyone on the path would read the user's bearer
   * token and the Echo's SDP. For a bridge reached over a private network only.
   */
  allowInsecure?: boolean;
}

export interface Proxy {
  /** Never throws: resolves with the bridge's reply or an ErrorResponse standing in for it. */
  handle(event: unknown, options?: { deadlineMs?: number }): Promise<unknown>;
  close(): Promise<void>;
  stats(): ProxyStats;
}

export const DEFAULT_DEADLINE_MS = 7000;

// ---------------------------------------------------------------------------------------------
// Lambda entry point

/**
 * One proxy per Lambda execution environment, in module scope on purpose: Lambda keeps the
 * environment (and this module) warm between invocations, so the HTTP/2 session or keep-alive
 * socket the first invocation opened carries the next ones without a new TCP + TLS handshake —
 * on a cold home uplink that handshake is a good part of Alexa's budget. It is rebuilt only if the
 * environment changes, which happens in tests, never in a deployed function.
 */
let shared: { key: string; proxy: Proxy } | undefined;

export async function handler(event: unknown, context?: { getRemainingTimeInMillis?: () => number }): Promise<unknown> {
  const bridgeUrl = process.env.BRIDGE_URL ?? '';
  const proxySecret = process.env.PROXY_SECRET ?? '';
  const ca = process.env.BRIDGE_CA || undefined;
  const allowInsecure = process.env.ALLOW_INSECURE_BRIDGE === '1';
  const relay = relayFromEnv(process.env);
  const key = `${bridgeUrl}\n${proxySecret}\n${ca ?? ''}\n${allowInsecure}\n${relay ? JSON.stringify(relay) : ''}`;
  if (shared?.key !== key) {
    const previous = shared;
    shared = undefined;
    void previous?.proxy.close();
    try {
      shared = { key, proxy: createProxy({ bridgeUrl, proxySecret, allowInsecure, ...(ca && { ca }), ...(relay && { relay }) }) };
    } catch (err) {
      consoleLog({ level: 'error', msg: `the Lambda is misconfigured: ${(err as Error).message}`, ...describeEvent(event) });
      return errorResponse(event, 'INTERNAL_ERROR', 'the porchlight skill Lambda is misconfigured');
    }
  }
  // Stay inside the function's own timeout too, should it be set below the deadline.
  const remaining = context?.getRemainingTimeInMillis?.();
  return shared.proxy.handle(event, remaining ? { deadlineMs: Math.min(DEFAULT_DEADLINE_MS, remaining - 250) } : {});
}

/** Closes the module-level proxy's connections (tests; a deployed Lambda never needs it). */
export async function closeHandler(): Promise<void> {
  const previous = shared;
  shared = undefined;
  await previous?.proxy.close();
}

function relayFromEnv(env: NodeJS.ProcessEnv): RelayTransportOptions | undefined {
  if (!env.RELAY_URL) return undefined;
  return { url: env.RELAY_URL, bridgeId: env.RELAY_BRIDGE_ID || 'home', cert: env.RELAY_CERT ?? '', key: env.RELAY_KEY ?? '', ...(env.RELAY_CA && { ca: env.RELAY_CA }) };
}

// ---------------------------------------------------------------------------------------------
// The proxy

/** How a signed directive reaches the bridge: POST /alexa, or the relay's broker. */
interface Transport {
  /** `sign` is called for each attempt: a retry is signed afresh. */
  /** `genuine` (the relay) waits past replies the bridge did not sign. */
  post(body: string, sign: () => Record<string, string>, deadlineMs: number, genuine?: (reply: BridgeReply) => boolean): Promise<BridgeReply>;
  stats(): ProxyStats;
  close(): Promise<void>;
}

function httpTransport(options: ProxyOptions): Transport {
  let url: URL;
  try {
    url = new URL(options.bridgeUrl);
  } catch {
    throw new Error('BRIDGE_URL is not a URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('BRIDGE_URL must start with https://');
  if (url.protocol === 'http:' && !options.allowInsecure) {
    throw new Error('BRIDGE_URL is http://: the bearer token and the camera SDP would cross the internet readable; use https:// (BRIDGE_CA for a self-signed certificate), or set ALLOW_INSECURE_BRIDGE=1 for a bridge on a private network');
  }
  const path = `${url.pathname.replace(/\/+$/, '')}/alexa`;
  const bridge = createBridgeClient(url, path, options.ca);
  return {
    stats: () => bridge.stats(),
    close: () => bridge.close(),
    post: (body, sign, deadlineMs) => bridge.post(body, { 'content-type': 'application/json', ...sign() }, deadlineMs),
  };
}

export function createProxy(options: ProxyOptions): Proxy {
  if (!options.proxySecret) throw new Error('PROXY_SECRET is not set');
  const transport: Transport = options.relay ? createRelayTransport(options.relay) : httpTransport(options);
  const log = options.log ?? consoleLog;
  const deadlineMs = options.deadlineMs ?? DEFAULT_DEADLINE_MS;

  return {
    stats: () => transport.stats(),
    close: () => transport.close(),
    async handle(event, handleOptions = {}) {
      const started = performance.now();
      const about = describeEvent(event);
      const finish = (level: string, msg: string, reply: unknown, extra: object = {}) => {
        log({ level, msg, ...about, ...extra, ms: Math.round(performance.now() - started) });
        return reply;
      };
      if (!about.namespace || !about.name) {
        return finish('error', 'the event is not an Alexa directive (no directive.header); the bridge was not called',
          errorResponse(event, 'INVALID_DIRECTIVE', 'the event is not an Alexa directive'));
      }

      // These exact bytes are what the signature covers and what the bridge receives. (Lambda
      // hands over parsed JSON, so this cannot throw on a real event.)
      const body = JSON.stringify(event);
      let mac = '';
      const sign = () => {
        const signed = signatureHeaders(options.proxySecret, body);
        mac = signed.mac;
        return signed.headers;
      };
      let reply: BridgeReply;
      try {
        reply = await transport.post(body, sign, handleOptions.deadlineMs ?? deadlineMs,
          (candidate) => replySignedByBridge(options.proxySecret, mac, candidate.body, candidate.replySignature));
      } catch (err) {
        const error = err as Error & { code?: string };
        if (error instanceof ReplyTooLargeError) {
          return finish('error', `${error.message}: is BRIDGE_URL pointing at porchlight?`, errorResponse(event, 'INTERNAL_ERROR', 'porchlight sent an unreadable reply'), { outcome: 'INTERNAL_ERROR' });
        }
        const timedOut = error instanceof DeadlineError;
        return finish('error', timedOut ? 'the bridge did not answer within the deadline' : `cannot reach the bridge: ${error.message}`,
          errorResponse(event, 'BRIDGE_UNREACHABLE', 'porchlight, the camera bridge, cannot be reached'),
          { outcome: 'BRIDGE_UNREACHABLE', ...(error.code && { error: error.code }) });
      }

      const { status } = reply;
      if (status !== 200) {
        return finish('error', describeRefusal(reply), errorResponse(event, 'INTERNAL_ERROR', 'porchlight refused the request'), { outcome: 'INTERNAL_ERROR', status });
      }
      // Only the bridge, holding the secret, can sign an answer to this request's signature.
      if (!replySignedByBridge(options.proxySecret, mac, reply.body, reply.replySignature)) {
        return finish('error', 'the reply is not signed by the bridge: is BRIDGE_URL pointing at porchlight, and does PROXY_SECRET equal its server.proxySecret?',
          errorResponse(event, 'INTERNAL_ERROR', 'porchlight sent an unsigned reply'), { outcome: 'INTERNAL_ERROR', status });
      }
      let json: unknown;
      try {
        json = JSON.parse(reply.body);
      } catch {
        return finish('error', 'the bridge answered 200 with a body that is not JSON: is BRIDGE_URL pointing at porchlight?',
          errorResponse(event, 'INTERNAL_ERROR', 'porchlight sent an unreadable reply'), { outcome: 'INTERNAL_ERROR', status });
      }
      const header = field(field(json, 'event'), 'header');
      if (typeof field(header, 'name') !== 'string') {
        return finish('error', 'the bridge answered 200 with JSON that is not an Alexa event',
          errorResponse(event, 'INTERNAL_ERROR', 'porchlight sent an unreadable reply'), { outcome: 'INTERNAL_ERROR', status });
      }
      const type = field(field(field(json, 'event'), 'payload'), 'type');
      return finish('info', 'forwarded', json, {
        status,
        reply: `${short(field(header, 'namespace'))}.${short(field(header, 'name'))}`,
        // An ErrorResponse's type (ENDPOINT_UNREACHABLE…) is the useful part; it carries no secret.
        ...(field(header, 'name') === 'ErrorResponse' && { errorType: short(type) }),
      });
    },
  };
}

function describeRefusal({ status, body }: BridgeReply): string {
  // The bridge's refusals are small JSON objects of its own ({error, reason}); only the reason word
  // is logged, so nothing the bridge echoes can leak into the log.
  const reason = short(field(safeParse(body), 'reason'));
  const because = reason && /^[a-z]{1,20}$/.test(reason) ? ` (reason: ${reason})` : '';
  if (status === 401 && (reason === 'stale' || reason === 'future')) {
    return `the bridge refused the signature${because}: the clocks of the Lambda and the bridge differ by more than 300 s`;
  }
  if (status === 401 && reason === 'replay') return `the bridge refused the request as a replay${because}`;
  if (status === 401) {
    return `the bridge refused the signature${because}: PROXY_SECRET is wrong — it must equal the bridge's server.proxySecret (dataDir/secrets.json)`;
  }
  if (status === 413) return 'the bridge refused the directive as larger than 64 KiB';
  return `the bridge answered HTTP ${status} instead of 200`;
}

/** What may be logged about a directive: never its tokens, payload or correlationToken. */
function describeEvent(event: unknown): { namespace?: string; name?: string; messageId?: string } {
  const header = field(field(event, 'directive'), 'header');
  const namespace = short(field(header, 'namespace'));
  const name = short(field(header, 'name'));
  const messageId = short(field(header, 'messageId'));
  return { ...(namespace && { namespace }), ...(name && { name }), ...(messageId && { messageId }) };
}

function consoleLog(line: object): void {
  console.log(JSON.stringify(line));
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
