/**
 * A viewer that lost a packet asks for a keyframe (RTCP PLI, or FIR): it gets the cached keyframe
 * at once instead of waiting for the camera's next one (an 8 s GOP here), at most about once a
 * second, and no ffmpeg restarts for it. The viewer is an Echo-shaped werift peer: its PLI carries
 * its own SSRC as sender, which werift routes to its receiver, not to our sender.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { RtpPacket, RTCRtpTransceiver } from 'werift';
import { startsKeyframe } from '../../src/camera/h264.ts';
import { startBridge, type TestBridge } from '../helpers/bridge.ts';
import { directive } from '../helpers/directives.ts';
import { echoViewer } from '../helpers/echo-offer.ts';
import { until } from '../helpers/until.ts';
import { startFakeCamera, type FakeCamera } from '../fixtures/fake-camera.ts';

const RTC = 'Alexa.RTCSessionController';
let camera: FakeCamera;
let bridge: TestBridge;
let viewer: Awaited<ReturnType<typeof echoViewer>>;
let video: RTCRtpTransceiver;
const keyframesAt: number[] = [];
let mediaSsrc = 0;

/** RFC 5104 §4.3.1 FIR: PSFB (206), FMT 4, one FCI entry naming the media SSRC. */
function fir(senderSsrc: number, ssrc: number, sequenceNumber: number) {
  const packet = Buffer.alloc(20);
  packet[0] = 0x80 | 4;
  packet[1] = 206;
  packet.writeUInt16BE(packet.length / 4 - 1, 2);
  packet.writeUInt32BE(senderSsrc, 4);
  packet.writeUInt32BE(0, 8);
  packet.writeUInt32BE(ssrc, 12);
  packet[16] = sequenceNumber;
  return { serialize: () => packet };
}

before(async () => {
  camera = await startFakeCamera({ gop: 8 });
  bridge = await startBridge({
    webrtc: { hostAddresses: ['127.0.0.1'], udpPorts: '43500-43509' },
    cameras: [{ id: 'door', name: 'Door', url: camera.url, preload: true }],
  });
  const stream = bridge.app.streams.peek('door')!;
  await until('a cached keyframe', () => stream.status().keyframeAgeMs !== undefined, 20_000);
  viewer = await echoViewer();
  const { json: reply } = await bridge.postAlexa(directive(RTC, 'InitiateSessionWithOffer', { endpointId: 'door', payload: { sessionId: 'kf-1', offer: { format: 'SDP', value: viewer.offer } } }));
  assert.equal(reply.event.header.name, 'AnswerGeneratedForSession', JSON.stringify(reply.event.payload));
  await viewer.pc.setRemoteDescription({ type: 'answer', sdp: reply.event.payload.answer.value });
  video = viewer.pc.getTransceivers().find((t) => t.kind === 'video')!;
  video.receiver.track.onReceiveRtp.subscribe((rtp: RtpPacket) => {
    mediaSsrc = rtp.header.ssrc;
    if (startsKeyframe(rtp.payload)) keyframesAt.push(Date.now());
  });
  await until('the first keyframe (replayed at connect)', () => keyframesAt.length > 0, 10_000);
});
after(async () => {
  await viewer?.pc.close();
  await bridge?.close();
  await camera?.close();
});

test('PLI → the cached keyframe within a second, not at the camera\'s next keyframe', async (t) => {
  const starts = bridge.app.streams.peek('door')!.status().starts;
  await new Promise((resolve) => setTimeout(resolve, 1200));
  const before = keyframesAt.length;
  const sentAt = Date.now();
  await video.receiver.sendRtcpPLI(mediaSsrc);
  const at = await until('a keyframe after the PLI', () => keyframesAt.length > before && keyframesAt[before], 3000, 5);
  assert.ok(at - sentAt < 1000, `${at - sentAt} ms`);
  t.diagnostic(`PLI → keyframe in ${at - sentAt} ms (camera GOP 8 s)`);
  assert.equal(bridge.app.streams.peek('door')!.status().starts, starts, 'no ffmpeg restart for it');
});

test('FIR → the cached keyframe too', async () => {
  await new Promise((resolve) => setTimeout(resolve, 1200));
  const before = keyframesAt.length;
  const sentAt = Date.now();
  await video.receiver.dtlsTransport.sendRtcp([fir(0x1234, mediaSsrc, 1) as any]);
  const at = await until('a keyframe after the FIR', () => keyframesAt.length > before && keyframesAt[before], 3000, 5);
  assert.ok(at - sentAt < 1000, `${at - sentAt} ms`);
});

test('a burst of PLIs gets one replay, and the session stays healthy', async () => {
  await new Promise((resolve) => setTimeout(resolve, 1200));
  const replays = () => bridge.logText().split('\n').filter((line) => line.includes('viewer asked for a keyframe')).length;
  const [before, replaysBefore] = [keyframesAt.length, replays()];
  for (let i = 0; i < 5; i++) await video.receiver.sendRtcpPLI(mediaSsrc);
  await new Promise((resolve) => setTimeout(resolve, 700));
  assert.equal(replays() - replaysBefore, 1, 'one replay for five requests within a second');
  // The camera's own keyframe may fall in the same window.
  assert.ok(keyframesAt.length - before >= 1 && keyframesAt.length - before <= 2);
  assert.equal(bridge.app.sessions.list()[0]?.state, 'connected');
});
