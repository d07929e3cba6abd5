// The ONVIF backchannel client against GStreamer's RTSPOnvifServer (the fake camera), plus a
// scripted RTSP server in Node for what GStreamer cannot be made to do: short session timeouts,
// cameras that answer 400, reassign interleaved channels, or go silent.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeMuLaw, encodeMuLaw } from '../../src/camera/g711.ts';
import { parseChallenge } from '../../src/camera/rtsp-auth.ts';
import {
  Backchannel, BackchannelError, findBackchannelTrack, keepAliveIntervalMs, listTracks, type BackchannelCloseReason,
} from '../../src/camera/rtsp-backchannel.ts';
import { parseInterleavedChannel, parseSessionHeader, readRtspChunk } from '../../src/camera/rtsp-message.ts';
import { createLogger } from '../../src/log.ts';
import { startFakeCamera, type FakeCamera } from '../fixtures/fake-camera.ts';

const log = createLogger({ level: 'silent' });

/** Polls `check` every 20 ms until true or `ms` passed; returns the last result. */
async function until(check: () => boolean, ms: number): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (!check() && performance.now() < deadline) await sleep(20);
  return check();
}

function closedEvent(backchannel: Backchannel): Promise<{ reason: BackchannelCloseReason; detail?: string }> {
  return new Promise((resolve) => backchannel.once('closed', (reason, detail) => resolve({ reason, detail })));
}

async function rejectsWith(promise: Promise<unknown>, code: string, message?: RegExp): Promise<BackchannelError> {
  const err = await promise.then(() => assert.fail('expected a BackchannelError'), (e: unknown) => e);
  assert.ok(err instanceof BackchannelError, String(err));
  assert.equal(err.code, code, err.message);
  if (message) assert.match(err.message, message);
  return err;
}

// GStreamer 1.22's DESCRIBE answer with the Require header (fake camera, audio pcmu).
const GSTREAMER_SDP = `v=0
o=- 6800651503806500613 1 IN IP4 127.0.0.1
s=Session streamed with GStreamer
i=rtsp-server
t=0 0
a=tool:GStreamer
a=type:broadcast
a=control:*
a=range:npt=now-
m=video 0 RTP/AVP 96
c=IN IP4 0.0.0.0
b=AS:819
a=rtpmap:96 H264/90000
a=framerate:15
a=fmtp:96 packetization-mode=1;sprop-parameter-sets=Z0LAFtoCgL/lwFqDAwNSgAAAAwCAAAAPR4sXUA==,aM48gA==;profile-level-id=42c016
a=control:stream=0
a=x-onvif-track:VIDEO000
a=recvonly
m=audio 0 RTP/AVP 0
c=IN IP4 0.0.0.0
b=AS:64
a=rtpmap:0 PCMU/8000
a=control:stream=1
a=x-onvif-track:AUDIO001
a=recvonly
m=audio 0 RTP/AVP 0
c=IN IP4 0.0.0.0
a=rtpmap:0 PCMU/8000
a=control:stream=2
a=x-onvif-track:AUDIO002
a=sendonly
`.replaceAll('\n', '\r\n');

// Hikvision-style: absolute session control, relative trackID controls, G.711 A-law both ways,
// and a metadata track.
const HIKVISION_SDP = `v=0
o=- 1109162014219182 1109162014219192 IN IP4 192.168.1.64
s=Media Presentation
e=NONE
b=AS:5050
t=0 0
a=control:rtsp://192.168.1.64:554/Streaming/Channels/101/
m=video 0 RTP/AVP 96
c=IN IP4 0.0.0.0
b=AS:5000
a=recvonly
a=x-dimensions:1920,1080
a=control:trackID=1
a=rtpmap:96 H264/90000
a=fmtp:96 profile-level-id=420029; packetization-mode=1; sprop-parameter-sets=Z00AKp2oHgCJ+WbgICAgQA==,aO48gA==
m=audio 0 RTP/AVP 8
c=IN IP4 0.0.0.0
b=AS:50
a=recvonly
a=control:trackID=2
a=rtpmap:8 PCMA/8000
m=application 0 RTP/AVP 107
c=IN IP4 0.0.0.0
b=AS:5000
a=recvonly
a=control:trackID=3
a=rtpmap:107 isapi.metadata/90000
m=audio 0 RTP/AVP 8
c=IN IP4 0.0.0.0
a=sendonly
a=control:trackID=4
a=rtpmap:8 PCMA/8000
`.replaceAll('\n', '\r\n');

