/**
 * A socket that sends nothing is closed at the idle deadline and counted (issue 26 bug 4). The
 * plain listener did close it (Node's server timeout): the "still open after 70 s" of the report
 * came from a client that never read its socket, so never saw the FIN; this client reads. The TLS
 * listener did not: a socket that never started its handshake waited Node's 120 s handshake
 * timeout. Neither was counted.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEMO_CLIP } from '../../src/config/load.ts';
import { startBridge, type TestBridge } from '../helpers/bridge.ts';
import { makePki } from '../fixtures/relay-pki.ts';

// As in the defaults (30 s and 20 s), the idle deadline is longer than the request deadline.
const LIMITS = { idleTimeoutMs: 2000, requestTimeoutMs: 1500, headersTimeoutMs: 1000, keepAliveTimeoutMs: 1000 };
const cameras = [{ id: 'demo', name: 'Demo', url: `file:${DEMO_CLIP}` }];
const dir = mkdtempSync(join(tmpdir(), 'porchlight-idle-'));
let plain: TestBridge;
let tls: TestBridge;
const sockets: Socket[] = [];

before(async () => {
  const pki = await makePki(dir, []);
  [plain, tls] = await Promise.all([
    startBridge({ cameras }, { app: { httpLimits: LIMITS } }),
    startBridge({ cameras, server: { tls: { cert: pki.server.cert, key: pki.server.key } } }, { app: { httpLimits: LIMITS } }),
  ]);
});
after(async () => {
  for (const socket of sockets) socket.destroy();
  await Promise.all([plain?.close(), tls?.close()]);
  rmSync(dir, { recursive: true, force: true });
});

/** Opens a socket that never sends a byte; resolves with how long the bridge kept it (or 'open' after `waitMs`). */
function silentSocket(url: string, waitMs: number): Promise<number | 'open'> {
  return new Promise((resolve) => {
    const socket = connect(Number(new URL(url).port), '127.0.0.1');
    sockets.push(socket);
    let openedAt = Date.now();
    socket.on('error', () => {});
    // Read, or the bridge's FIN goes unseen.
    socket.resume();
    socket.once('connect', () => (openedAt = Date.now()));
    const timer = setTimeout(() => resolve('open'), waitMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(Date.now() - openedAt);
    });
  });
}

async function idleClosed(bridge: TestBridge): Promise<number> {
  const text = await bridge.app.metrics.registry.getSingleMetricAsString('porchlight_http_connections_closed_total');
  return Number(/^porchlight_http_connections_closed_total\{reason="idle"\} (\d+)/m.exec(text)?.[1] ?? NaN);
}

test('a silent socket is closed at the idle deadline, on the plain and the TLS listener', async () => {
  const [onPlain, onTls] = await Promise.all([silentSocket(plain.url, 8000), silentSocket(tls.url, 8000)]);
  assert.notEqual(onPlain, 'open', 'plain: still open after 8 s');
  assert.notEqual(onTls, 'open', 'TLS: still open after 8 s');
  assert.ok((onPlain as number) >= LIMITS.idleTimeoutMs - 100 && (onPlain as number) < LIMITS.idleTimeoutMs + 1500, `plain: closed after ${onPlain} ms`);
  assert.ok((onTls as number) >= LIMITS.idleTimeoutMs - 100 && (onTls as number) < LIMITS.idleTimeoutMs + 1500, `TLS: closed after ${onTls} ms`);
  assert.equal(await idleClosed(plain), 1, 'counted in /metrics');
  assert.equal(await idleClosed(tls), 1, 'counted in /metrics (TLS)');
});

test('a socket in use is not idle: keep-alive requests a second apart for 4 s all answered on one connection', async () => {
  const port = Number(new URL(plain.url).port);
  const socket = connect(port, '127.0.0.1');
  sockets.push(socket);
  await new Promise((resolve) => socket.once('connect', resolve));
  let answers = 0;
  socket.on('data', (chunk) => (answers += (chunk.toString().match(/HTTP\/1\.1 200/g) ?? []).length));
  for (let i = 0; i < 5; i++) {
    socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n');
    await new Promise((resolve) => setTimeout(resolve, 800));
  }
  assert.equal(answers, 5);
  assert.equal(socket.destroyed, false);
  socket.destroy();
});
