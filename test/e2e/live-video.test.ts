/**
 * Live video end to end, through POST /alexa only: a GStreamer RTSP camera, the bridge with its
 * real ffmpeg and werift, and headless Chromium as the viewer. Loopback only: the bridge
 * advertises 127.0.0.1 alone and the viewer's offer carries only 127.0.0.1 candidates.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import type { CameraStream } from '../../src/camera/camera-stream.ts';
import { assertValidAlexaMessage } from '../helpers/alexa-schema.ts';
import { startBridge, type TestBridge } from '../helpers/bridge.ts';
import { launchChromium, type ChromiumBrowser, type ChromiumViewer } from '../helpers/chromium-viewer.ts';
import { directive } from '../helpers/directives.ts';
import { until } from '../helpers/until.ts';
import { startFakeCamera, type FakeCamera } from '../fixtures/fake-camera.ts';

const RTC = 'Alexa.RTCSessionController';

/** ffmpeg processes this test process started (the bridge runs in it). */
function ourFfmpegPids(): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(process.pid), '-x', 'ffmpeg'], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).map(Number);
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

async function offer(bridge: TestBridge, endpointId: string, sessionId: string, sdp: string) {
  const request = directive(RTC, 'InitiateSessionWithOffer', { endpointId, payload: { sessionId, offer: { format: 'SDP', value: sdp } } });
  const { status, json } = await bridge.postAlexa(request);
  assert.equal(status, 200);
  assertValidAlexaMessage(json);
  return json;
}

async function watch(bridge: TestBridge, viewer: ChromiumViewer, endpointId: string, sessionId: string, audio: 'recvonly' | 'none' = 'recvonly') {
  const reply = await offer(bridge, endpointId, sessionId, await viewer.createOffer({ audio }));
  assert.equal(reply.event.header.name, 'AnswerGeneratedForSession', JSON.stringify(reply.event.payload));
  const answeredAt = await viewer.markAnswerTime();
  await viewer.setAnswer(reply.event.payload.answer.value);
  return { reply, answeredAt };
}

async function sessionEvent(bridge: TestBridge, endpointId: string, name: 'SessionConnected' | 'SessionDisconnected', sessionId: string) {
  const { json } = await bridge.postAlexa(directive(RTC, name, { endpointId, payload: { sessionId } }));
  assertValidAlexaMessage(json);
  return json;
}

/** Waits for the stream's last keyframe to be 300–900 ms old; returns its age. */
function freshKeyframeAge(what: string, stream: CameraStream, timeoutMs: number): Promise<number> {
  return until(what, () => {
    const ageMs = stream.status().keyframeAgeMs;
    return ageMs !== undefined && ageMs >= 300 && ageMs <= 900 ? ageMs : undefined;
  }, timeoutMs);
}

