import type { Server, Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { SampledLog } from '../util/sampled-log.ts';

/**
 * Limits that keep sockets from being hoarded without credentials (an idle socket, a body
 * trickled a byte at a time, a TLS session gone quiet): the signed directive from the Lambda and
 * /healthz must always find room.
 */
export interface ConnectionLimits {
  /** A socket that sends nothing for this long is closed. */
  idleTimeoutMs: number;
  /** A whole request (headers and up to 64 KiB of body) must arrive within this. */
  requestTimeoutMs: number;
  /** Headers must arrive within this. */
  headersTimeoutMs: number;
  /** An idle keep-alive connection between requests is closed after this. */
  keepAliveTimeoutMs: number;
  /** Open connections in all. */
  maxConnections: number;
  /** Open connections from one address (a reverse proxy listed in server.trustedProxies is exempt). */
  maxPerAddress: number;
}

/** Where this host's own processes connect from (a reverse proxy beside the bridge): never capped per address. */
export const LOCAL_HOST_ADDRESSES = ['127.0.0.1', '::1', '::ffff:127.0.0.1'];

export const DEFAULT_LIMITS: ConnectionLimits = {
  idleTimeoutMs: 30_000,
  // 64 KiB in 20 s is 3.2 KiB/s: far below any link the Lambda or a LAN browser uses.
  requestTimeoutMs: 20_000,
  headersTimeoutMs: 10_000,
  keepAliveTimeoutMs: 10_000,
  maxConnections: 256,
  maxPerAddress: 32,
};

/**
 * A request (its body and our answer) must be done within `ms` of its headers: Node checks its
 * own requestTimeout only every 30 s, so a body trickled a byte at a time would hold the socket
 * that long. WebSocket upgrades (the console's live updates) are long-lived by design.
 */
export function requestDeadline(app: FastifyInstance, ms: number): void {
  app.addHook('onRequest', async (request, reply) => {
    if (request.headers.upgrade) return;
    const timer = setTimeout(() => {
      request.log.info({ url: request.url, deadlineMs: ms }, 'request not complete in time: closing its connection');
      request.raw.destroy();
    }, ms);
    const done = () => clearTimeout(timer);
    reply.raw.once('finish', done);
    reply.raw.once('close', done);
  });
}

/** Connections the guards closed, for /metrics. Owned by the app, shared by its listeners. */
export interface ConnectionCounts {
  /** Sockets that sent nothing for idleTimeoutMs (or never finished a TLS handshake). */
  idleClosed: number;
  /** Sockets refused for the per-address cap. */
  refused: number;
}

/**
 * Closes a socket that has sent nothing at all `idleTimeoutMs` after it connected. Node's own
 * server timeout does not always: with the defaults (30 s idle, 20 s per request) a socket that
 * never sends a byte stayed open for ever (measured: past 70 s; plain Node does the same at
 * 30 s/20 s and 20 s/10 s). Once a socket has sent something, Node's request, header and
 * keep-alive timeouts take over. Counted in `counts.idleClosed`.
 */
export function closeSilentSockets(server: Server, idleTimeoutMs: number, counts: ConnectionCounts): () => void {
  const onConnection = (socket: Socket) => {
    const closeSilent = () => {
      if (socket.destroyed || socket.bytesRead > 0) return;
      counts.idleClosed += 1;
      socket.destroy();
    };
    const timer = setTimeout(closeSilent, idleTimeoutMs);
    timer.unref();
    // When Node's own socket timeout does fire, it comes first: count it here too.
    socket.prependListener('timeout', closeSilent);
    socket.once('close', () => clearTimeout(timer));
  };
  server.on('connection', onConnection);
  return () => server.off('connection', onConnection);
}

/**
 * Caps connections per address on a listening server (plain or TLS: the raw TCP socket is
 * counted, before any handshake). Returns a function that stops it.
 */
export function capConnectionsPerAddress(server: Server, limits: Pick<ConnectionLimits, 'maxPerAddress' | 'maxConnections'>, exempt: ReadonlySet<string>, log: Logger, counts: ConnectionCounts): () => void {
  const open = new Map<string, number>();
  const refusals = new SampledLog(log);
  server.maxConnections = limits.maxConnections;
  const onConnection = (socket: Socket) => {
    const address = socket.remoteAddress ?? 'unknown';
    if (exempt.has(address)) return;
    const count = (open.get(address) ?? 0) + 1;
    if (count > limits.maxPerAddress) {
      counts.refused += 1;
      socket.destroy();
      refusals.warn(address, { address, maxPerAddress: limits.maxPerAddress }, 'too many connections from one address: refusing');
      return;
    }
    open.set(address, count);
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left <= 0) open.delete(address);
      else open.set(address, left);
    });
  };
  server.on('connection', onConnection);
  return () => server.off('connection', onConnection);
}