describe('SDP: listTracks and findBackchannelTrack', () => {
  test("GStreamer's answer: the third track, PCMU, resolved against Content-Base", () => {
    const base = 'rtsp://127.0.0.1:8554/stream/';
    assert.deepEqual(listTracks(GSTREAMER_SDP, base), [
      { control: `${base}stream=0`, media: 'video', direction: 'recvonly' },
      { control: `${base}stream=1`, media: 'audio', direction: 'recvonly' },
      { control: `${base}stream=2`, media: 'audio', direction: 'sendonly' },
    ]);
    assert.deepEqual(findBackchannelTrack(GSTREAMER_SDP, base), {
      control: `${base}stream=2`,
      codec: { encoding: 'PCMU', payloadType: 0, clockRate: 8000 },
    });
  });

  test('Hikvision-style: trackID controls, a metadata track, sendonly PCMA', () => {
    const base = 'rtsp://192.168.1.64:554/Streaming/Channels/101/';
    assert.deepEqual(listTracks(HIKVISION_SDP, base).map((t) => [t.control, t.media, t.direction]), [
      [`${base}trackID=1`, 'video', 'recvonly'],
      [`${base}trackID=2`, 'audio', 'recvonly'],
      [`${base}trackID=3`, 'application', 'recvonly'],
      [`${base}trackID=4`, 'audio', 'sendonly'],
    ]);
    assert.deepEqual(findBackchannelTrack(HIKVISION_SDP, base), {
      control: `${base}trackID=4`,
      codec: { encoding: 'PCMA', payloadType: 8, clockRate: 8000 },
    });
  });

  test('a base without a trailing slash gets one; absolute controls stay; direction defaults to sendrecv', () => {
    const sdp = 'v=0\r\no=- 1 1 IN IP4 10.0.0.2\r\ns=-\r\nt=0 0\r\n'
      + 'm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:rtsp://10.0.0.2/live/video\r\n'
      // Static PT 8 without an rtpmap still is PCMA; PT 0 after an unknown dynamic one is skipped to.
      + 'm=audio 0 RTP/AVP 8\r\na=control:trackID=4\r\na=sendonly\r\n';
    assert.deepEqual(listTracks(sdp, 'rtsp://10.0.0.2/live'), [
      { control: 'rtsp://10.0.0.2/live/video', media: 'video', direction: 'sendrecv' },
      { control: 'rtsp://10.0.0.2/live/trackID=4', media: 'audio', direction: 'sendonly' },
    ]);
    assert.deepEqual(findBackchannelTrack(sdp, 'rtsp://10.0.0.2/live')?.codec, { encoding: 'PCMA', payloadType: 8, clockRate: 8000 });
    const preferred = sdp.replace('m=audio 0 RTP/AVP 8', 'm=audio 0 RTP/AVP 97 0').replace('a=sendonly', 'a=rtpmap:97 G726-32/8000\r\na=sendonly');
    assert.equal(findBackchannelTrack(preferred, 'rtsp://10.0.0.2/live')?.codec.encoding, 'PCMU');
  });

  test('no backchannel: only recvonly audio, or a sendonly track in another codec', () => {
    const base = 'rtsp://127.0.0.1/stream/';
    assert.equal(findBackchannelTrack(GSTREAMER_SDP.replace('a=sendonly', 'a=recvonly'), base), undefined);
    const aac = GSTREAMER_SDP.replace('m=audio 0 RTP/AVP 0\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:0 PCMU/8000\r\na=control:stream=2',
      'm=audio 0 RTP/AVP 97\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:97 MPEG4-GENERIC/16000/1\r\na=control:stream=2');
    assert.equal(findBackchannelTrack(aac, base), undefined);
  });
});

