/**
 * werift 0.25 against Echo-shaped offers, on loopback only: every peer gathers 127.0.0.1 alone and
 * pairs only with 127.0.0.1 candidates, so no packet leaves the machine (fixture offers carry
 * documentation addresses, which are rewritten to 127.0.0.1 first). werift has no way to switch
 * STUN off — `iceServers: []` falls back to stun.l.google.com — so the STUN server is a dead
 * loopback port and gathering does not wait for it.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  MediaStreamTrack, RTCPeerConnection, RTCRtpCodecParameters, RtpHeader, RtpPacket,
  type RTCPeerConnectionConfig, type RTCRtpTransceiver,
} from 'werift';
import {
  analyzeOffer, finalizeAnswer, normalizeOfferForWerift, type AnswerOptions, type OfferAnalysis,
} from '../../src/webrtc/sdp.ts';
import { echoViewer, fixture, LOOPBACK_PEER } from '../helpers/echo-offer.ts';

const openPeers = new Set<RTCPeerConnection>();
after(async () => {
  await Promise.all([...openPeers].map((pc) => pc.close()));
});


function peer(config: RTCPeerConnectionConfig): RTCPeerConnection {
  const pc = new RTCPeerConnection({ ...LOOPBACK_PEER, ...config });
  openPeers.add(pc);
  return pc;
}

async function closePeer(pc: RTCPeerConnection): Promise<void> {
  await pc.close();
  openPeers.delete(pc);
}

const H264_FOR_CAMERAS = new RTCRtpCodecParameters({
  mimeType: 'video/H264', clockRate: 90000, rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }],
});
const OPUS = new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2 });

interface Answerer {
  pc: RTCPeerConnection;
  analysis: OfferAnalysis;
  answer: string;
  video: RTCRtpTransceiver;
  audio: RTCRtpTransceiver | undefined;
  videoTrack: MediaStreamTrack;
}

/** What a Session does with Alexa's offer. `useAddTrack` is the naive way, kept to show why finalizeAnswer fixes directions. */
async function answerOffer(offer: string, options: AnswerOptions & { useAddTrack?: boolean } = {}): Promise<Answerer> {
  const analysis = analyzeOffer(offer);
  const pc = peer({
    codecs: {
      video: [new RTCRtpCodecParameters({ ...H264_FOR_CAMERAS, payloadType: analysis.video.h264.payloadType })],
      audio: [new RTCRtpCodecParameters({ ...OPUS, payloadType: analysis.audio?.opusPayloadType ?? 111 })],
    },
  });
  await pc.setRemoteDescription({ type: 'offer', sdp: normalizeOfferForWerift(offer, analysis) });
  const transceiverAt = (mLineIndex: number) => pc.getTransceivers().find((t) => t.mLineIndex === mLineIndex);
  const video = transceiverAt(analysis.video.mLineIndex);
  assert.ok(video, 'werift made no transceiver for the video m-line');
  const audio = analysis.audio && transceiverAt(analysis.audio.mLineIndex);
  const videoTrack = new MediaStreamTrack({ kind: 'video' });
  if (options.useAddTrack) {
    pc.addTrack(videoTrack);
    if (audio) pc.addTrack(new MediaStreamTrack({ kind: 'audio' }));
  } else {
    video.setDirection('sendonly');
    await video.sender.replaceTrack(videoTrack);
    if (audio) {
      audio.setDirection(options.talkback ? 'sendrecv' : 'sendonly');
      await audio.sender.replaceTrack(new MediaStreamTrack({ kind: 'audio' }));
    }
  }
  await pc.setLocalDescription(await pc.createAnswer());
  const local = pc.localDescription;
  assert.ok(local, 'no local description after setLocalDescription');
  return { pc, analysis, answer: finalizeAnswer(local.sdp, analysis, options), video, audio, videoTrack };
}

function mediaSection(sdp: string, kind: 'audio' | 'video'): string {
  const found = sdp.split(/(?=^m=)/m).find((part) => part.startsWith(`m=${kind} `));
  assert.ok(found, `answer has no ${kind} m-line`);
  return found;
}

