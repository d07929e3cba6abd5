import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { probeRtsp } from '../../src/camera/rtsp-probe.ts';
import { startFakeCamera, type FakeCamera } from '../fixtures/fake-camera.ts';

function withCredentials(url: string, user: string, password: string): string {
  const parsed = new URL(url);
  parsed.username = user;
  parsed.password = password;
  return parsed.toString();
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

describe('probeRtsp against a real RTSP server', () => {
  let open: FakeCamera;
  let digest: FakeCamera;
  let basic: FakeCamera;
  before(async () => {
    [open, digest, basic] = await Promise.all([
      startFakeCamera(),
      startFakeCamera({ user: 'admin', password: 's3cret!', auth: 'digest' }),
      startFakeCamera({ user: 'admin', password: 's3cret!', auth: 'basic' }),
    ]);
  });
  after(() => Promise.all([open?.close(), digest?.close(), basic?.close()]));

  test('a camera without auth answers', async () => {
    assert.deepEqual(await probeRtsp(open.url), { reachable: true, status: 200 });
  });

  test('a wrong stream path → NO_SUCH_STREAM', async () => {
    const result = await probeRtsp(open.url.replace(/\/[^/]*$/, '/no-such-stream'));
    assert.equal(!result.reachable && result.code, 'NO_SUCH_STREAM');
  });

  for (const name of ['digest', 'basic'] as const) {
    test(`${name}: right credentials → reachable, wrong → AUTH_REJECTED, none → AUTH_REQUIRED`, async () => {
      const camera = name === 'digest' ? digest : basic;
      assert.deepEqual(await probeRtsp(camera.urlWithCredentials), { reachable: true, status: 200, scheme: name });
      const wrong = await probeRtsp(withCredentials(camera.url, 'admin', 'nope'));
      assert.equal(wrong.reachable, false);
      assert.equal(!wrong.reachable && wrong.code, 'AUTH_REJECTED');
      const none = await probeRtsp(camera.url);
      assert.equal(!none.reachable && none.code, 'AUTH_REQUIRED');
    });
  }
});

/** A TCP server that accepts and never says a word; closed (with its sockets) after the test. */
async function silentServer(t: TestContext): Promise<number> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => sockets.add(socket));
  const port = await listen(server);
  t.after(() => {
    for (const socket of sockets) socket.destroy();
    return new Promise((resolve) => server.close(resolve));
  });
  return port;
}

describe('probeRtsp failures', () => {
  test('nothing listening → REFUSED', async () => {
    const server = createServer();
    const port = await listen(server);
    await new Promise((resolve) => server.close(resolve));
    const result = await probeRtsp(`rtsp://127.0.0.1:${port}/s`);
    assert.equal(!result.reachable && result.code, 'REFUSED');
  });

  test('a server that never answers → TIMEOUT within the bound', async (t) => {
    const port = await silentServer(t);
    const started = Date.now();
    const result = await probeRtsp(`rtsp://127.0.0.1:${port}/s`, { timeoutMs: 300 });
    assert.equal(!result.reachable && result.code, 'TIMEOUT');
    assert.ok(Date.now() - started < 2000);
  });

  test('a server speaking something else → PROTOCOL', async (t) => {
    const server = createServer((socket) => socket.resume().end('HTTP/1.1 400 Bad Request\r\n\r\n'));
    const port = await listen(server);
    t.after(() => new Promise((resolve) => server.close(resolve)));
    const result = await probeRtsp(`rtsp://127.0.0.1:${port}/s`);
    assert.equal(!result.reachable && result.code, 'PROTOCOL');
  });

  test('an abort signal ends the probe', async (t) => {
    const port = await silentServer(t);
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 50);
    const result = await probeRtsp(`rtsp://127.0.0.1:${port}/s`, { timeoutMs: 5000, signal: abort.signal });
    assert.equal(!result.reachable && result.code, 'ABORTED');
  });
});
