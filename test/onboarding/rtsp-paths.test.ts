/**
 * The RTSP path table for cameras without ONVIF: against the GStreamer fake camera (it serves one
 * mount path, as a camera of one brand does), and a scripted RTSP server for the order in which
 * answers count and the concurrency bound.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { candidatePaths, candidateUrl, findRtspPath, RTSP_PATHS, type RtspPathCandidate } from '../../src/onboarding/rtsp-paths.ts';
import { startFakeCamera, type FakeCamera } from '../fixtures/fake-camera.ts';
import { runPorchlight } from '../helpers/run-porchlight.ts';


test('candidatePaths: the brand\'s own paths first (OEM brands as their maker), each path once', () => {
  assert.deepEqual(candidatePaths('Amcrest').slice(0, 2).map((c) => c.path), ['/cam/realmonitor?channel=1&subtype=0', '/cam/realmonitor?channel=1&subtype=1']);
  assert.deepEqual(candidatePaths('Reolink').slice(0, 3).map((c) => c.path), ['/h264Preview_01_main', '/h264Preview_01_sub', '/Preview_01_main']);
  assert.equal(candidatePaths('Tapo C200')[0]!.path, '/stream1');
  assert.deepEqual(candidatePaths('Nobody').map((c) => c.path), RTSP_PATHS.map((c) => c.path));
  assert.deepEqual(candidatePaths(), candidatePaths('Nobody'));
  for (const brand of [undefined, 'Hikvision', 'Foscam']) {
    const paths = candidatePaths(brand).map((c) => c.path);
    assert.equal(new Set(paths).size, paths.length);
    assert.equal(paths.length, RTSP_PATHS.length);
  }
  for (const wanted of ['/Streaming/Channels/101', '/Streaming/Channels/102', '/cam/realmonitor?channel=1&subtype=0', '/h264Preview_01_main', '/axis-media/media.amp', '/media/video1', '/videoMain', '/stream1', '/stream2', '/live', '/h264']) {
    assert.ok(RTSP_PATHS.some((c) => c.path === wanted), wanted);
  }
});

test('candidateUrl: credentials percent-encoded, IPv6 bracketed, 554 left out', () => {
  assert.equal(candidateUrl('10.0.0.5', 554, '/cam/realmonitor?channel=1&subtype=0', { username: 'admin', password: 'p@ss:w/rd' }),
    'rtsp://admin:p%40ss%3Aw%2Frd@10.0.0.5/cam/realmonitor?channel=1&subtype=0');
  assert.equal(candidateUrl('fe80::2', 8554, '/live'), 'rtsp://[fe80::2]:8554/live');
});

describe('finding the path against a real RTSP server that serves one', () => {
  let camera: FakeCamera;
  const dir = mkdtempSync(join(tmpdir(), 'porchlight-paths-'));
  before(async () => {
    camera = await startFakeCamera({ path: '/h264Preview_01_sub', user: 'admin', password: 'right-password' });
  });
  after(async () => {
    await camera?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the one path it serves wins, without credentials in the URL', async () => {
    const result = await findRtspPath({ host: '127.0.0.1', port: camera.port, username: 'admin', password: 'right-password' });
    assert.equal(result.found, true, JSON.stringify(result));
    assert.ok(result.found);
    assert.equal(result.url, `rtsp://127.0.0.1:${camera.port}/h264Preview_01_sub`);
    assert.deepEqual(result.candidate, { brand: 'Reolink', path: '/h264Preview_01_sub', stream: 'sub' });
    assert.equal(result.scheme, 'digest');
    // The rest of the table was not needed.
    assert.ok(result.tried < RTSP_PATHS.length, `tried ${result.tried}`);
  });

  test('a brand hint puts its paths first: found in a couple of tries', async () => {
    const result = await findRtspPath({ host: '127.0.0.1', port: camera.port, username: 'admin', password: 'right-password', brand: 'Reolink', concurrency: 1 });
    assert.ok(result.found);
    assert.equal(result.tried, 2);
  });

  test('a wrong password is said to be one', async () => {
    // GStreamer looks up the path before the credentials (404 for every other path), so the
    // refusal comes on the path it serves.
    const result = await findRtspPath({ host: '127.0.0.1', port: camera.port, username: 'admin', password: 'wrong-password' });
    assert.equal(!result.found && result.code, 'CREDENTIALS');
    assert.equal(!result.found && result.reason, `the camera at 127.0.0.1:${camera.port} refused the user and password (401): the password is wrong`);
    const none = await findRtspPath({ host: '127.0.0.1', port: camera.port });
    assert.equal(!none.found && none.code, 'CREDENTIALS');
    assert.match(!none.found ? none.reason : '', /asks for a user and password/);
  });

  test('`porchlight cameras inspect --rtsp-host`: the path found, the password never printed', async () => {
    const passwordFile = join(dir, 'password');
    writeFileSync(passwordFile, 'right-password\n');
    const found = await runPorchlight(['cameras', 'inspect', '--rtsp-host', `127.0.0.1:${camera.port}`, '--user', 'admin', '--password-file', passwordFile]);
    assert.equal(found.code, 0, found.stderr);
    assert.match(found.stdout, new RegExp(`^RTSP\\s+rtsp://127\\.0\\.0\\.1:${camera.port}/h264Preview_01_sub answers DESCRIBE 200 \\(digest\\): Reolink sub stream`, 'm'));
    writeFileSync(passwordFile, 'wrong-password\n');
    const wrong = await runPorchlight(['cameras', 'inspect', '--rtsp-host', `127.0.0.1:${camera.port}`, '--user', 'admin', '--password-file', passwordFile, '--json']);
    assert.equal(wrong.code, 1);
    assert.equal((JSON.parse(wrong.stdout) as { rtsp: { code: string } }).rtsp.code, 'CREDENTIALS');
    for (const r of [found, wrong]) assert.ok(!/right-password|wrong-password/.test(r.stdout + r.stderr));
    const usage = await runPorchlight(['cameras', 'inspect', '--user', 'admin']);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /give --onvif .* or --rtsp-host/);
  });
});

/**
 * An RTSP server answering DESCRIBE 200 on some paths (after a delay each), 404 on the rest; with
 * a password, it asks for Basic credentials before it looks at the path, as most cameras do.
 */