function assertAnswersEcho(answer: string, analysis: OfferAnalysis, audioDirection: 'sendonly' | 'sendrecv'): void {
  const video = mediaSection(answer, 'video');
  const videoPt = analysis.video.h264.payloadType;
  assert.match(video, new RegExp(`^m=video 9 UDP/TLS/RTP/SAVPF ${videoPt}\r\n`));
  assert.match(video, new RegExp(`a=rtpmap:${videoPt} H264/90000`));
  assert.match(video, /a=sendonly/);
  const audio = mediaSection(answer, 'audio');
  const opusPt = analysis.audio?.opusPayloadType;
  assert.match(audio, new RegExp(`^m=audio 9 UDP/TLS/RTP/SAVPF ${opusPt}\r\n`));
  assert.match(audio, new RegExp(`a=rtpmap:${opusPt} opus/48000/2`, 'i'));
  assert.match(audio, new RegExp(`a=${audioDirection}`));
  for (const section of [video, audio]) {
    assert.match(section, /a=candidate:\S+ 1 udp \d+ 127\.0\.0\.1 \d+ typ host/);
    assert.match(section, /a=end-of-candidates/);
    assert.match(section, /a=setup:(active|passive)\r\n/);
    assert.match(section, /a=ice-ufrag:\S+/);
    assert.match(section, /a=fingerprint:sha-256 [0-9A-F:]{95}/);
  }
}


function waitFor<T>(subscribe: (resolve: (value: T) => void) => void, what: string, timeoutMs = 10_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs);
    subscribe((value) => { clearTimeout(timer); resolve(value); });
  });
}

function connected(pc: RTCPeerConnection): Promise<void> {
  return waitFor((resolve) => {
    if (pc.connectionState === 'connected') resolve(undefined);
    pc.connectionStateChange.subscribe((state) => { if (state === 'connected') resolve(undefined); });
  }, 'connectionState connected');
}

function rtp(payloadType: number, sequenceNumber: number, payload: string): Buffer {
  return new RtpPacket(new RtpHeader({ payloadType, sequenceNumber, timestamp: sequenceNumber * 3000, ssrc: 0x1234, marker: true }),
    Buffer.from(payload)).serialize();
}

describe('werift answers offers after normalizeOfferForWerift → finalizeAnswer', () => {
  const fixtures = ['echo-show-design', 'echo-show-public', 'chromium-156-mdns', 'chromium-156-getusermedia', 'aiortc-1.4.0', 'werift-0.25-h264'];
  for (const name of fixtures) {
    test(name, async () => {
      const { pc, analysis, answer } = await answerOffer(fixture(name));
      assertAnswersEcho(answer, analysis, 'sendonly');
      await closePeer(pc);
    });
  }

  test('Chromium: werift alone would pick the first H.264 rtpmap even with packetization-mode=0; normalized it cannot', async () => {
    const offer = fixture('chromium-156-getusermedia')
      .replace('a=rtpmap:102 H264/90000\r\n', '')
      .replace('a=rtpmap:104 H264/90000\r\n', 'a=rtpmap:104 H264/90000\r\na=rtpmap:102 H264/90000\r\n');
    const raw = peer({ codecs: { video: [H264_FOR_CAMERAS], audio: [OPUS] } });
    await raw.setRemoteDescription({ type: 'offer', sdp: offer });
    const rawAnswer = await raw.createAnswer();
    assert.match(mediaSection(rawAnswer.sdp, 'video'), /^m=video 9 \S+ 104\r\n/);
    await closePeer(raw);

    const { pc, answer } = await answerOffer(offer);
    assert.match(mediaSection(answer, 'video'), /^m=video 9 \S+ 108\r\n/);
    await closePeer(pc);
  });

  test('an extra video m-line is rejected, and audio without Opus is left to werift to reject', async () => {
    const echo = fixture('echo-show-design');
    const video = echo.slice(echo.indexOf('m=video'));
    const withExtraVideo = echo.replace('BUNDLE 0 1', 'BUNDLE 0 1 2') + video.replace('a=mid:1', 'a=mid:2');
    const extra = await answerOffer(withExtraVideo);
    assert.match(extra.answer, /^m=video 0 [\s\S]*a=mid:2/m);
    assert.match(extra.answer, /a=group:BUNDLE 0 1\r\n/);
    await closePeer(extra.pc);

    const noOpus = echo.replace('m=audio 1 UDP/TLS/RTP/SAVPF 111 0 8', 'm=audio 1 UDP/TLS/RTP/SAVPF 0 8').replace('a=rtpmap:111 opus/48000/2\r\n', '');
    const { pc, answer } = await answerOffer(noOpus);
    assert.match(mediaSection(answer, 'audio'), /^m=audio 0 /);
    assert.match(mediaSection(answer, 'video'), /a=sendonly/);
    await closePeer(pc);
  });

  test('addTrack() makes werift answer sendrecv; finalizeAnswer still says sendonly', async () => {
    const { pc, answer } = await answerOffer(fixture('echo-show-design'), { useAddTrack: true });
    assert.match(mediaSection(pc.localDescription?.sdp ?? '', 'video'), /a=sendrecv/);
    assert.match(mediaSection(answer, 'video'), /a=sendonly/);
    assert.match(mediaSection(answer, 'audio'), /a=sendonly/);
    await closePeer(pc);
  });
});

