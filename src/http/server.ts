import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { Server as HttpServer } from 'node:http';
import websocket from '@fastify/websocket';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { AlexaEvent } from '../alexa/messages.ts';
import { AdminGate } from './admin-auth.ts';
import { alexaRoute } from './alexa-route.ts';
import type { ReplayGuard } from '../signing/signature.ts';
import type { CameraAdmin } from './camera-admin-routes.ts';
import { apiRoutes, type DoorbellOutcome, type MotionOutcome } from './api-routes.ts';
import { consoleRoutes, type ConsoleRoutesOptions } from './console-routes.ts';
import { metricsRoute, type MetricsRouteOptions } from './metrics-route.ts';
import { healthRoutes, type ReadinessReport } from './health-routes.ts';
import { capConnectionsPerAddress, closeSilentSockets, DEFAULT_LIMITS, LOCAL_HOST_ADDRESSES, requestDeadline, type ConnectionCounts, type ConnectionLimits } from './connection-guard.ts';

/** What both listeners share: the signed /alexa route and its settings. */
export interface AlexaSurfaceOptions {
  log: Logger;
  proxySecret: string;
  dispatch: (directive: unknown) => Promise<AlexaEvent>;
  tls?: { cert: string; key: string };
  /** Reverse proxies whose X-Forwarded-For is believed and whose connections are not capped per address. */
  trustedProxies?: string[];
  /** Seen proxy signatures, one guard for both listeners (kept across restarts by its ledger). */
  replays?: ReplayGuard;
  /** Timeouts and connection caps; tests shorten them. */
  limits?: Partial<ConnectionLimits>;
  /** Where the listeners count the connections they close (one object for both). */
  connectionCounts?: ConnectionCounts;
}

export interface HttpServerOptions extends AlexaSurfaceOptions {
  readiness: () => ReadinessReport;
  adminToken: string;
  pressDoorbell: (cameraId: string) => DoorbellOutcome;
  reportMotion: (cameraId: string, detected: boolean) => MotionOutcome;
  /** The camera onboarding and editing API (src/app/camera-admin.ts). */
  cameraAdmin?: CameraAdmin;
  /** The web console (page at /, /api/status, watch, hang-up, /api/ws). */
  console: ConsoleRoutesOptions['backend'];
  metrics: MetricsRouteOptions['metrics'];
  /** Host names the LAN listener answers to besides IP literals and localhost (DNS rebinding). */
  hostnames?: string[];
}

/** Routes the internet may reach (what a router forwards to `server.publicPort`). */
const PUBLIC_ROUTES = new Set(['/alexa', '/healthz']);

/**
 * A fastify instance with the hardening both listeners share: timeouts and connection caps,
 * errors shaped in one place, per-request lines at debug. Listening is the caller's business.
 */
