/**
 * Viewers whose offer lists only G.711 (static PTs 0/8 without a=rtpmap, as some Echo offers
 * do) get the camera's audio as G.711, and their microphone still reaches the camera's speaker
 * through the ONVIF backchannel. The viewers are werift peers offering PCMU or PCMA only.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as sdpTransform from 'sdp-transform';
import { MediaStreamTrack, RTCPeerConnection, RtpHeader, RtpPacket, useH264, usePCMA, usePCMU } from 'werift';
import { decodeALaw, decodeMuLaw, encodeMuLaw } from '../../src/camera/g711.ts';
import { startBridge, type TestBridge } from '../helpers/bridge.ts';
import { directive } from '../helpers/directives.ts';
import { LOOPBACK_PEER } from '../helpers/echo-offer.ts';
import { until } from '../helpers/until.ts';
import { startFakeCamera, type FakeCamera } from '../fixtures/fake-camera.ts';

const RTC = 'Alexa.RTCSessionController';

function rms(samples: Int16Array): number {
  let sum = 0;
  for (const sample of samples) sum += sample * sample;
  return Math.sqrt(sum / Math.max(1, samples.length));
}

/** A werift viewer offering H.264 and only one G.711, its static PT listed without a=rtpmap. */
async function g711Viewer(encoding: 'PCMU' | 'PCMA') {
  const pc = new RTCPeerConnection({ ...LOOPBACK_PEER, bundlePolicy: 'max-bundle', codecs: { video: [useH264()], audio: [encoding === 'PCMU' ? usePCMU() : usePCMA()] } });
  const mic = new MediaStreamTrack({ kind: 'audio' });
  pc.addTransceiver(mic, { direction: 'sendrecv' });
  pc.addTransceiver('video', { direction: 'sendrecv' });
  await pc.setLocalDescription(await pc.createOffer());
  const offer = pc.localDescription!.sdp.replace(/^a=rtpmap:[08] PCM[UA]\/8000\r\n/gm, '');
  assert.doesNotMatch(offer, /opus/i);
  return { pc, mic, offer };
}

describe('viewers that offer only G.711', () => {
  const dir = mkdtempSync(join(tmpdir(), 'porchlight-g711-'));
  const capture = join(dir, 'backchannel.ulaw');
  let camera: FakeCamera;
  let bridge: TestBridge;
  const peers: RTCPeerConnection[] = [];

  before(async () => {
    camera = await startFakeCamera({ audio: 'pcmu', backchannel: capture });
    bridge = await startBridge({
      webrtc: { hostAddresses: ['127.0.0.1'], udpPorts: '43600-43619' },
      cameras: [{ id: 'door', name: 'Door', kind: 'doorbell', url: camera.url, talkback: 'onvif' }],
    });
    await until('the talkback check', () => bridge.app.talkback.status('door')?.capability === 'available', 15_000);
  });
  after(async () => {
    await Promise.all(peers.map((pc) => pc.close()));
    await bridge?.close();
    await camera?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const encoding of ['PCMU', 'PCMA'] as const) {
    test(`${encoding} only: the answer sends ${encoding}, and the camera's audio arrives as ${encoding} in 20 ms packets`, async () => {
      const viewer = await g711Viewer(encoding);
      peers.push(viewer.pc);
      const { json: reply } = await bridge.postAlexa(directive(RTC, 'InitiateSessionWithOffer', { endpointId: 'door', payload: { sessionId: `g711-${encoding}`, offer: { format: 'SDP', value: viewer.offer } } }));
      assert.equal(reply.event.header.name, 'AnswerGeneratedForSession', JSON.stringify(reply.event.payload));
      const answer = sdpTransform.parse(reply.event.payload.answer.value);
      const audio = answer.media.find((m) => m.type === 'audio')!;
      const pt = encoding === 'PCMU' ? 0 : 8;
      assert.equal(String(audio.payloads), String(pt));
      assert.ok(audio.direction === 'sendrecv' || audio.direction === 'sendonly', audio.direction);
      await viewer.pc.setRemoteDescription({ type: 'answer', sdp: reply.event.payload.answer.value });
      const payloads: Buffer[] = [];
      const types = new Set<number>();
      const transceiver = viewer.pc.getTransceivers().find((t) => t.kind === 'audio')!;
      transceiver.receiver.track.onReceiveRtp.subscribe((rtp: RtpPacket) => {
        types.add(rtp.header.payloadType);
        payloads.push(rtp.payload);
      });
      await until(`${encoding} audio`, () => payloads.length >= 25, 15_000);
      assert.deepEqual([...types], [pt]);
      const full = payloads.filter((p) => p.length === 160);
      assert.ok(full.length >= payloads.length * 0.8, `20 ms packets: ${payloads.map((p) => p.length).slice(0, 10)}`);
      const samples = (encoding === 'PCMU' ? decodeMuLaw : decodeALaw)(Buffer.concat(full));
      assert.ok(rms(samples) > 300, `the camera's tone decodes as ${encoding} (rms ${rms(samples).toFixed(0)})`);
      await bridge.postAlexa(directive(RTC, 'SessionDisconnected', { endpointId: 'door', payload: { sessionId: `g711-${encoding}` } }));
    });
  }

  test('a PCMU-only viewer talks through the camera: its µ-law reaches the backchannel', async () => {
    const viewer = await g711Viewer('PCMU');
    peers.push(viewer.pc);
    const { json: reply } = await bridge.postAlexa(directive(RTC, 'InitiateSessionWithOffer', { endpointId: 'door', payload: { sessionId: 'g711-talk', offer: { format: 'SDP', value: viewer.offer } } }));
    assert.equal(reply.event.header.name, 'AnswerGeneratedForSession', JSON.stringify(reply.event.payload));
    assert.equal(sdpTransform.parse(reply.event.payload.answer.value).media.find((m) => m.type === 'audio')?.direction, 'sendrecv');
    await viewer.pc.setRemoteDescription({ type: 'answer', sdp: reply.event.payload.answer.value });
    await until('connected', () => viewer.pc.connectionState === 'connected', 10_000);
    // A 440 Hz tone, 20 ms (160 samples) per packet, for up to 3 s.
    let sequenceNumber = 1;
    let timestamp = 0;
    const timer = setInterval(() => {
      const pcm = Int16Array.from({ length: 160 }, (_, i) => Math.round(8000 * Math.sin((2 * Math.PI * 440 * (timestamp + i)) / 8000)));
      viewer.mic.writeRtp(new RtpPacket(new RtpHeader({ payloadType: 0, sequenceNumber: sequenceNumber++, timestamp, ssrc: 1234, marker: false }), encodeMuLaw(pcm)));
      timestamp += 160;
    }, 20);
    try {
      await until('half a second of the viewer\'s voice at the camera', () => existsSync(capture) && readFileSync(capture).length >= 4000, 15_000);
    } finally {
      clearInterval(timer);
    }
    const heard = readFileSync(capture);
    assert.ok(rms(decodeMuLaw(heard)) > 300, `the captured audio is silent (rms ${rms(decodeMuLaw(heard)).toFixed(0)})`);
    assert.equal(bridge.app.talkback.status('door')?.talker, 'g711-talk');
    await bridge.postAlexa(directive(RTC, 'SessionDisconnected', { endpointId: 'door', payload: { sessionId: 'g711-talk' } }));
  });
});