describe('an Echo-shaped werift offerer and the answerer connect on loopback', () => {
  test('video RTP reaches the viewer on the offered PT; talkback audio reaches us', async () => {
    const viewer = await echoViewer();
    openPeers.add(viewer.pc);
    const bridge = await answerOffer(viewer.offer, { talkback: true });
    assertAnswersEcho(bridge.answer, bridge.analysis, 'sendrecv');
    assert.match(viewer.offer, /^m=video 1 UDP\/TLS\/RTP\/SAVPF 126\r\nb=AS:2500\r\n/m);
    assert.doesNotMatch(viewer.offer, /a=fmtp:126|a=msid|a=rtpmap:0 /);

    await viewer.pc.setRemoteDescription({ type: 'answer', sdp: bridge.answer });
    await Promise.all([connected(viewer.pc), connected(bridge.pc)]);

    const viewerVideo = viewer.pc.getTransceivers().find((t) => t.kind === 'video');
    assert.ok(viewerVideo);
    const videoArrived = waitFor<RtpPacket>((resolve) => viewerVideo.receiver.track.onReceiveRtp.subscribe(resolve), 'video RTP at the viewer');
    // ffmpeg's own PT/SSRC/sequence: werift rewrites PT and SSRC to the negotiated ones.
    const sendVideo = setInterval(() => bridge.videoTrack.writeRtp(rtp(96, 1000, 'camera frame')), 20);
    const video = await videoArrived.finally(() => clearInterval(sendVideo));
    assert.equal(video.header.payloadType, 126);
    assert.equal(video.header.ssrc, bridge.video.sender.ssrc);
    assert.equal(video.payload.toString(), 'camera frame');

    const bridgeAudio = bridge.audio;
    assert.ok(bridgeAudio);
    const talkArrived = waitFor<RtpPacket>((resolve) => bridgeAudio.receiver.track.onReceiveRtp.subscribe(resolve), 'talkback RTP at the bridge');
    const sendTalk = setInterval(() => viewer.micTrack.writeRtp(rtp(111, 7, 'hello doorbell')), 20);
    const talk = await talkArrived.finally(() => clearInterval(sendTalk));
    assert.equal(talk.header.payloadType, 111);
    assert.equal(talk.payload.toString(), 'hello doorbell');

    await Promise.all([closePeer(viewer.pc), closePeer(bridge.pc)]);
  });
});

describe('closing', () => {
  const udpSockets = () => process.getActiveResourcesInfo().filter((resource) => resource === 'UDPWrap').length;
  /** dgram sockets finish closing on a later tick. */
  async function settledUdpSockets(expected: number): Promise<number> {
    for (let waited = 0; udpSockets() !== expected && waited < 2000; waited += 20) await sleep(20);
    return udpSockets();
  }
  const variants: [string, (sdp: string) => string][] = [
    ['BUNDLE of audio and video', (sdp) => sdp],
    ['BUNDLE of video only (audio on its own transport)', (sdp) => sdp.replace('a=group:BUNDLE audio0 video0', 'a=group:BUNDLE video0')],
    ['no BUNDLE', (sdp) => sdp.replace('a=group:BUNDLE audio0 video0\r\n', '')],
  ];
  for (const [name, variant] of variants) {
    test(`an answerer releases every UDP socket on close(): ${name}`, async () => {
      const before = await settledUdpSockets(0);
      const { pc, answer } = await answerOffer(variant(fixture('echo-show-public')));
      assert.ok(udpSockets() > before);
      assert.match(answer, /a=end-of-candidates/);
      await closePeer(pc);
      assert.equal(await settledUdpSockets(before), before);
    });
  }
});
