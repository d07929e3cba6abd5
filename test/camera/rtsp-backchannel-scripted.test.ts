// The ONVIF backchannel client against a scripted RTSP server in Node, for what GStreamer cannot be
// made to do: short session timeouts, cameras that answer 400, reassign interleaved channels, or
// go silent.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseChallenge } from '../../src/camera/rtsp-auth.ts';
import { Backchannel } from '../../src/camera/rtsp-backchannel.ts';
import { createLogger } from '../../src/log.ts';
import { closedEvent, GSTREAMER_SDP, HIKVISION_SDP, log, rejectsWith, until } from './rtsp-backchannel-helpers.ts';

// ---- A scripted camera, for behaviour GStreamer cannot be configured into ----

interface Received { method: string; uri: string; headers: Record<string, string> }

interface ScriptOptions {
  sessionTimeoutSec?: number;
  publicMethods?: string;
  /** A DESCRIBE answer of its own; undefined: the default one. */
  describe?: (req: Received) => { status: string; body?: string } | undefined;
  /** Interleaved RTP channel the camera assigns to track n (default: what the client asked). */
  channelFor?: (n: number) => number;
  /** Stop answering (and streaming) after PLAY, like a camera that hung. */
  hangAfterPlay?: boolean;
  digest?: { user: string; password: string };
  /** Content-Base from the camera's URL (default: it plus a slash). */
  contentBase?: (url: string) => string;
  /** Answer SETUP of this URI with 461 Unsupported Transport. */
  refuseSetup?: (uri: string) => boolean;
}

interface ScriptedCamera {
  url: string;
  requests: Received[];
  frames: { channel: number; length: number }[];
  /** Requests whose Digest response was verified for their own method and URI. */
  verified: string[];
  socketClosed: Promise<void>;
  close(): Promise<void>;
}

const SCRIPTED_SDP = (host: string) => HIKVISION_SDP.replaceAll('192.168.1.64:554', host);

async function scriptedCamera(options: ScriptOptions = {}): Promise<ScriptedCamera> {
  const requests: Received[] = [];
  const frames: { channel: number; length: number }[] = [];
  const verified: string[] = [];
  const sockets = new Set<Socket>();
  let socketClosed!: () => void;
  const closedPromise = new Promise<void>((resolve) => (socketClosed = resolve));
  const md5 = (s: string) => createHash('md5').update(s).digest('hex');
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => { sockets.delete(socket); socketClosed(); });
    socket.on('error', () => {});
    let buffer = Buffer.alloc(0);
    let hung = false;
    let streaming: NodeJS.Timeout | undefined;
    socket.on('close', () => clearInterval(streaming));
    const answer = (req: Received, status: string, headers: Record<string, string> = {}, body = '') => {
      const lines = [`RTSP/1.0 ${status}`, `CSeq: ${req.headers.cseq}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
      if (body) lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
      socket.write(`${lines.join('\r\n')}\r\n\r\n${body}`);
    };
    const handle = (req: Received) => {
      requests.push(req);
      if (hung) return;
      if (options.digest) {
        const auth = req.headers.authorization ? parseChallenge(req.headers.authorization) : undefined;
        const p = auth?.params ?? {};
        const ha1 = md5(`${options.digest.user}:scripted:${options.digest.password}`);
        if (p.uri !== req.uri || p.response !== md5(`${ha1}:n0nce:${md5(`${req.method}:${p.uri}`)}`)) {
          answer(req, '401 Unauthorized', { 'WWW-Authenticate': 'Digest realm="scripted", nonce="n0nce"' });
          return;
        }
        verified.push(req.method);
      }
      const session = `8F3A2C;timeout=${options.sessionTimeoutSec ?? 60}`;
      switch (req.method) {
        case 'OPTIONS': answer(req, '200 OK', { Public: options.publicMethods ?? 'OPTIONS, DESCRIBE, SETUP, PLAY, GET_PARAMETER, TEARDOWN' }); break;
        case 'DESCRIBE': {
          const custom = options.describe?.(req);
          if (custom) { answer(req, custom.status, custom.body ? { 'Content-Type': 'application/sdp' } : {}, custom.body); break; }
          if (req.headers.require !== 'www.onvif.org/ver20/backchannel') { answer(req, '551 Option not supported'); break; }
          answer(req, '200 OK', { 'Content-Base': options.contentBase?.(url) ?? `${url}/`, 'Content-Type': 'application/sdp' }, SCRIPTED_SDP(new URL(url).host));
          break;
        }
        case 'SETUP': {
          if (options.refuseSetup?.(req.uri)) { answer(req, '461 Unsupported Transport'); break; }
          const asked = Number(/interleaved=(\d+)/.exec(req.headers.transport ?? '')?.[1]);
          const channel = options.channelFor?.(asked / 2) ?? asked;
          answer(req, '200 OK', { Session: session, Transport: `RTP/AVP/TCP;unicast;interleaved=${channel}-${channel + 1}` });
          break;
        }
        case 'PLAY':
          answer(req, '200 OK', { Session: session });
          if (options.hangAfterPlay) { hung = true; break; }
          // Video on channel 0 between our answers, as a real camera streams.
          streaming = setInterval(() => socket.write(Buffer.concat([Buffer.from([0x24, 0, 0x04, 0x00]), Buffer.alloc(1024, 7)])), 30);
          break;
        case 'TEARDOWN': answer(req, '200 OK', { Session: session, Connection: 'close' }); socket.end(); break;
        default: answer(req, '200 OK', { Session: session });
      }
    };
    socket.on('data', (data: Buffer) => {
      buffer = Buffer.concat([buffer, data]);
      for (;;) {
        if (buffer[0] === 0x24) {
          if (buffer.length < 4 || buffer.length < 4 + buffer.readUInt16BE(2)) return;
          frames.push({ channel: buffer[1]!, length: buffer.readUInt16BE(2) });
          buffer = buffer.subarray(4 + buffer.readUInt16BE(2));
          continue;
        }
        const end = buffer.indexOf('\r\n\r\n');
        if (end < 0) return;
        const [line = '', ...headerLines] = buffer.subarray(0, end).toString('latin1').split('\r\n');
        buffer = buffer.subarray(end + 4);
        const [method = '', uri = ''] = line.split(' ');
        const headers = Object.fromEntries(headerLines.map((h) => [h.slice(0, h.indexOf(':')).toLowerCase(), h.slice(h.indexOf(':') + 1).trim()]));
        handle({ method, uri, headers });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `rtsp://127.0.0.1:${(server.address() as { port: number }).port}/Streaming/Channels/101`;
  return {
    url, requests, frames, verified, socketClosed: closedPromise,
    close: () => new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    }),
  };
}

