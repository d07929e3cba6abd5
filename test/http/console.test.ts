/**
 * The console's server side without a browser: ConsoleBackend (directives it builds, origin,
 * bitrate, error mapping) and the console plugin (assets, auth, the WebSocket's protocol).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import websocket from '@fastify/websocket';
import Fastify, { type FastifyInstance } from 'fastify';
import { ConsoleBackend, type ConsoleBackendOptions } from '../../src/http/console-backend.ts';
import { consoleRoutes, WS_UNAUTHORIZED } from '../../src/http/console-routes.ts';
import type { AlexaEvent } from '../../src/alexa/messages.ts';
import type { CameraStreamStatus } from '../../src/camera/camera-stream.ts';
import type { SessionInfo } from '../../src/webrtc/session-manager.ts';
import type { ConsoleStatus } from '../../src/web/console-api.ts';

const TOKEN = 'console-test-token-0123456789';
const OUTBOX = { configured: true, linked: true, queued: 0, delivered: 0, dropped: 0, failing: false, relinkNeeded: false };

function event(name: string, payload: Record<string, unknown>): AlexaEvent {
  return { event: { header: { namespace: 'x', name, payloadVersion: '3', messageId: 'm' }, payload } };
}

function backendWith(overrides: Partial<ConsoleBackendOptions> = {}) {
  const directives: any[] = [];
  const sessions: SessionInfo[] = [];
  let clock = 0;
  let streamBytes = 0;
  const backend = new ConsoleBackend({
    cameras: () => [
      { id: 'demo', name: 'Demo', kind: 'camera', talkback: 'none' },
      { id: 'door', name: 'Door', kind: 'doorbell', talkback: 'onvif' },
    ],
    dispatch: async (directive: any) => {
      directives.push(directive);
      const { name } = directive.directive.header;
      if (name === 'InitiateSessionWithOffer') {
        const { sessionId } = directive.directive.payload;
        sessions.push({ id: sessionId, cameraId: directive.directive.endpoint.endpointId, since: new Date(0).toISOString(), state: 'answered', packetsSent: 0, bytesSent: 0, packetsDropped: 0 });
        return event('AnswerGeneratedForSession', { answer: { format: 'SDP', value: 'v=0 answer' } });
      }
      return event(name, {});
    },
    health: (id) => (id === 'demo' ? { value: 'OK', timeOfSample: new Date() } : undefined),
    stream: (id): CameraStreamStatus | undefined =>
      id === 'demo'
        ? { state: 'streaming', viewers: 1, restarts: 0, starts: 1, packets: { video: 0, audio: 0 }, bytes: { video: streamBytes, audio: 0 }, source: { codec: 'h264', width: 1280, height: 720 }, plan: { mode: 'copy', reason: '' } }
        : undefined,
    talkback: (id) => (id === 'door' ? { capability: 'available' } : undefined),
    events: () => undefined,
    sessions: () => sessions,
    alexa: () => OUTBOX,
    now: () => clock,
    ...overrides,
  });
  return {
    backend,
    directives,
    sessions,
    tick(ms: number, bytes: number) {
      clock += ms;
      streamBytes += bytes;
    },
  };
}

describe('ConsoleBackend', () => {
  test('watch builds an Echo-shaped InitiateSessionWithOffer and marks the session as the console’s', async () => {
    const { backend, directives, sessions } = backendWith();
    sessions.push({ id: 'alexa-session', cameraId: 'door', since: new Date(0).toISOString(), state: 'connected', packetsSent: 1, bytesSent: 5, packetsDropped: 0 });
    const result = await backend.watch('demo', 'v=0 offer');
    assert.ok(result.ok);
    assert.equal(result.answer, 'v=0 answer');
    assert.match(result.sessionId, /^console-[0-9a-f-]{36}$/);
    const [sent] = directives;
    assert.equal(sent.directive.header.namespace, 'Alexa.RTCSessionController');
    assert.equal(sent.directive.header.name, 'InitiateSessionWithOffer');
    assert.equal(sent.directive.header.payloadVersion, '3');
    assert.ok(sent.directive.header.messageId && sent.directive.header.correlationToken);
    assert.deepEqual(sent.directive.endpoint, { endpointId: 'demo' });
    assert.deepEqual(sent.directive.payload, { sessionId: result.sessionId, offer: { format: 'SDP', value: 'v=0 offer' } });
    const origins = backend.status().sessions.map((s) => [s.id, s.origin]);
    assert.deepEqual(origins, [['alexa-session', 'alexa'], [result.sessionId, 'console']]);

    const second = await backend.watch('demo', 'v=0 offer');
    assert.ok(second.ok);
    assert.notEqual(directives[1].directive.header.messageId, sent.directive.header.messageId);
  });

  test('an ErrorResponse becomes a 4xx with its type and message', async () => {
    const refusing = (type: string) => backendWith({ dispatch: async () => ({ event: { header: { namespace: 'Alexa', name: 'ErrorResponse', payloadVersion: '3', messageId: 'm' }, payload: { type, message: `said ${type}` } } }) }).backend;
    for (const [type, status] of [['NO_SUCH_ENDPOINT', 404], ['INVALID_VALUE', 400], ['ENDPOINT_BUSY', 409], ['ENDPOINT_UNREACHABLE', 409], ['INTERNAL_ERROR', 422]] as const) {
      assert.deepEqual(await refusing(type).watch('demo', 'v=0'), { ok: false, status, error: type, reason: `said ${type}` });
    }
  });

  test('talk: refused for a camera without talkback, allowed for a talkback camera', async () => {
    const { backend, directives } = backendWith();
    const refused = await backend.watch('demo', 'v=0', { talk: true });
    assert.equal(refused.ok, false);
    assert.equal(!refused.ok && refused.error, 'talkback_unavailable');
    assert.equal(directives.length, 0);
    assert.equal((await backend.watch('door', 'v=0', { talk: true })).ok, true);
  });

  test('hangup sends SessionDisconnected for the session’s camera; an unknown session is 404', async () => {
    const { backend, directives } = backendWith();
    const watched = await backend.watch('door', 'v=0');
    assert.ok(watched.ok);
    assert.deepEqual(await backend.hangup(watched.sessionId), { ok: true });
    const last = directives.at(-1);
    assert.equal(last.directive.header.name, 'SessionDisconnected');
    assert.deepEqual(last.directive.endpoint, { endpointId: 'door' });
    assert.deepEqual(last.directive.payload, { sessionId: watched.sessionId });
    assert.equal((await backend.hangup('nobody')).ok, false);
  });

  test('cameras: health, codec and resolution, and a bitrate from the byte counter once known', () => {
    const { backend, tick } = backendWith();
    const first = backend.status().cameras;
    assert.deepEqual(first[0], { id: 'demo', name: 'Demo', kind: 'camera', connectivity: 'OK', stream: 'streaming', codec: 'h264', width: 1280, height: 720, plan: 'copy', viewers: 1 });
    assert.deepEqual(first[1], { id: 'door', name: 'Door', kind: 'doorbell', connectivity: 'UNKNOWN', stream: 'idle', viewers: 0, talkback: { capability: 'available' } });
    tick(1000, 250_000); // 2 Mbit in a second
    assert.equal(backend.status().cameras[0]!.bitrateKbps, 2000);
    tick(500, 500_000); // too short a window: the last reading stands
    assert.equal(backend.status().cameras[0]!.bitrateKbps, 2000);
    tick(500, 0);
    assert.equal(backend.status().cameras[0]!.bitrateKbps, 4000);
  });
});

describe('console routes', () => {
  let app: FastifyInstance;
  let status: ConsoleStatus;
  let url: string;
  const watched: unknown[] = [];

  const warnings: string[] = [];
  const onWarning = (warning: Error) => warnings.push(`${warning.name}: ${warning.message}`);

  before(async () => {
    process.on('warning', onWarning);
    status = { cameras: [], sessions: [], alexa: OUTBOX };
    app = Fastify();
    await app.register(websocket);
    await app.register(consoleRoutes, {
      adminToken: TOKEN,
      pollMs: 20,
      authTimeoutMs: 200,
      backend: {
        status: () => status,
        watch: async (cameraId, offer, options) => {
          watched.push([cameraId, offer, options]);
          return cameraId === 'busy' ? { ok: false, status: 409, error: 'ENDPOINT_BUSY', reason: 'too many' } : { ok: true, sessionId: 'console-1', answer: 'v=0 a', talking: false };
        },
        hangup: async (id) => (id === 'console-1' ? { ok: true } : { ok: false, status: 404, error: 'not_found', reason: 'no' }),
      },
    });
    url = await app.listen({ host: '127.0.0.1', port: 0 });
  });
  after(async () => {
    process.off('warning', onWarning);
    await app.close();
  });

  test('stripping the script’s types does not print Node’s ExperimentalWarning', async () => {
    await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
    assert.deepEqual(warnings.filter((w) => w.includes('stripTypeScriptTypes')), []);
  });

  const authed = { authorization: `Bearer ${TOKEN}` };

  test('the page, its script’s modules with the types stripped, and its style; revalidated by ETag', async () => {
    const page = await fetch(`${url}/`);
    assert.equal(page.status, 200);
    assert.equal(page.headers.get('cache-control'), 'no-cache');
    const script = await fetch(`${url}/console.js`);
    const js = await script.text();
    assert.match(js, /const TOKEN_KEY = 'porchlight.adminToken';/);
    // Every module console.js imports, and every one they import, is there as JavaScript the
    // browser can load as an ES module (a Map's loop reaches the entries added during it).
    const modules = new Map([['/console.js', js]]);
    for (const [, source] of modules) {
      for (const [, name] of source.matchAll(/^import\b[^;]*?\bfrom '\.\/([\w-]+\.js)';/gm)) {
        if (modules.has(`/${name}`)) continue;
        const response = await fetch(`${url}/${name}`);
        assert.equal(response.status, 200, name);
        assert.equal(response.headers.get('content-type'), 'text/javascript; charset=utf-8', name);
        modules.set(`/${name}`, await response.text());
      }
    }
    assert.ok(modules.size > 1, 'console.js imports its parts');
    for (const [path, source] of modules) {
      assert.doesNotMatch(source, /^\s*import type|: Promise<void>|^\s*(export )?interface /m, path);
      const check = spawnSync(process.execPath, ['--input-type=module', '--check'], { input: source, encoding: 'utf8' });
      assert.equal(check.status, 0, `${path} does not parse as a module: ${check.stderr}`);
    }
    const again = await fetch(`${url}/console.js`, { headers: { 'if-none-match': script.headers.get('etag')! } });
    assert.equal(again.status, 304);
    assert.equal((await fetch(`${url}/console.css`)).headers.get('content-type'), 'text/css; charset=utf-8');
  });

  test('/api/status, watch and hang-up need the token; answers are not cached', async () => {
    assert.equal((await fetch(`${url}/api/status`)).status, 401);
    assert.equal((await fetch(`${url}/api/status`, { headers: { authorization: 'Bearer nope' } })).status, 401);
    const ok = await fetch(`${url}/api/status`, { headers: authed });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('cache-control'), 'no-store');
    assert.deepEqual(await ok.json(), status);

    const post = (path: string, body?: unknown) =>
      fetch(`${url}${path}`, { method: 'POST', headers: { ...authed, ...(body !== undefined && { 'content-type': 'application/json' }) }, ...(body !== undefined && { body: JSON.stringify(body) }) });
    const watch = await post('/api/cameras/demo/watch', { offer: 'v=0 o', talk: true });
    assert.deepEqual(await watch.json(), { sessionId: 'console-1', answer: 'v=0 a', talking: false });
    assert.deepEqual(watched.at(-1), ['demo', 'v=0 o', { talk: true }]);
    const busy = await post('/api/cameras/busy/watch', { offer: 'v=0 o' });
    assert.equal(busy.status, 409);
    assert.deepEqual(await busy.json(), { error: 'ENDPOINT_BUSY', reason: 'too many' });
    assert.equal((await post('/api/cameras/demo/watch', {})).status, 400);
    assert.equal((await post('/api/sessions/console-1/hangup')).status, 200);
    assert.equal((await post('/api/sessions/other/hangup')).status, 404);
  });

  /** A real WebSocket to the plugin; messages and the close code recorded from the start. */
  function connect(headers?: Record<string, string>) {
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/api/ws`, headers && ({ headers } as any));
    const messages: string[] = [];
    ws.addEventListener('message', (e) => messages.push(String(e.data)));
    const opened = new Promise<void>((resolve, reject) => {
      ws.addEventListener('open', () => resolve());
      ws.addEventListener('error', () => reject(new Error('websocket error')));
    });
    const closed = new Promise<number>((resolve) => ws.addEventListener('close', (e) => resolve(e.code)));
    return { ws, messages, opened, closed };
  }
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  test('WebSocket: the token as first message, then the status, then only changes', async () => {
    const { ws, messages, opened, closed } = connect();
    await opened;
    ws.send(JSON.stringify({ token: TOKEN }));
    await sleep(150);
    assert.equal(messages.length, 1, 'the status once, then nothing while it does not change');
    assert.deepEqual(JSON.parse(messages[0]!), status);
    status = { ...status, alexa: { ...OUTBOX, delivered: 1 } };
    await sleep(100);
    assert.equal(messages.length, 2);
    assert.equal(JSON.parse(messages[1]!).alexa.delivered, 1);
    ws.send('anything else is ignored');
    await sleep(50);
    assert.equal(ws.readyState, ws.OPEN);
    ws.close();
    await closed;
  });

  test('WebSocket: a wrong token, no token in time, or a wrong Authorization header → 4401', async () => {
    const wrong = connect();
    await wrong.opened;
    wrong.ws.send(JSON.stringify({ token: 'nope' }));
    assert.equal(await wrong.closed, WS_UNAUTHORIZED);

    const garbage = connect();
    await garbage.opened;
    garbage.ws.send('{not json');
    assert.equal(await garbage.closed, WS_UNAUTHORIZED);

    const silent = connect();
    assert.equal(await silent.closed, WS_UNAUTHORIZED, 'closed after authTimeoutMs');

    assert.equal(await connect({ authorization: 'Bearer nope' }).closed, WS_UNAUTHORIZED);

    const good = connect({ authorization: `Bearer ${TOKEN}` });
    await good.opened;
    await sleep(50);
    assert.deepEqual(good.messages.map((m) => JSON.parse(m)), [status]);
    good.ws.close();
    await good.closed;
    for (let i = 0; i < 50 && app.websocketServer.clients.size > 0; i++) await sleep(20);
    assert.equal(app.websocketServer.clients.size, 0, 'every socket is gone on the server too');
  });
});