describe('live video through POST /alexa', () => {
  let camera: FakeCamera;
  let preloaded: FakeCamera;
  let bridge: TestBridge;
  let browser: ChromiumBrowser;

  before(async () => {
    [camera, preloaded, browser] = await Promise.all([
      startFakeCamera({ width: 640, height: 360, fps: 15, gop: 4, audio: 'pcmu', user: 'viewer', password: 'p@ss word', auth: 'digest' }),
      startFakeCamera({ width: 640, height: 360, fps: 15, gop: 4, audio: 'none' }),
      launchChromium(),
    ]);
    bridge = await startBridge({
      lingerSec: 1,
      webrtc: { hostAddresses: ['127.0.0.1'], udpPorts: '41000-41200' },
      cameras: [
        { id: 'front-door', name: 'Front Door', kind: 'doorbell', url: camera.urlWithCredentials },
        { id: 'garage', name: 'Garage', url: preloaded.url, preload: true },
      ],
    });
  });
  after(async () => {
    await browser?.close();
    await bridge?.close();
    await Promise.all([camera?.close(), preloaded?.close()]);
  });

  test('Chromium shows the camera with audio; SessionConnected and SessionDisconnected are answered', async () => {
    const viewer = await browser.newViewer();
    const { reply } = await watch(bridge, viewer, 'front-door', 'session-1');
    assert.deepEqual(reply.event.endpoint.endpointId, 'front-door');
    const stats = await viewer.waitFor((s) => s.framesDecoded >= 30 && s.audioPacketsReceived > 20, 20_000);
    assert.equal(stats.frameWidth, 640);
    assert.equal(stats.frameHeight, 360);

    const connected = await sessionEvent(bridge, 'front-door', 'SessionConnected', 'session-1');
    assert.equal(connected.event.header.name, 'SessionConnected');
    assert.deepEqual(connected.event.payload, { sessionId: 'session-1' });

    const disconnected = await sessionEvent(bridge, 'front-door', 'SessionDisconnected', 'session-1');
    assert.equal(disconnected.event.header.name, 'SessionDisconnected');
    assert.equal(bridge.app.sessions.size, 0);
    await viewer.closePeer();

    // The camera's ffmpeg stops once the linger (1 s) has passed.
    const stream = bridge.app.streams.peek('front-door')!;
    await until('the stream to go idle', () => stream.state === 'idle', 5000);
    assert.equal(stream.status().pid, undefined);
    assert.ok(!bridge.logText().includes('p@ss'), 'camera password in the log');
  });

  test('a viewer joining mid-GOP gets its first frame long before the next keyframe', async () => {
    const first = await browser.newViewer();
    await watch(bridge, first, 'front-door', 'gop-first', 'none');
    await first.waitFor((s) => s.framesDecoded >= 5, 20_000);
    const stream = bridge.app.streams.peek('front-door')!;
    // Join just after a keyframe: the camera's next one is then ~3.5 s away (4 s GOP).
    const age = await freshKeyframeAge('a fresh keyframe', stream, 10_000);
    const second = await browser.newViewer();
    const { answeredAt } = await watch(bridge, second, 'front-door', 'gop-second', 'none');
    const stats = await second.waitFor((s) => s.firstFrameAtMs !== undefined && s.framesDecoded > 0, 10_000);
    const firstFrameMs = stats.firstFrameAtMs! - answeredAt;
    const nextKeyframeInMs = 4000 - age;
    assert.ok(firstFrameMs < nextKeyframeInMs - 1500, `first frame after ${Math.round(firstFrameMs)} ms; the next keyframe was ${nextKeyframeInMs} ms away`);
    await Promise.all([first.closePeer(), second.closePeer()]);
    for (const id of ['gop-first', 'gop-second']) await sessionEvent(bridge, 'front-door', 'SessionDisconnected', id);
  });

  test('a preloaded camera serves its first viewer from the keyframe cache', async () => {
    const stream = bridge.app.streams.peek('garage')!;
    assert.ok(stream, 'preload started the stream without a viewer');
    const age = await freshKeyframeAge('a fresh keyframe on the preloaded camera', stream, 15_000);
    const viewer = await browser.newViewer();
    const { answeredAt } = await watch(bridge, viewer, 'garage', 'preload-1', 'none');
    const stats = await viewer.waitFor((s) => s.firstFrameAtMs !== undefined && s.framesDecoded > 0, 10_000);
    const firstFrameMs = stats.firstFrameAtMs! - answeredAt;
    assert.ok(firstFrameMs < 4000 - age - 1500, `first frame after ${Math.round(firstFrameMs)} ms`);
    await viewer.closePeer();
    await sessionEvent(bridge, 'garage', 'SessionDisconnected', 'preload-1');
    assert.ok(stream.status().pid, 'a preloaded camera keeps streaming without viewers');
  });

  test('a camera wider than 1280 px is transcoded to 720p for the viewer', async () => {
    const wide = await startFakeCamera({ width: 1344, height: 756, fps: 10, gop: 1, audio: 'none' });
    const wideBridge = await startBridge({
      webrtc: { hostAddresses: ['127.0.0.1'], udpPorts: '41210-41260' },
      cameras: [{ id: 'wide', name: 'Wide', url: wide.url }],
    });
    try {
      const viewer = await browser.newViewer();
      await watch(wideBridge, viewer, 'wide', 'wide-1', 'none');
      const stats = await viewer.waitFor((s) => s.framesDecoded >= 10 && s.frameWidth === 1280, 30_000);
      assert.equal(stats.frameHeight, 720);
      assert.equal(wideBridge.app.streams.peek('wide')!.status().plan?.mode, 'transcode');
      await viewer.closePeer();
    } finally {
      await wideBridge.close();
      await wide.close();
    }
  });

  test('frames resume in the same session after ffmpeg is killed', async () => {
    const viewer = await browser.newViewer();
    await watch(bridge, viewer, 'front-door', 'restart-1', 'none');
    const before = await viewer.waitFor((s) => s.framesDecoded >= 10, 20_000);
    const stream = bridge.app.streams.peek('front-door')!;
    const pid = await until('ffmpeg pid', () => stream.status().pid, 5000);
    process.kill(pid, 'SIGKILL');
    await until('a new ffmpeg', () => {
      const next = stream.status().pid;
      return next !== undefined && next !== pid ? next : undefined;
    }, 10_000);
    const resumed = await viewer.waitFor((s) => s.framesDecoded >= before.framesDecoded + 45, 20_000);
    assert.ok(resumed.framesDecoded > before.framesDecoded);
    assert.equal(bridge.app.sessions.list().find((s) => s.id === 'restart-1')?.state, 'connected');
    await viewer.closePeer();
    await sessionEvent(bridge, 'front-door', 'SessionDisconnected', 'restart-1');
  });

  test('after the last viewer and the linger only the preloaded ffmpeg remains; closing the bridge stops it', async () => {
    const stream = bridge.app.streams.peek('front-door')!;
    await until('front-door idle', () => stream.state === 'idle', 5000);
    const preloadPid = bridge.app.streams.peek('garage')!.status().pid;
    assert.ok(preloadPid);
    // Stopping is SIGTERM then exit: give the stopped ffmpeg a moment to be gone.
    await until('only the preloaded ffmpeg', () => ourFfmpegPids().join() === String(preloadPid), 3000);
    await bridge.close();
    assert.deepEqual(ourFfmpegPids(), []);
  });
});
