/**
 * The skill's AWS Lambda (Node 22 runtime, ESM; handler `index.handler`): a thin proxy that
 * forwards every Alexa directive, signed, to the bridge's `POST /alexa` (DESIGN.md "HTTP surface")
 * and hands the bridge's reply back to Alexa. When the bridge cannot answer, it answers for it with
 * a valid ErrorResponse — Alexa must never get silence or a Lambda crash.
 *
 * skill/build.ts bundles this file alone into one .mjs: it may import Node's built-ins only, never
 * ../../src (the build refuses anything else). That is why the few lines of HMAC and error-reply
 * code below duplicate src/http/signature.ts and src/alexa/messages.ts.
 *
 * Environment: BRIDGE_URL (https://… or http://…, optionally with a base path) and PROXY_SECRET
 * (the bridge's server.proxySecret). The function's timeout must exceed the 7 s forward deadline
 * (Lambda's default of 3 s is too short).
 */
import { createHmac, randomUUID } from 'node:crypto';
import { Agent as HttpAgent, request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { connect as http2Connect, constants as h2, type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import { isIP, type Socket } from 'node:net';
import { connect as tlsConnect, rootCertificates, type TLSSocket } from 'node:tls';

export interface ProxyOptions {
  bridgeUrl: string;
  proxySecret: string;
  /** The whole forward, connecting included. Alexa waits about 8 s for the Lambda. */
  deadlineMs?: number;
  /** One JSON object per line; console.log (CloudWatch) by default. */
  log?: (line: object) => void;
  /** An extra CA (PEM) to trust besides Node's roots, for a bridge with a self-signed certificate. */
  ca?: string;
}

export interface ProxyStats {
  /** TCP (and TLS) connections opened to the bridge; stays 1 while one is reused. */
  connectionsOpened: number;
  /** What the last connection negotiated. */
  protocol: 'h2' | 'http/1.1' | undefined;
}

export interface Proxy {
  /** Never throws: resolves with the bridge's reply or an ErrorResponse standing in for it. */
  handle(event: unknown, options?: { deadlineMs?: number }): Promise<unknown>;
  close(): Promise<void>;
  stats(): ProxyStats;
}

export const DEFAULT_DEADLINE_MS = 7000;
/**
 * Reconnect rather than reuse a connection idle longer than this. The bridge (fastify) closes idle
 * HTTP/2 sessions and keep-alive sockets after 72 s; a Lambda frozen across that moment would
 * otherwise write its next request into a connection the bridge is closing.
 */
const MAX_IDLE_MS = 50_000;
const ENDPOINT_ID = /^[a-zA-Z0-9_\-=#;:?@&]{1,256}$/;

// ---------------------------------------------------------------------------------------------
// Lambda entry point

/**
 * One proxy per Lambda execution environment, in module scope on purpose: Lambda keeps the
 * environment (and this module) warm between invocations, so the HTTP/2 session or keep-alive
 * socket the first invocation opened carries the next ones without a new TCP + TLS handshake —
 * on a cold home uplink that handshake is a good part of Alexa's budget. It is rebuilt only if the
 * environment changes, which happens in tests, never in a deployed function.
 */
let shared: { bridgeUrl: string; proxySecret: string; proxy: Proxy } | undefined;

export async function handler(event: unknown, context?: { getRemainingTimeInMillis?: () => number }): Promise<unknown> {
  const bridgeUrl = process.env.BRIDGE_URL ?? '';
  const proxySecret = process.env.PROXY_SECRET ?? '';
  if (shared?.bridgeUrl !== bridgeUrl || shared.proxySecret !== proxySecret) {
    const previous = shared;
    shared = undefined;
    void previous?.proxy.close();
    try {
      shared = { bridgeUrl, proxySecret, proxy: createProxy({ bridgeUrl, proxySecret }) };
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

// ---------------------------------------------------------------------------------------------
// The proxy

export function createProxy(options: ProxyOptions): Proxy {
  if (!options.proxySecret) throw new Error('PROXY_SECRET is not set');
  let url: URL;
  try {
    url = new URL(options.bridgeUrl);
  } catch {
    throw new Error('BRIDGE_URL is not a URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('BRIDGE_URL must start with https:// or http://');
  const path = `${url.pathname.replace(/\/+$/, '')}/alexa`;
  const log = options.log ?? consoleLog;
  const deadlineMs = options.deadlineMs ?? DEFAULT_DEADLINE_MS;
  const stats: ProxyStats = { connectionsOpened: 0, protocol: undefined };
  const transport = url.protocol === 'https:' ? httpsTransport(url, path, options.ca, stats) : httpTransport(url, path, stats);

  return {
    stats: () => ({ ...stats }),
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
      const headers = { 'content-type': 'application/json', ...signatureHeaders(options.proxySecret, body) };
      let reply: BridgeReply;
      try {
        reply = await withDeadline(handleOptions.deadlineMs ?? deadlineMs, async (signal) => {
          try {
            return await transport.post(body, headers, signal);
          } catch (err) {
            // A reused connection the bridge had already given up on (GOAWAY, idle close): the
            // bridge did not handle the request. Should it have, the identical signature is refused
            // as a replay, so one more try on a fresh connection never handles a directive twice.
            if (!(err as RetryableError).retryable || signal.aborted) throw err;
            return await transport.post(body, headers, signal);
          }
        });
      } catch (err) {
        const error = err as Error & { code?: string };
        const timedOut = error instanceof DeadlineError;
        return finish('error', timedOut ? 'the bridge did not answer within the deadline' : `cannot reach the bridge: ${error.message}`,
          errorResponse(event, 'BRIDGE_UNREACHABLE', 'porchlight, the camera bridge, cannot be reached'),
          { outcome: 'BRIDGE_UNREACHABLE', ...(error.code && { error: error.code }) });
      }

      const { status } = reply;
      if (status !== 200) {
        return finish('error', describeRefusal(reply), errorResponse(event, 'INTERNAL_ERROR', 'porchlight refused the request'), { outcome: 'INTERNAL_ERROR', status });
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

// ---------------------------------------------------------------------------------------------
// Signature and replies (duplicated from src/: this file is bundled alone)

function signatureHeaders(secret: string, body: string): Record<string, string> {
  const timestamp = Math.floor(Date.now() / 1000);
  const mac = createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex');
  return { 'x-porchlight-timestamp': String(timestamp), 'x-porchlight-signature': `v1=${mac}` };
}

/**
 * An ErrorResponse answering `event`: its correlationToken and endpoint (scope + endpointId) when
 * they are valid, a fresh messageId. AcceptGrant has its own error (Alexa.Authorization,
 * ACCEPT_GRANT_FAILED) — Alexa's schema allows nothing else there.
 */
export function errorResponse(event: unknown, type: string, message: string): object {
  const directive = field(event, 'directive');
  const header = field(directive, 'header');
  const token = field(header, 'correlationToken');
  const endpoint = field(directive, 'endpoint');
  const endpointId = field(endpoint, 'endpointId');
  const scope = field(endpoint, 'scope');
  const scopeToken = field(scope, 'token');
  const authorization = field(header, 'namespace') === 'Alexa.Authorization';
  return {
    event: {
      header: {
        namespace: authorization ? 'Alexa.Authorization' : 'Alexa',
        name: 'ErrorResponse',
        payloadVersion: '3',
        messageId: randomUUID(),
        ...(typeof token === 'string' && token.length > 0 && { correlationToken: token }),
      },
      ...(typeof endpointId === 'string' && ENDPOINT_ID.test(endpointId) && {
        endpoint: {
          ...(field(scope, 'type') === 'BearerToken' && typeof scopeToken === 'string' && scopeToken.length > 0 && { scope: { type: 'BearerToken', token: scopeToken } }),
          endpointId,
        },
      }),
      payload: { type: authorization ? 'ACCEPT_GRANT_FAILED' : type, message },
    },
  };
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

function field(value: unknown, key: string): unknown {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>)[key] : undefined;
}

function short(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value.slice(0, 128) : undefined;
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Deadline

class DeadlineError extends Error {
  constructor(ms: number) {
    super(`no answer within ${ms} ms`);
    this.name = 'DeadlineError';
  }
}

/**
 * Runs `work` with a signal that aborts after `ms`, and settles by then whatever `work` does. The
 * timer is deliberately not unref'd: it is what keeps the event loop alive while the request is in
 * flight on an unref'd connection.
 */
async function withDeadline<T>(ms: number, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      const error = new DeadlineError(ms);
      controller.abort(error);
      reject(error);
    }, Math.max(0, ms));
  });
  try {
    return await Promise.race([work(controller.signal), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------------
// Transports

interface BridgeReply {
  status: number;
  body: string;
}

interface Transport {
  post(body: string, headers: Record<string, string>, signal: AbortSignal): Promise<BridgeReply>;
  close(): Promise<void>;
}

type RetryableError = Error & { retryable?: boolean };

function retryable(err: unknown): Error {
  const error = (err instanceof Error ? err : new Error(String(err))) as RetryableError;
  error.retryable = true;
  return error;
}

/** http://: HTTP/1.1 with a keep-alive agent (its idle sockets are unref'd by Node). */
function httpTransport(url: URL, path: string, stats: ProxyStats): Transport {
  const agent = new HttpAgent({ keepAlive: true, maxSockets: 8, timeout: MAX_IDLE_MS });
  return {
    post: (body, headers, signal) => http1Post(httpRequest, agent, url, path, body, headers, signal, stats),
    async close() {
      agent.destroy();
    },
  };
}

/**
 * https://: HTTP/2 over one TLS connection kept between invocations. ALPN decides: when the server
 * (say a reverse proxy without HTTP/2) picks http/1.1, the proxy falls back to HTTPS with a
 * keep-alive agent for good, and the probing TLS socket becomes that agent's first connection.
 */
function httpsTransport(url: URL, path: string, ca: string | undefined, stats: ProxyStats): Transport {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = Number(url.port || 443);
  // `ca` replaces Node's roots in TLS options; keep them so a real certificate still verifies.
  const trusted = ca ? [...rootCertificates, ca] : undefined;
  let session: ClientHttp2Session | undefined;
  let lastUsed = 0;
  let connecting: Promise<TLSSocket> | undefined;
  let fallback: Transport | undefined;

  const forget = (s: ClientHttp2Session) => {
    if (session === s) session = undefined;
  };

  function connectTls(signal: AbortSignal): Promise<TLSSocket> {
    return new Promise((resolve, reject) => {
      const socket = tlsConnect({ host, port, ALPNProtocols: ['h2', 'http/1.1'], ...(trusted && { ca: trusted }), ...(isIP(host) === 0 && { servername: host }) });
      stats.connectionsOpened += 1;
      const onAbort = () => {
        socket.destroy();
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      socket.once('error', (err) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      });
      socket.once('secureConnect', () => {
        signal.removeEventListener('abort', onAbort);
        resolve(socket);
      });
    });
  }

  async function sessionFor(signal: AbortSignal): Promise<{ session: ClientHttp2Session; reused: boolean } | TLSSocket> {
    if (session && !session.closed && !session.destroyed) {
      if (Date.now() - lastUsed <= MAX_IDLE_MS) return { session, reused: true };
      session.close();
      session = undefined;
    }
    // Concurrent invocations share one handshake (a Lambda runs one at a time; tests may not).
    connecting ??= connectTls(signal).finally(() => {
      connecting = undefined;
    });
    const socket = await connecting;
    if (socket.alpnProtocol !== 'h2') return socket;
    if (session && !session.destroyed) {
      // A concurrent caller already wrapped this socket.
      return { session, reused: true };
    }
    const fresh = http2Connect(url.origin, { createConnection: () => socket });
    // Errors also reach the streams; a session 'error' without a listener would crash the Lambda.
    fresh.on('error', () => forget(fresh));
    fresh.on('goaway', () => forget(fresh));
    fresh.on('close', () => forget(fresh));
    // An idle session must not keep a process alive (tests, CLIs); Lambda freezes it anyway.
    fresh.unref();
    session = fresh;
    stats.protocol = 'h2';
    return { session: fresh, reused: false };
  }

  return {
    async post(body, headers, signal) {
      if (fallback) return fallback.post(body, headers, signal);
      const got = await sessionFor(signal);
      if (!('session' in got)) {
        fallback ??= httpsFallback(url, path, trusted, stats, got);
        return fallback.post(body, headers, signal);
      }
      try {
        return await h2Post(got.session, path, body, headers, signal, got.reused);
      } finally {
        lastUsed = Date.now();
      }
    },
    async close() {
      const s = session;
      session = undefined;
      if (s && !s.closed) await new Promise<void>((resolve) => s.close(() => resolve()));
      await fallback?.close();
    },
  };
}

function httpsFallback(url: URL, path: string, ca: string[] | undefined, stats: ProxyStats, probe: TLSSocket): Transport {
  stats.protocol = 'http/1.1';
  const agent = new HttpsAgent({ keepAlive: true, maxSockets: 8, timeout: MAX_IDLE_MS, ...(ca && { ca }) });
  // Hand the already-negotiated socket to the agent for its first request instead of wasting it.
  let spare: TLSSocket | undefined = probe;
  const create = agent.createConnection.bind(agent) as (options: object, callback: unknown) => Socket;
  (agent as unknown as { createConnection: typeof create }).createConnection = (options, callback) => {
    const socket = spare && !spare.destroyed ? spare : undefined;
    spare = undefined;
    if (socket) return socket;
    stats.connectionsOpened += 1;
    return create(options, callback);
  };
  return {
    // The agent opens (and counts) its own sockets: don't count them again in http1Post.
    post: (body, headers, signal) => http1Post(httpsRequest, agent, url, path, body, headers, signal, undefined),
    async close() {
      spare?.destroy();
      agent.destroy();
    },
  };
}

function h2Post(session: ClientHttp2Session, path: string, body: string, headers: Record<string, string>, signal: AbortSignal, reused: boolean): Promise<BridgeReply> {
  return new Promise((resolve, reject) => {
    let stream: ClientHttp2Stream;
    try {
      stream = session.request({ ':method': 'POST', ':path': path, ...headers, 'content-length': String(Buffer.byteLength(body)) }, { signal });
    } catch (err) {
      // The session closed between the check and now: nothing was sent.
      reject(retryable(err));
      return;
    }
    let status = 0;
    const chunks: Buffer[] = [];
    // Refused streams (GOAWAY, REFUSED_STREAM) were never processed by the bridge (RFC 9113 §8.7);
    // a reused session that died before any reply is the same idle-close race, seen a bit later.
    const refused = () => reused && status === 0 && (stream.rstCode === h2.NGHTTP2_REFUSED_STREAM || session.destroyed);
    stream.on('response', (responseHeaders) => {
      status = Number(responseHeaders[':status']);
    });
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => resolve({ status, body: Buffer.concat(chunks).toString('utf8') }));
    stream.on('error', (err) => reject(refused() ? retryable(err) : err));
    stream.on('close', () => {
      const error = new Error(`the HTTP/2 stream closed without a reply (code ${stream.rstCode})`);
      reject(refused() ? retryable(error) : error);
    });
    stream.end(body);
  });
}

function http1Post(
  send: typeof httpRequest,
  agent: HttpAgent,
  url: URL,
  path: string,
  body: string,
  headers: Record<string, string>,
  signal: AbortSignal,
  stats: ProxyStats | undefined,
): Promise<BridgeReply> {
  return new Promise((resolve, reject) => {
    let responded = false;
    const request: ClientRequest = send(
      { protocol: url.protocol, hostname: url.hostname.replace(/^\[|\]$/g, ''), port: url.port, path, method: 'POST', agent, signal,
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) } },
      (response: IncomingMessage) => {
        responded = true;
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        response.on('error', reject);
        response.on('aborted', () => reject(new Error('the bridge closed the connection mid-reply')));
      },
    );
    request.on('socket', () => {
      if (stats && !request.reusedSocket) {
        stats.connectionsOpened += 1;
        stats.protocol = 'http/1.1';
      }
    });
    request.on('error', (err: Error & { code?: string }) => {
      // The classic keep-alive race: the server closed an idle socket as we reused it (Node docs).
      reject(request.reusedSocket && !responded && err.code === 'ECONNRESET' ? retryable(err) : err);
    });
    request.end(body);
  });
}
