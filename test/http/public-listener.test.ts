/**
 * The internet-facing surface: `server.publicPort` serves POST /alexa and /healthz and nothing
 * else; the LAN listener answers pages and data only to an IP literal, localhost or a name in
 * `server.hostnames` (DNS rebinding); both listeners share one replay guard.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { DEMO_CLIP } from '../../src/config/load.ts';
import { hostAllowed } from '../../src/http/server.ts';
import { signatureHeaders } from '../../src/signing/signature.ts';
import { ADMIN_TOKEN, PROXY_SECRET, startBridge, type TestBridge } from '../helpers/bridge.ts';
import { discoverDirective } from '../helpers/directives.ts';

let bridge: TestBridge;
let publicPort = 0;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A request with any Host header (fetch does not let a caller set it). */
function send(port: number, method: string, path: string, options: { host?: string; headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers: { ...(options.host && { host: options.host }), ...options.headers } }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

function signed(body: string): Record<string, string> {
  return { 'content-type': 'application/json', ...signatureHeaders(PROXY_SECRET, body) };
}

before(async () => {
  publicPort = await freePort();
  bridge = await startBridge({
    server: { publicPort, publicHost: '127.0.0.1', hostnames: ['porchlight.lan'] },
    cameras: [{ id: 'demo', name: 'Demo', url: `file:${DEMO_CLIP}` }],
  });
});
after(() => bridge?.close());

test('the public listener: POST /alexa and /healthz, everything else 404', async () => {
  const raw = JSON.stringify(discoverDirective());
  const alexa = await send(publicPort, 'POST', '/alexa', { host: 'porchlight.example.com', headers: signed(raw), body: raw });
  assert.equal(alexa.status, 200);
  assert.equal(JSON.parse(alexa.body).event.header.name, 'Discover.Response');
  assert.equal((await send(publicPort, 'GET', '/healthz', { host: 'porchlight.example.com' })).status, 200);
  for (const path of ['/readyz', '/metrics', '/', '/console.js', '/api/status', '/api/ws']) {
    const response = await send(publicPort, 'GET', path, { host: 'porchlight.example.com', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.equal(response.status, 404, path);
  }
});

test('one replay guard for both listeners: a directive seen on one is refused on the other', async () => {
  const raw = JSON.stringify(discoverDirective());
  const headers = signed(raw);
  assert.equal((await send(publicPort, 'POST', '/alexa', { headers, body: raw })).status, 200);
  const lanPort = Number(new URL(bridge.url).port);
  assert.equal((await send(lanPort, 'POST', '/alexa', { headers, body: raw })).status, 401);
});

test('the LAN listener answers pages and data only to IP literals, localhost and server.hostnames', async () => {
  const port = Number(new URL(bridge.url).port);
  const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
  for (const path of ['/readyz', '/metrics', '/', '/api/status']) {
    assert.equal((await send(port, 'GET', path, { host: 'attacker.example', headers: auth })).status, 421, path);
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, 'porchlight.lan', `PORCHLIGHT.LAN:${port}`]) {
      assert.ok([200, 503].includes((await send(port, 'GET', path, { host, headers: auth })).status), `${path} for ${host}`);
    }
  }
  // The signed route and liveness answer any name (a port-forward without a public listener).
  const raw = JSON.stringify(discoverDirective());
  assert.equal((await send(port, 'POST', '/alexa', { host: 'porchlight.example.com', headers: signed(raw), body: raw })).status, 200);
  assert.equal((await send(port, 'GET', '/healthz', { host: 'attacker.example' })).status, 200);
});

test('hostAllowed', () => {
  const names = new Set(['porchlight.lan']);
  for (const host of ['127.0.0.1', '127.0.0.1:8080', '[::1]:8080', '[fd00::5]', 'localhost', 'LOCALHOST:80', 'porchlight.lan:8080', '192.168.1.5']) assert.ok(hostAllowed(host, names), host);
  for (const host of [undefined, '', 'evil.example', 'porchlight.lan.evil.example', '127.0.0.1.nip.io', 'localhost.evil']) assert.ok(!hostAllowed(host, names), String(host));
});