describe('RTSP framing', () => {
  test('interleaved frames and responses mixed, fed one byte at a time', () => {
    // A frame whose payload looks like an RTSP answer must not be read as one.
    const fake = Buffer.from('RTSP/1.0 200 OK\r\nCSeq: 9\r\n\r\n');
    const frame = Buffer.concat([Buffer.from([0x24, 1, 0, fake.length]), fake]);
    const answer = Buffer.from('RTSP/1.0 200 OK\r\nCSeq: 7\r\nContent-Length: 4\r\n\r\nbody');
    const request = Buffer.from('GET_PARAMETER rtsp://x/ RTSP/1.0\r\nCSeq: 1\r\n\r\n');
    const stream = Buffer.concat([frame, answer, request, Buffer.from([0x24, 0, 0, 0]), frame]);
    const seen: string[] = [];
    let buffer = Buffer.alloc(0);
    for (const byte of stream) {
      buffer = Buffer.concat([buffer, Buffer.of(byte)]);
      for (let chunk = readRtspChunk(buffer); chunk !== 'incomplete'; chunk = readRtspChunk(buffer)) {
        buffer = buffer.subarray(chunk.length);
        if (chunk.type === 'interleaved') seen.push(`$${chunk.channel}:${chunk.payload.length}`);
        else if (chunk.type === 'response') seen.push(`${chunk.reply.status} ${chunk.reply.reason} ${chunk.reply.headers.get('cseq')} ${chunk.reply.body}`);
        else seen.push(chunk.type);
      }
    }
    assert.deepEqual(seen, [`$1:${fake.length}`, '200 OK 7 body', 'request', '$0:0', `$1:${fake.length}`]);
    assert.equal(buffer.length, 0);
  });

  test('garbage is skipped up to the next frame or status line', () => {
    const chunk = readRtspChunk(Buffer.from('\x00\x01junkRTSP/1.0 200 OK\r\n\r\n', 'latin1'));
    assert.deepEqual(chunk, { type: 'garbage', length: 6 });
  });

  test('Session and Transport headers', () => {
    assert.deepEqual(parseSessionHeader('hvd2VExjns2JyNnE'), { id: 'hvd2VExjns2JyNnE', timeoutSec: 60 });
    assert.deepEqual(parseSessionHeader('12345678; timeout=30'), { id: '12345678', timeoutSec: 30 });
    assert.equal(parseInterleavedChannel('RTP/AVP/TCP;unicast;interleaved=4-5;ssrc=F8C8A4AA;mode="PLAY"'), 4);
    assert.equal(parseInterleavedChannel('RTP/AVP;unicast;client_port=5000-5001'), undefined);
  });

  test('keep-alive every half session timeout, at least 1 s', () => {
    assert.equal(keepAliveIntervalMs(60), 30_000);
    assert.equal(keepAliveIntervalMs(1), 1000);
  });
});

