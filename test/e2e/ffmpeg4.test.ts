/**
 * Live video on ffmpeg 4.x: the same path as live-video.test.ts (GStreamer RTSP camera → the
 * bridge's ffmpeg → werift), with the bridge pointed at the static ffmpeg "4.1" from the npm
 * package @ffmpeg-installer/linux-x64 (a 2018-12 git snapshot: its version line has no number,
 * its libavutil 56.24 says 4.1). ffmpeg 4 reads `-timeout` on RTSP input as a listen timeout and
 * has no `-fps_mode`, so without the version wired through every stream fails.
 * The viewer is a werift Echo stand-in (echo-offer.ts); copy and transcode plans both run.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { RtpPacket } from 'werift';
import { assertValidAlexaMessage } from '../helpers/alexa-schema.ts';
import { ADMIN_TOKEN, startBridge, type TestBridge } from '../helpers/bridge.ts';
import { directive } from '../helpers/directives.ts';
import { echoViewer } from '../helpers/echo-offer.ts';
import { until } from '../helpers/until.ts';
import { startFakeCamera, type FakeCamera } from '../fixtures/fake-camera.ts';

const RTC = 'Alexa.RTCSessionController';
const FFMPEG4 = fileURLToPath(new URL('../../node_modules/@ffmpeg-installer/linux-x64/ffmpeg', import.meta.url));

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

const skip = executable(FFMPEG4) ? false : `no static ffmpeg 4.1 at ${FFMPEG4}: npm install (it is a devDependency, @ffmpeg-installer/linux-x64)`;

/** ffmpeg processes this test process started (the bridge runs in it). */
function ourFfmpegPids(): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(process.pid), '-x', 'ffmpeg'], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).map(Number);
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

/** What ffmpeg said when it stopped, from the bridge's log. */
function ffmpegComplaints(bridge: TestBridge): string {
  const lines = bridge.logText().split('\n').filter((line) => /ffmpeg (failed|exited)/.test(line));
  return lines.slice(-2).map((line) => JSON.parse(line) as { msg: string; last?: string; line?: string }).map((entry) => `${entry.msg} (${entry.line ?? entry.last})`).join('; ');
}

/** NAL unit types at the start of an H.264 RTP payload (single NAL, STAP-A, FU-A start). */
function nalTypes(payload: Buffer): number[] {
  const type = (payload[0] ?? 0) & 0x1f;
  if (type >= 1 && type <= 23) return [type];
  if (type === 24) {
    const types: number[] = [];
    for (let at = 1; at + 2 < payload.length; at += 2 + payload.readUInt16BE(at)) types.push(payload[at + 2]! & 0x1f);
    return types;
  }
  if (type === 28 && (payload[1] ?? 0) & 0x80) return [payload[1]! & 0x1f];
  return [];
}

describe('live video on ffmpeg 4.1 (static build)', { skip }, () => {
  let camera: FakeCamera;
  let bridge: TestBridge;

  before(async () => {
    camera = await startFakeCamera({ width: 640, height: 360, fps: 15, gop: 1, audio: 'pcmu' });
    bridge = await startBridge({
      lingerSec: 1,
      webrtc: { hostAddresses: ['127.0.0.1'], udpPorts: '44600-44699' },
      cameras: [
        { id: 'copy', name: 'Copy', url: camera.url },
        { id: 'transcode', name: 'Transcode', url: camera.url, transcode: 'always' },
      ],
    }, { app: { ffmpegPath: FFMPEG4 } });
  });
  after(async () => {
    await bridge?.close();
    await camera?.close();
  });

  test('/readyz names the 4.1 binary and the release its flags follow', async () => {
    const ready = (await (await fetch(`${bridge.url}/readyz`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json()) as any;
    assert.equal(ready.checks.ffmpeg.ok, true, JSON.stringify(ready.checks.ffmpeg));
    assert.equal(ready.checks.ffmpeg.path, FFMPEG4);
    assert.match(ready.checks.ffmpeg.version, /^ffmpeg version /);
    assert.deepEqual(ready.checks.ffmpeg.release, { major: 4, minor: 1 });
  });

  for (const [cameraId, mode] of [['copy', 'copy'], ['transcode', 'transcode']] as const) {
    test(`${mode}: an Echo-shaped viewer receives H.264 (with SPS) and Opus`, async () => {
      const sessionId = `ffmpeg4-${cameraId}`;
      const viewer = await echoViewer();
      try {
        const request = directive(RTC, 'InitiateSessionWithOffer', { endpointId: cameraId, payload: { sessionId, offer: { format: 'SDP', value: viewer.offer } } });
        const { status, json: reply } = await bridge.postAlexa(request);
        assert.equal(status, 200);
        assertValidAlexaMessage(reply);
        assert.equal(reply.event.header.name, 'AnswerGeneratedForSession', JSON.stringify(reply.event.payload));
        await viewer.pc.setRemoteDescription({ type: 'answer', sdp: reply.event.payload.answer.value });
        // Subscribed after setRemoteDescription: werift makes the receiving tracks there.
        const got = { video: 0, audio: 0, sps: false };
        const [audio, video] = ['audio', 'video'].map((kind) => viewer.pc.getTransceivers().find((t) => t.kind === kind)!);
        video!.receiver.track.onReceiveRtp.subscribe((rtp: RtpPacket) => {
          got.video += 1;
          if (nalTypes(rtp.payload).includes(7)) got.sps = true;
        });
        audio!.receiver.track.onReceiveRtp.subscribe(() => void (got.audio += 1));

        const stream = bridge.app.streams.peek(cameraId)!;
        await until(`video and audio RTP from the ${mode} plan`, () => {
          // A refused flag fails fast with ffmpeg's own words rather than at the deadline.
          const failure = stream.status().lastFailure;
          if (failure) assert.fail(`the stream failed: ${failure.code}: ${failure.message}; ${ffmpegComplaints(bridge)}`);
          return got.video >= 30 && got.audio >= 10 && got.sps;
        }, 15_000);
        const run = stream.status();
        assert.equal(run.plan?.mode, mode);
        assert.equal(run.restarts, 0);
        assert.equal(run.source?.codec, 'h264');

        const bye = await bridge.postAlexa(directive(RTC, 'SessionDisconnected', { endpointId: cameraId, payload: { sessionId } }));
        assert.equal(bye.json.event.header.name, 'SessionDisconnected');
      } finally {
        await viewer.pc.close();
      }
    });
  }

  test('no ffmpeg outlives its linger; no flag was refused', async () => {
    await until('the streams to go idle', () => ['copy', 'transcode'].every((id) => bridge.app.streams.peek(id)?.state === 'idle'), 10_000);
    await until('no ffmpeg child left', () => ourFfmpegPids().length === 0, 5000);
    assert.doesNotMatch(bridge.logText(), /Unrecognized option|Option not found|Unable to open RTSP for listening/);
  });
});
