/**
 * The Lambda's connection to the bridge: one HTTP/2 session over TLS kept between invocations
 * (HTTP/1.1 keep-alive when the bridge is plain http:// or its TLS front end lacks HTTP/2), a
 * reconnect when a kept connection sat idle too long, one retry on a fresh connection when the
 * bridge had already given up on a kept one (GOAWAY, idle close), and a deadline over all of it.
 */
import { Agent as HttpAgent, request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { connect as http2Connect, constants as h2, type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import { isIP, type Socket } from 'node:net';
import { connect as tlsConnect, rootCertificates, type TLSSocket } from 'node:tls';

/**
 * Reconnect rather than reuse a connection idle longer than this. The bridge (fastify) closes idle
 * HTTP/2 sessions and keep-alive sockets after 72 s; a Lambda frozen across that moment would
 * otherwise write its next request into a connection the bridge is closing.
 */
const MAX_IDLE_MS = 50_000;

export interface ProxyStats {
  /** TCP (and TLS) connections opened to the bridge; stays 1 while one is reused. */
  connectionsOpened: number;
  /** What the last connection negotiated. */
  protocol: 'h2' | 'http/1.1' | 'mqtt' | undefined;
}

export interface BridgeReply {
  status: number;
  body: string;
  /** The bridge's x-porchlight-reply-signature, when it sent one. */
  replySignature?: string;
}

/** A reply is an Alexa event of a few KiB; more is not porchlight, and must not grow the Lambda. */
export const MAX_REPLY_BYTES = 256 * 1024;

export class ReplyTooLargeError extends Error {
  constructor() {
    super(`the bridge's reply is larger than ${MAX_REPLY_BYTES / 1024} KiB`);
    this.name = 'ReplyTooLargeError';
  }
}

function tooLarge(): Error {
  return new ReplyTooLargeError();
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

export interface BridgeClient {
  /**
   * POSTs `body` to the bridge's `path` and resolves with whatever status the bridge answered.
   * Rejects with a DeadlineError once `deadlineMs` (connecting included) has passed, or with the
   * network error when the bridge cannot be reached.
   */
  post(body: string, headers: Record<string, string>, deadlineMs: number): Promise<BridgeReply>;
  stats(): ProxyStats;
  close(): Promise<void>;
}

/**
 * `url` is http: or https: (the caller checked); `path` is the bridge's /alexa under its base path;
 * `ca` is an extra CA (PEM) to trust besides Node's roots.
 */
export function createBridgeClient(url: URL, path: string, ca: string | undefined): BridgeClient {
  const stats: ProxyStats = { connectionsOpened: 0, protocol: undefined };
  const transport = url.protocol === 'https:' ? httpsTransport(url, path, ca, stats) : httpTransport(url, path, stats);
  return {
    stats: () => ({ ...stats }),
    close: () => transport.close(),
    post: (body, headers, deadlineMs) => withDeadline(deadlineMs, async (signal) => {
      try {
        return await transport.post(body, headers, signal);
      } catch (err) {
        // A reused connection the bridge had already given up on (GOAWAY, idle close): the
        // bridge did not handle the request. Should it have, the identical signature is refused
        // as a replay, so one more try on a fresh connection never handles a directive twice.
        if (!(err as RetryableError).retryable || signal.aborted) throw err;
        return await transport.post(body, headers, signal);
      }
    }),
  };
}

// ---------------------------------------------------------------------------------------------
// Deadline

export class DeadlineError extends Error {
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

interface Transport {
  post(body: string, headers: Record<string, string>, signal: AbortSignal): Promise<BridgeReply>;
  close(): Promise<void>;
}

/** An error that proves the bridge never handled the request: one more try is safe. */
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
    let replySignature: string | undefined;
    let length = 0;
    const chunks: Buffer[] = [];
    // Refused streams (GOAWAY, REFUSED_STREAM) were never processed by the bridge (RFC 9113 §8.7);
    // a reused session that died before any reply is the same idle-close race, seen a bit later.
    const refused = () => reused && status === 0 && (stream.rstCode === h2.NGHTTP2_REFUSED_STREAM || session.destroyed);
    stream.on('response', (responseHeaders) => {
      status = Number(responseHeaders[':status']);
      replySignature = headerValue(responseHeaders['x-porchlight-reply-signature']);
    });
    stream.on('data', (chunk: Buffer) => {
      length += chunk.length;
      if (length > MAX_REPLY_BYTES) {
        reject(tooLarge());
        stream.close(h2.NGHTTP2_CANCEL);
        return;
      }
      chunks.push(chunk);
    });
    stream.on('end', () => resolve({ status, body: Buffer.concat(chunks).toString('utf8'), ...(replySignature && { replySignature }) }));
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
        let length = 0;
        const replySignature = headerValue(response.headers['x-porchlight-reply-signature']);
        response.on('data', (chunk: Buffer) => {
          length += chunk.length;
          if (length > MAX_REPLY_BYTES) {
            reject(tooLarge());
            request.destroy();
            return;
          }
          chunks.push(chunk);
        });
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), ...(replySignature && { replySignature }) }));
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