async function scriptedRtspServer(served: Record<string, number>, password?: string): Promise<{ port: number; described: string[]; failedLogins: () => number; maxOpen: () => number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const described: string[] = [];
  let failedLogins = 0;
  let open = 0;
  let maxOpen = 0;
  const timers = new Set<NodeJS.Timeout>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    open += 1;
    maxOpen = Math.max(maxOpen, open);
    socket.once('close', () => {
      sockets.delete(socket);
      open -= 1;
    });
    socket.on('error', () => {});
    let buffer = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => {
      buffer += chunk;
      let end: number;
      while ((end = buffer.indexOf('\r\n\r\n')) >= 0) {
        const head = buffer.slice(0, end);
        buffer = buffer.slice(end + 4);
        const [method, uri] = head.split(' ');
        const cseq = /CSeq: (\d+)/i.exec(head)?.[1];
        if (method !== 'DESCRIBE') {
          socket.write(`RTSP/1.0 200 OK\r\nCSeq: ${cseq}\r\nPublic: OPTIONS, DESCRIBE\r\n\r\n`);
          continue;
        }
        if (password !== undefined) {
          const given = /Authorization: Basic (\S+)/i.exec(head)?.[1];
          if (given !== Buffer.from(`admin:${password}`).toString('base64')) {
            if (given) failedLogins += 1;
            socket.write(`RTSP/1.0 401 Unauthorized\r\nCSeq: ${cseq}\r\nWWW-Authenticate: Basic realm="cam"\r\n\r\n`);
            continue;
          }
        }
        const url = new URL(uri!);
        const path = url.pathname + url.search;
        described.push(path);
        const delay = served[path];
        if (delay === undefined) {
          socket.write(`RTSP/1.0 404 Not Found\r\nCSeq: ${cseq}\r\n\r\n`);
          continue;
        }
        const sdp = 'v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=fake\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n';
        const timer = setTimeout(() => {
          timers.delete(timer);
          if (!socket.destroyed) socket.write(`RTSP/1.0 200 OK\r\nCSeq: ${cseq}\r\nContent-Type: application/sdp\r\nContent-Length: ${Buffer.byteLength(sdp)}\r\n\r\n${sdp}`);
        }, delay);
        timers.add(timer);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    described,
    failedLogins: () => failedLogins,
    maxOpen: () => maxOpen,
    close: () => {
      for (const timer of timers) clearTimeout(timer);
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

describe('the order answers count in, and the bounds', () => {
  const table: RtspPathCandidate[] = ['/a', '/b', '/c', '/d', '/e', '/f', '/g', '/h'].map((path) => ({ brand: 'test', path, stream: 'main' }));

  test('the first path in the table that answers 200 wins, even when a later one answers sooner', async (t) => {
    const server = await scriptedRtspServer({ '/c': 400, '/d': 0, '/g': 0 });
    t.after(() => server.close());
    const result = await findRtspPath({ host: '127.0.0.1', port: server.port, paths: table, concurrency: 3 });
    assert.ok(result.found, JSON.stringify(result));
    assert.equal(result.candidate.path, '/c');
    // `concurrency` at once (+2: a finished probe's socket closes on the server's side a moment
    // after its successor connects, later on a loaded machine); once /d had answered nothing new
    // starts (/e and /f may have, each after a fast 404, before /d's answer was read).
    assert.ok(server.maxOpen() <= 3 + 2, `open at once: ${server.maxOpen()}`);
    assert.ok(!server.described.some((p) => p === '/g' || p === '/h'), server.described.join(' '));
  });

  test('a camera that asks for credentials before the path: a wrong password is found with one failed login', async (t) => {
    const server = await scriptedRtspServer({ '/e': 0 }, 'right');
    t.after(() => server.close());
    const wrong = await findRtspPath({ host: '127.0.0.1', port: server.port, paths: table, username: 'admin', password: 'wrong' });
    assert.deepEqual([wrong.found, !wrong.found && wrong.code, wrong.tried, server.failedLogins()], [false, 'CREDENTIALS', 1, 1]);
    const right = await findRtspPath({ host: '127.0.0.1', port: server.port, paths: table, username: 'admin', password: 'right' });
    assert.deepEqual([right.found, right.found && right.candidate.path, right.found && right.scheme], [true, '/e', 'basic']);
  });

  test('nothing answers 200: not found, every path tried; a server too slow: the total deadline', async (t) => {
    const none = await scriptedRtspServer({});
    t.after(() => none.close());
    const result = await findRtspPath({ host: '127.0.0.1', port: none.port, paths: table });
    assert.deepEqual([result.found, !result.found && result.code, result.tried], [false, 'NOT_FOUND', table.length]);
    const slow = await scriptedRtspServer({ '/b': 60_000 });
    t.after(() => slow.close());
    const started = Date.now();
    const timedOut = await findRtspPath({ host: '127.0.0.1', port: slow.port, paths: table, totalTimeoutMs: 500, probeTimeoutMs: 10_000 });
    assert.equal(!timedOut.found && timedOut.code, 'TIMEOUT');
    assert.ok(Date.now() - started < 3000);
  });

  test('nothing listening: no RTSP there, after one probe', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    await new Promise((resolve) => server.close(resolve));
    const result = await findRtspPath({ host: '127.0.0.1', port });
    assert.deepEqual([result.found, !result.found && result.code, result.tried], [false, 'NO_RTSP', 1]);
  });
});

