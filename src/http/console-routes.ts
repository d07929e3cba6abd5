import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { stripTypeScriptTypes } from 'node:module';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { ConsoleStatus, WatchRequest } from '../web/console-api.ts';
import type { Logger } from 'pino';
import { AdminGate, adminAuth, bearerToken } from './admin-auth.ts';
import type { HangupResult, WatchResult } from './console-backend.ts';

export interface ConsoleRoutesOptions {
  adminToken: string;
  /** Shared with /api's routes, so wrong tokens count together; made here when absent. */
  adminGate?: AdminGate;
  backend: {
    status(): ConsoleStatus;
    watch(cameraId: string, offerSdp: string, options: { talk?: boolean }): Promise<WatchResult>;
    hangup(sessionId: string): Promise<HangupResult>;
  };
  /** How often each WebSocket looks for a change to push; default 1000 ms. */
  pollMs?: number;
  /** How long a WebSocket may take to send its token; default 10 s. */
  authTimeoutMs?: number;
}

/** What the console uses of a `ws` WebSocket (the project does not depend on @types/ws). */
interface LiveSocket {
  readonly readyState: number;
  readonly OPEN: number;
  send(text: string): void;
  ping(): void;
  close(code: number, reason: string): void;
  on(event: 'close', listener: () => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  on(event: 'message', listener: (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => void): unknown;
}

/** WebSocket close code for a missing or wrong token (4000–4999 are the application's). */
export const WS_UNAUTHORIZED = 4401;
const WS_PING_MS = 30_000;

interface Asset {
  body: string;
  type: string;
  etag: string;
}

const WEB_DIR = new URL('../web/', import.meta.url);

/**
 * Node marks stripTypeScriptTypes experimental and warns about it once per process; that one
 * warning is dropped, every other warning goes through.
 */
function stripTypes(source: string): string {
  const emitWarning = process.emitWarning;
  process.emitWarning = function (this: unknown, warning: string | Error, ...rest: unknown[]) {
    if (String(typeof warning === 'string' ? warning : warning.message).includes('stripTypeScriptTypes')) return;
    return (emitWarning as (...args: unknown[]) => void).call(process, warning, ...rest);
  } as typeof process.emitWarning;
  try {
    return stripTypeScriptTypes(source, { mode: 'strip' });
  } finally {
    process.emitWarning = emitWarning;
  }
}

function asset(name: string, type: string, transform: (text: string) => string = (text) => text): Asset {
  const body = transform(readFileSync(new URL(name, WEB_DIR), 'utf8'));
  return { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` };
}

/**
 * The page's script, one ES module per file of src/web (console.ts the entry), by the URL the
 * modules import each other with: /<name>.js. The directory is listed, so a new module needs
 * nothing here; console-api.ts, types only, comes out as an empty module nobody asks for.
 */
function scriptModules(): Map<string, Asset> {
  const names = readdirSync(WEB_DIR).filter((name) => name.endsWith('.ts') && !name.endsWith('.d.ts'));
  return new Map(names.map((name) => [`/${name.slice(0, -'.ts'.length)}.js`, asset(name, 'text/javascript; charset=utf-8', stripTypes)]));
}

/** The page is the same for everyone and holds no data; it may be cached but must be revalidated. */
const PAGE_HEADERS = {
  'cache-control': 'no-cache',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self' blob: mediastream:; connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'",
};

function serve(page: Asset) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    reply.headers(PAGE_HEADERS).header('etag', page.etag).type(page.type);
    if (request.headers['if-none-match'] === page.etag) return reply.code(304).send();
    return reply.send(page.body);
  };
}

const cameraParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,256}$' } },
} as const;
const sessionParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 1024 } },
} as const;
const watchBody = {
  type: 'object',
  required: ['offer'],
  properties: { offer: { type: 'string', minLength: 1, maxLength: 60000 }, talk: { type: 'boolean' } },
} as const;

/**
 * The web console: the page at `/` (index.html, console.css, and the script's modules, console.js
 * first, served as JavaScript with their types stripped once, here, at start), its API under /api
 * (admin token), and live status over the WebSocket /api/ws. Needs @fastify/websocket registered
 * on the server.
 */
export const consoleRoutes: FastifyPluginAsync<ConsoleRoutesOptions> = async (app, options) => {
  const gate = options.adminGate ?? new AdminGate(options.adminToken, { log: app.log as Logger });
  const { backend } = options;
  const page = asset('index.html', 'text/html; charset=utf-8');
  const style = asset('console.css', 'text/css; charset=utf-8');
  app.get('/', serve(page));
  for (const [path, script] of scriptModules()) app.get(path, serve(script));
  app.get('/console.css', serve(style));

  /** Live sockets' push functions: after a watch or hang-up they look at once, not at the next poll. */
  const pushers = new Set<() => void>();
  const nudge = () => setImmediate(() => pushers.forEach((push) => push()));

  await app.register(async (api) => {
    api.addHook('onRequest', adminAuth(gate));
    api.addHook('onSend', async (_request, reply) => {
      reply.header('cache-control', 'no-store');
    });

    api.get('/api/status', async () => backend.status());

    api.post<{ Params: { id: string }; Body: WatchRequest }>(
      '/api/cameras/:id/watch',
      { schema: { params: cameraParams, body: watchBody } },
      async (request, reply) => {
        const result = await backend.watch(request.params.id, request.body.offer, { talk: request.body.talk === true });
        nudge();
        if (!result.ok) return reply.code(result.status).send({ error: result.error, reason: result.reason });
        return { sessionId: result.sessionId, answer: result.answer, talking: result.talking };
      },
    );

    api.post<{ Params: { id: string } }>('/api/sessions/:id/hangup', { schema: { params: sessionParams } }, async (request, reply) => {
      const result = await backend.hangup(request.params.id);
      nudge();
      if (!result.ok) return reply.code(result.status).send({ error: result.error, reason: result.reason });
      return { status: 'disconnected' };
    });
  });

  // Browsers cannot set headers on a WebSocket, and a token in the URL would end up in access
  // logs and history: the token is the first message, {"token":"…"}. Non-browser clients may send
  // Authorization: Bearer on the upgrade request instead. Wrong or missing: closed with 4401.
  const tokenMatches = (request: { ip: string }, given: string | undefined) => gate.check(request.ip, given).ok;
  const pollMs = options.pollMs ?? 1000;
  const authTimeoutMs = options.authTimeoutMs ?? 10_000;
  app.get('/api/ws', { websocket: true }, (socket: LiveSocket, request) => {
    const log = request.log.child({ component: 'console-ws' });
    const timers: NodeJS.Timeout[] = [];
    let authenticated = false;
    let last = '';
    const push = () => {
      if (socket.readyState !== socket.OPEN) return;
      try {
        const text = JSON.stringify(backend.status());
        if (text === last) return;
        last = text;
        socket.send(text);
      } catch (err) {
        log.error({ err }, 'console status failed');
      }
    };
    const refuse = (reason: string) => {
      log.info({ reason }, 'console websocket refused');
      socket.close(WS_UNAUTHORIZED, reason);
    };
    const accept = () => {
      authenticated = true;
      timers.forEach(clearTimeout);
      pushers.add(push);
      push();
      timers.push(setInterval(push, pollMs), setInterval(() => socket.readyState === socket.OPEN && socket.ping(), WS_PING_MS));
    };
    socket.on('close', () => {
      timers.forEach(clearInterval);
      pushers.delete(push);
    });
    socket.on('error', (err) => log.debug({ err }, 'console websocket error'));

    const header = request.headers.authorization;
    if (header !== undefined) {
      if (tokenMatches(request, bearerToken(header))) accept();
      else refuse('wrong token');
      return;
    }
    timers.push(setTimeout(() => refuse('no token'), authTimeoutMs));
    socket.on('message', (data, isBinary) => {
      if (authenticated) return; // the client has nothing else to say
      let token: unknown;
      try {
        token = isBinary ? undefined : (JSON.parse(String(data)) as { token?: unknown }).token;
      } catch {
        token = undefined;
      }
      if (typeof token === 'string' && tokenMatches(request, token)) accept();
      else refuse('wrong token');
    });
  });
};