describe('against a scripted camera', () => {
  const cameras: ScriptedCamera[] = [];
  const open: Backchannel[] = [];
  const camera = async (options?: ScriptOptions) => {
    const cam = await scriptedCamera(options);
    cameras.push(cam);
    return cam;
  };
  after(async () => {
    await Promise.all(open.map((b) => b.close()));
    await Promise.all(cameras.map((c) => c.close()));
  });

  test('digest on every request, every track set up in order, the channel the camera assigned', async () => {
    const cam = await camera({
      digest: { user: 'op', password: 'pa:ss' },
      channelFor: (n) => 10 + 2 * n,
      // Some cameras echo the credentials in Content-Base: they must not end up in track URLs.
      contentBase: (url) => `${url.replace('rtsp://', 'rtsp://op:pa%3Ass@')}/`,
    });
    const url = cam.url.replace('rtsp://', 'rtsp://op:pa%3Ass@');
    const backchannel = await Backchannel.open({ url, log });
    open.push(backchannel);
    assert.deepEqual(backchannel.codec, { encoding: 'PCMA', payloadType: 8, clockRate: 8000 });
    const base = `${cam.url}/`;
    const setups = cam.requests.filter((r) => r.method === 'SETUP' && r.headers.authorization);
    assert.deepEqual(setups.map((r) => [r.uri, r.headers.transport]), [1, 2, 3, 4].map((n) => [
      `${base}trackID=${n}`, `RTP/AVP/TCP;unicast;interleaved=${2 * n - 2}-${2 * n - 1}`,
    ]));
    assert.deepEqual(setups.map((r) => r.headers.session), [undefined, '8F3A2C', '8F3A2C', '8F3A2C']);
    const play = cam.requests.find((r) => r.method === 'PLAY')!;
    assert.equal(play.uri, 'rtsp://127.0.0.1:' + new URL(cam.url).port + '/Streaming/Channels/101/');
    assert.deepEqual([play.headers.session, play.headers.range, play.headers.require], ['8F3A2C', 'npt=0.000-', 'www.onvif.org/ver20/backchannel']);

    backchannel.sendAudio(Buffer.alloc(160, 0xd5));
    backchannel.sendAudio(Buffer.alloc(160, 0xd5));
    await until(() => cam.frames.length >= 2, 2000);
    assert.deepEqual(cam.frames, [{ channel: 16, length: 172 }, { channel: 16, length: 172 }]); // 10 + 2·3
    await backchannel.close();
    await cam.socketClosed;
    assert.deepEqual(cam.verified, ['OPTIONS', 'DESCRIBE', 'SETUP', 'SETUP', 'SETUP', 'SETUP', 'PLAY', 'TEARDOWN']);
  });

  test('keep-alive at half the session timeout (GET_PARAMETER, or OPTIONS when not offered), stopped by close()', async () => {
    const [withGet, withoutGet] = await Promise.all([
      camera({ sessionTimeoutSec: 2 }),
      camera({ sessionTimeoutSec: 2, publicMethods: 'OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN' }),
    ]);
    const keepAlives = (cam: ScriptedCamera, method: string) => cam.requests.filter((r) => r.method === method && r.headers.session).length;
    await Promise.all([[withGet, 'GET_PARAMETER'], [withoutGet, 'OPTIONS']].map(async ([cam, method]) => {
      const c = cam as ScriptedCamera;
      const started = performance.now();
      const backchannel = await Backchannel.open({ url: c.url, log });
      open.push(backchannel);
      assert.ok(await until(() => keepAlives(c, method as string) >= 2, 3000), `${method}: ${keepAlives(c, method as string)} keep-alives`);
      const elapsed = performance.now() - started;
      assert.ok(elapsed > 1900 && elapsed < 3000, `two keep-alives after ${elapsed} ms`);
      await backchannel.close();
      await c.socketClosed;
      assert.equal(c.requests.at(-1)?.method, 'TEARDOWN');
      const count = keepAlives(c, method as string);
      await sleep(1200);
      assert.equal(keepAlives(c, method as string), count, 'no keep-alive after close');
    }));
  });

  test('DESCRIBE refused with 400, or an SDP without a sendonly track → UNSUPPORTED', async () => {
    const refusing = await camera({ describe: () => ({ status: '400 Bad Request' }) });
    await rejectsWith(Backchannel.open({ url: refusing.url, log }), 'UNSUPPORTED', /Require: www\.onvif\.org\/ver20\/backchannel answered 400 Bad Request/);
    const oneWay = await camera({ describe: () => ({ status: '200 OK', body: GSTREAMER_SDP.replace('a=sendonly', 'a=recvonly') }) });
    await rejectsWith(Backchannel.open({ url: oneWay.url, log }), 'UNSUPPORTED', /no sendonly audio track/);
    assert.ok(!oneWay.requests.some((r) => r.method === 'SETUP'));
  });

  test('a camera that never answers → TIMEOUT within the bound', async () => {
    const sockets: Socket[] = [];
    const silent = createServer((socket) => sockets.push(socket.on('error', () => {})));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = silent.address() as { port: number };
      const started = performance.now();
      await rejectsWith(Backchannel.open({ url: `rtsp://127.0.0.1:${port}/x`, log, timeoutMs: 300 }), 'TIMEOUT', /OPTIONS within 300 ms/);
      assert.ok(performance.now() - started < 1000);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  test('credentials in absolute a=control URLs are neither sent in request lines nor logged', async () => {
    // Pieces of a password holding a raw `@`, a `:` and a `%40`, and secrets in query values.
    const pieces = ['Seg1alpha', 'Seg2bravo', 'Seg3charlie', 'Seg4delta', 'Qry5echo', 'Qry6foxtrot'];
    const password = 'Seg1alpha@Seg2bravo:Seg3charlie@Seg4delta';
    const inUrl = 'Seg1alpha@Seg2bravo:Seg3charlie%40Seg4delta';
    let host = '';
    const withCredentials = (track: string) => `rtsp://op:${inUrl}@${host}/Streaming/Channels/101/${track}?pwd=Qry5echo&password=Qry6foxtrot`;
    const cam = await camera({
      digest: { user: 'op', password },
      describe: (req) => (req.headers.authorization ? {
        status: '200 OK',
        body: SCRIPTED_SDP(host).replace(/a=control:(trackID=\d)/g, (_m, track: string) => `a=control:${withCredentials(track)}`),
      } : undefined),
      refuseSetup: (uri) => uri.includes('trackID=3'), // the metadata track: logged as refused
    });
    host = new URL(cam.url).host;
    const lines: string[] = [];
    const capture = createLogger({ level: 'trace', destination: new Writable({ write(chunk, _e, done) { lines.push(chunk.toString()); done(); } }) });
    const backchannel = await Backchannel.open({ url: cam.url.replace('rtsp://', `rtsp://op:${inUrl}@`), log: capture });
    open.push(backchannel);
    const setups = cam.requests.filter((r) => r.method === 'SETUP' && r.headers.authorization).map((r) => r.uri);
    assert.equal(setups.length, 4);
    for (const uri of setups) assert.ok(!uri.includes('@'), `SETUP ${uri} carries userinfo`);
    assert.ok(cam.verified.includes('PLAY'), 'digest with the decoded password');
    await backchannel.close();
    const text = lines.join('');
    assert.match(text, /camera refused SETUP of a track/);
    for (const piece of pieces) assert.ok(!text.includes(piece), `${piece} in the log:\n${text}`);
  });

  test('a camera that hangs after PLAY → closed(error) after a session timeout of silence', async () => {
    const cam = await camera({ sessionTimeoutSec: 1, hangAfterPlay: true });
    const backchannel = await Backchannel.open({ url: cam.url, log, timeoutMs: 500 });
    open.push(backchannel);
    const result = await Promise.race([closedEvent(backchannel), sleep(4000).then(() => undefined)]);
    assert.equal(result?.reason, 'error');
    assert.match(result?.detail ?? '', /nothing received from the camera/);
  });
});