describe('against the GStreamer fake camera', () => {
  const dir = mkdtempSync(join(tmpdir(), 'porchlight-backchannel-'));
  const talkFile = join(dir, 'talk.ulaw');
  let talk: FakeCamera;
  let plain: FakeCamera;
  let doomed: FakeCamera;
  const open: Backchannel[] = [];
  before(async () => {
    [talk, plain, doomed] = await Promise.all([
      startFakeCamera({ audio: 'pcmu', backchannel: talkFile, user: 'admin', password: 's3cret!', auth: 'digest' }),
      startFakeCamera({ audio: 'pcmu' }),
      startFakeCamera({ audio: 'pcmu', backchannel: join(dir, 'doomed.ulaw') }),
    ]);
  });
  after(async () => {
    await Promise.all(open.map((b) => b.close()));
    await Promise.all([talk?.close(), plain?.close(), doomed?.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  test('digest auth, PCMU: 1 s of 440 Hz reaches the camera intact', async (t) => {
    const started = performance.now();
    const backchannel = await Backchannel.open({ url: talk.urlWithCredentials, log });
    open.push(backchannel);
    const openMs = performance.now() - started;
    assert.deepEqual(backchannel.codec, { encoding: 'PCMU', payloadType: 0, clockRate: 8000 });

    const pcm = Int16Array.from({ length: 8000 }, (_, i) => Math.round(16000 * Math.sin((2 * Math.PI * 440 * i) / 8000)));
    const ulaw = encodeMuLaw(pcm);
    // Paced against the clock, as the talkback pipeline delivers 20 ms frames.
    const t0 = performance.now();
    for (let i = 0; i < 50; i++) {
      backchannel.sendAudio(ulaw.subarray(i * 160, (i + 1) * 160));
      const wait = t0 + (i + 1) * 20 - performance.now();
      if (wait > 0) await sleep(wait);
    }
    assert.equal(backchannel.packetsSent, 50);
    const size = () => { try { return statSync(talkFile).size; } catch { return 0; } };
    await until(() => size() >= 8000, 3000);
    assert.equal(size(), 8000);

    const received = decodeMuLaw(readFileSync(talkFile));
    const rms = Math.sqrt(received.reduce((sum, s) => sum + s * s, 0) / received.length);
    let crossings = 0;
    for (let i = 1; i < received.length; i++) if ((received[i - 1]! < 0) !== (received[i]! < 0)) crossings++;
    assert.ok(rms > 10_000, `RMS ${rms}`); // 16000/√2 ≈ 11300 sent
    assert.ok(Math.abs(crossings - 880) <= 4, `${crossings} zero crossings for 1 s of 440 Hz`);

    const closed = closedEvent(backchannel);
    const closeStarted = performance.now();
    await Promise.all([backchannel.close(), backchannel.close()]);
    assert.deepEqual(await closed, { reason: 'closed', detail: undefined });
    backchannel.sendAudio(ulaw.subarray(0, 160)); // no-op once closed
    assert.equal(backchannel.packetsSent, 50);
    t.diagnostic(`open ${openMs.toFixed(0)} ms, close ${(performance.now() - closeStarted).toFixed(0)} ms, RMS ${rms.toFixed(0)}`);
  });

  test('a camera without the backchannel → UNSUPPORTED, saying why', async () => {
    await rejectsWith(Backchannel.open({ url: plain.url, log }), 'UNSUPPORTED', /no ONVIF audio backchannel.*551 Option not supported/);
  });

  test('credentials: wrong → AUTH, missing → AUTH asking for them; wrong path → NOT_FOUND', async () => {
    const wrong = new URL(talk.url);
    [wrong.username, wrong.password] = ['admin', 'nope'];
    await rejectsWith(Backchannel.open({ url: wrong.href, log }), 'AUTH', /rejected the credentials/);
    await rejectsWith(Backchannel.open({ url: talk.url, log }), 'AUTH', /asks for credentials/);
    await rejectsWith(Backchannel.open({ url: talk.urlWithCredentials.replace(/\/stream$/, '/nope'), log }), 'NOT_FOUND');
  });

  test('nothing listening → NETWORK', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    await new Promise((resolve) => server.close(resolve));
    await rejectsWith(Backchannel.open({ url: `rtsp://127.0.0.1:${port}/stream`, log }), 'NETWORK', /ECONNREFUSED/);
  });

  test('the camera going away mid-stream → closed(camera-closed), nothing thrown', async () => {
    const backchannel = await Backchannel.open({ url: doomed.url, log });
    open.push(backchannel);
    const closed = closedEvent(backchannel);
    const talking = setInterval(() => backchannel.sendAudio(Buffer.alloc(160, 0xff)), 20);
    try {
      await sleep(200);
      await doomed.close();
      const result = await Promise.race([closed, sleep(5000).then(() => undefined)]);
      assert.equal(result?.reason, 'camera-closed');
      backchannel.sendAudio(Buffer.alloc(160, 0xff)); // still no throw
    } finally {
      clearInterval(talking);
    }
    await backchannel.close(); // already closed: a no-op
  });
});

// ---- A scripted camera, for behaviour GStreamer cannot be configured into ----

interface Received { method: string; uri: string; headers: Record<string, string> }

interface ScriptOptions {
  sessionTimeoutSec?: number;
  publicMethods?: string;
  describe?: (req: Received) => { status: string; body?: string };
  /** Interleaved RTP channel the camera assigns to track n (default: what the client asked). */
  channelFor?: (n: number) => number;
  /** Stop answering (and streaming) after PLAY, like a camera that hung. */
  hangAfterPlay?: boolean;
  digest?: { user: string; password: string };
  /** Content-Base from the camera's URL (default: it plus a slash). */
  contentBase?: (url: string) => string;
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

  test('a camera that hangs after PLAY → closed(error) after a session timeout of silence', async () => {
    const cam = await camera({ sessionTimeoutSec: 1, hangAfterPlay: true });
    const backchannel = await Backchannel.open({ url: cam.url, log, timeoutMs: 500 });
    open.push(backchannel);
    const result = await Promise.race([closedEvent(backchannel), sleep(4000).then(() => undefined)]);
    assert.equal(result?.reason, 'error');
    assert.match(result?.detail ?? '', /nothing received from the camera/);
  });
});
