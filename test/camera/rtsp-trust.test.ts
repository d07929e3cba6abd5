/**
 * What a camera's answers may not talk porchlight into: handing the password to another host
 * through a redirect, or sending it in clear after Digest worked (a downgrade by the camera or a
 * man in the middle). A scripted RTSP server records every request it gets.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { HealthMonitor } from '../../src/camera/health.ts';
import { RtspClient } from '../../src/camera/rtsp-client.ts';
import { probeRtsp } from '../../src/camera/rtsp-probe.ts';
import { until } from '../helpers/until.ts';

interface Request {
  method: string;
  uri: string;
  headers: Record<string, string>;
}
type Script = (request: Request, n: number) => string;

const servers: Array<{ server: Server; sockets: Set<Socket> }> = [];
after(async () => {
  for (const { server, sockets } of servers) {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
});

/** An RTSP server that answers each request with `script`'s text (CSeq filled in). */
async function scripted(script: Script): Promise<{ url: string; requests: Request[] }> {
  const requests: Request[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    let pending = '';
    socket.on('data', (data) => {
      pending += data.toString('latin1');
      for (let end = pending.indexOf('\r\n\r\n'); end >= 0; end = pending.indexOf('\r\n\r\n')) {
        const [line = '', ...lines] = pending.slice(0, end).split('\r\n');
        pending = pending.slice(end + 4);
        const [method = '', uri = ''] = line.split(' ');
        const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
        const request = { method, uri, headers };
        requests.push(request);
        socket.write(script(request, requests.length).replace('CSeq: *', `CSeq: ${headers.cseq}`));
      }
    });
  });
  servers.push({ server, sockets });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `rtsp://admin:s3cret@127.0.0.1:${(server.address() as { port: number }).port}/stream`, requests };
}

const ok = 'RTSP/1.0 200 OK\r\nCSeq: *\r\nPublic: OPTIONS, DESCRIBE\r\n\r\n';
const basicOnly = 'RTSP/1.0 401 Unauthorized\r\nCSeq: *\r\nWWW-Authenticate: Basic realm="cam"\r\n\r\n';
const digestOnly = 'RTSP/1.0 401 Unauthorized\r\nCSeq: *\r\nWWW-Authenticate: Digest realm="cam", nonce="abc123"\r\n\r\n';
const sentBasic = (requests: Request[]) => requests.some((r) => /^basic /i.test(r.headers.authorization ?? ''));

test('a redirect to another host is a health problem naming that host; one to the same host is not', async () => {
  const elsewhere = await scripted((r) => (r.method === 'OPTIONS' ? ok : 'RTSP/1.0 302 Moved\r\nCSeq: *\r\nLocation: rtsp://evil.example:554/stream\r\n\r\n'));
  const result = await probeRtsp(elsewhere.url, { timeoutMs: 2000 });
  assert.equal(result.reachable, false);
  assert.equal(!result.reachable && result.code, 'REDIRECT_ELSEWHERE');
  assert.match(!result.reachable ? result.reason : '', /evil\.example/);
  assert.ok(!JSON.stringify(result).includes('s3cret'));

  const atOptions = await scripted(() => 'RTSP/1.0 301 Moved\r\nCSeq: *\r\nLocation: rtsp://10.9.9.9/other\r\n\r\n');
  const early = await probeRtsp(atOptions.url, { timeoutMs: 2000 });
  assert.equal(!early.reachable && early.code, 'REDIRECT_ELSEWHERE');

  const sameHost = await scripted((r) => (r.method === 'OPTIONS' ? ok : 'RTSP/1.0 302 Moved\r\nCSeq: *\r\nLocation: rtsp://127.0.0.1:554/other\r\n\r\n'));
  assert.equal((await probeRtsp(sameHost.url, { timeoutMs: 2000 })).reachable, true);
});

test('probe: after Digest worked, a Basic-only challenge is refused and no password is sent', async () => {
  const camera = await scripted((r) => (r.method === 'OPTIONS' || r.headers.authorization ? ok : basicOnly));
  const result = await probeRtsp(camera.url, { timeoutMs: 2000, knownScheme: 'digest' });
  assert.equal(!result.reachable && result.code, 'AUTH_DOWNGRADE');
  assert.match(!result.reachable ? result.reason : '', /Basic.*Digest worked/);
  assert.equal(sentBasic(camera.requests), false);
  // Without that memory, a Basic camera is answered (and the scheme is reported for the memory).
  const first = await probeRtsp(camera.url, { timeoutMs: 2000 });
  assert.equal(first.reachable && first.scheme, 'basic');
});

test('RtspClient: a later 401 offering only Basic does not switch a Digest connection to Basic', async () => {
  const camera = await scripted((r, n) => {
    if (n === 1) return digestOnly;
    if (n === 2) return ok; // Digest accepted
    return basicOnly; // then something in the middle asks for Basic
  });
  const target = new URL(camera.url.replace('admin:s3cret@', ''));
  const client = await RtspClient.connect(target, { username: 'admin', password: 's3cret' }, 2000);
  try {
    assert.equal((await client.request('OPTIONS', target.href, {}, 2000)).status, 200);
    await assert.rejects(client.request('DESCRIBE', target.href, {}, 2000), /only Basic auth where Digest worked/);
    assert.equal(sentBasic(camera.requests), false);
  } finally {
    client.destroy();
  }
  // A new connection for a camera known to use Digest refuses Basic from the start.
  const fresh = await RtspClient.connect(target, { username: 'admin', password: 's3cret' }, 2000, 'digest');
  try {
    await assert.rejects(fresh.request('OPTIONS', target.href, {}, 2000), /only Basic/);
  } finally {
    fresh.destroy();
  }
  assert.equal(sentBasic(camera.requests), false);
});

test('health: Basic over plain rtsp:// is warned about once; the Digest it learned is kept', async () => {
  let digestPhase = true;
  const camera = await scripted((r) => {
    if (r.method === 'OPTIONS') return ok;
    if (digestPhase) return r.headers.authorization?.startsWith('Digest') ? ok : digestOnly;
    return r.headers.authorization ? ok : basicOnly;
  });
  const lines: string[] = [];
  const log = pino({ level: 'debug' }, new Writable({ write(chunk, _e, done) { lines.push(String(chunk)); done(); } }));
  const health = new HealthMonitor({ cameras: [{ id: 'cam', url: camera.url }], intervalMs: 60_000, log });
  try {
    assert.equal((await health.probe('cam')).value, 'OK');
    assert.equal(health.authScheme('cam'), 'digest');
    digestPhase = false;
    await health.probe('cam');
    await health.probe('cam');
    await until('two failed probes', () => health.health('cam')?.value === 'UNREACHABLE', 2000);
    assert.equal(health.health('cam')?.code, 'AUTH_DOWNGRADE');
    assert.equal(sentBasic(camera.requests), false);
  } finally {
    health.close();
  }

  const basic = await scripted((r) => (r.method === 'OPTIONS' ? ok : r.headers.authorization ? ok : basicOnly));
  const basicHealth = new HealthMonitor({ cameras: [{ id: 'old', url: basic.url }], intervalMs: 60_000, log });
  try {
    await basicHealth.probe('old');
    await basicHealth.probe('old');
    assert.equal(basicHealth.health('old')?.value, 'OK');
    assert.equal(lines.filter((l) => l.includes('Basic auth over plain rtsp://')).length, 1);
    assert.ok(!lines.join('').includes('s3cret'));
  } finally {
    basicHealth.close();
  }
});