function baseServer(options: AlexaSurfaceOptions): FastifyInstance {
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  const proxies = options.trustedProxies ?? [];
  const common = {
    loggerInstance: options.log,
    // Per-request lines go out at debug from the onResponse hook below.
    logController: new LogController({ disableRequestLogging: true }),
    // X-Forwarded-For only from a configured reverse proxy: anyone else could claim any address.
    trustProxy: proxies.length > 0 ? proxies : false,
    connectionTimeout: limits.idleTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    http2SessionTimeout: limits.idleTimeoutMs,
  };
  // With a certificate: HTTPS with HTTP/2, HTTP/1.1 still accepted on the same port.
  const app = (
    options.tls
      // A socket that never finishes its TLS handshake is idle too (Node's default waits 120 s).
      ? Fastify({ ...common, http2: true, https: { allowHTTP1: true, handshakeTimeout: limits.idleTimeoutMs, cert: readFileSync(options.tls.cert), key: readFileSync(options.tls.key) } })
      : Fastify(common)
  ) as unknown as FastifyInstance;

  const server = app.server as unknown as HttpServer;
  server.headersTimeout = Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs);
  // This host itself (a reverse proxy beside the bridge, the bench, health checks) is not capped.
  const counts = options.connectionCounts ?? { idleClosed: 0, refused: 0 };
  const stopCapping = capConnectionsPerAddress(server, limits, new Set([...proxies, ...LOCAL_HOST_ADDRESSES]), options.log, counts);
  // On TLS the TLS layer takes the raw socket's handle: there handshakeTimeout closes a silent socket.
  const stopIdling = options.tls ? () => {} : closeSilentSockets(server, limits.idleTimeoutMs, counts);
  if (options.tls) server.on('tlsClientError', (err: Error & { code?: string }) => {
    if (err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT') counts.idleClosed += 1;
  });
  app.addHook('onClose', async () => {
    stopCapping();
    stopIdling();
  });
  requestDeadline(app, limits.requestTimeoutMs);

  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, request, reply) => {
    const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500;
    if (status >= 500) request.log.error({ err: error }, 'request failed');
    else request.log.info({ code: error.code, status }, error.message);
    const reason = status === 413 ? 'the body is larger than 64 KiB' : status >= 500 ? 'internal error' : error.message;
    return reply.code(status).send({ error: error.code ?? 'error', reason });
  });
  app.setNotFoundHandler((_request, reply) => reply.code(404).send({ error: 'not_found' }));
  app.addHook('onResponse', async (request, reply) => {
    request.log.debug({ method: request.method, url: request.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'http');
  });
  app.register(alexaRoute, { proxySecret: options.proxySecret, dispatch: options.dispatch, ...(options.replays && { replays: options.replays }) });
  return app;
}

/**
 * The LAN listener (`server.host:port`): everything — the signed /alexa, health, metrics, the
 * console and its API. Pages and data for people answer only to a Host that is an IP literal,
 * localhost or a name in `server.hostnames`, so a web page elsewhere cannot read them through
 * DNS rebinding.
 */
export function buildHttpServer(options: HttpServerOptions): FastifyInstance {
  const app = baseServer(options);
  const hostnames = new Set((options.hostnames ?? []).map((name) => name.toLowerCase()));
  app.addHook('onRequest', async (request, reply) => {
    if (PUBLIC_ROUTES.has(request.url.split('?')[0]!)) return;
    const host = request.headers.host ?? (request.headers[':authority'] as string | undefined);
    if (hostAllowed(host, hostnames)) return;
    request.log.info({ host: String(host).slice(0, 100) }, 'refused a request for another host name (DNS rebinding?)');
    await reply.code(421).send({ error: 'host_not_allowed', reason: 'this host name is not one porchlight answers to: add it to server.hostnames' });
  });
  // One gate for /readyz, /api and /api/ws: wrong tokens from an address count together.
  const adminGate = new AdminGate(options.adminToken, { log: options.log });
  app.register(healthRoutes, { readiness: options.readiness, adminGate });
  app.register(metricsRoute, { metrics: options.metrics });
  app.register(apiRoutes, { adminToken: options.adminToken, adminGate, pressDoorbell: options.pressDoorbell, reportMotion: options.reportMotion, ...(options.cameraAdmin && { cameraAdmin: options.cameraAdmin }) });
  // The console's live updates; a client message is its token, so 4 KiB is plenty.
  app.register(websocket, { options: { maxPayload: 4096 } });
  app.register(consoleRoutes, { adminToken: options.adminToken, adminGate, backend: options.console });
  return app;
}

/** The public listener (`server.publicPort`): POST /alexa and GET /healthz, nothing else. */
export function buildPublicServer(options: AlexaSurfaceOptions): FastifyInstance {
  const app = baseServer(options);
  app.get('/healthz', async () => ({ status: 'ok' }));
  return app;
}

/** An IP literal (with or without port), localhost, or a configured name. Pure. */
export function hostAllowed(host: string | undefined, hostnames: ReadonlySet<string>): boolean {
  if (!host) return false;
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(host);
  const name = (bracketed ? bracketed[1]! : host.replace(/:\d+$/, '')).toLowerCase();
  return isIP(name) !== 0 || name === 'localhost' || hostnames.has(name);
}
