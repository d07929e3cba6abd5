/**
 * InitiateSessionWithOffer through POST /alexa with offers shaped like a real Echo Show's, a werift
 * offerer playing the Echo on loopback, and every way an offer can be refused.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { createServer } from 'node:net';
import * as sdpTransform from 'sdp-transform';
import type { RTCPeerConnection, RtpPacket } from 'werift';
import { DEMO_CLIP } from '../../src/config/load.ts';
import { assertValidAlexaMessage } from '../helpers/alexa-schema.ts';
import { startBridge, type TestBridge } from '../helpers/bridge.ts';
import { directive } from '../helpers/directives.ts';
import { echoViewer, fixture } from '../helpers/echo-offer.ts';
import { until } from '../helpers/until.ts';

const RTC = 'Alexa.RTCSessionController';

async function offer(bridge: TestBridge, endpointId: string, sessionId: string, sdp: string) {
  const { status, json } = await bridge.postAlexa(
    directive(RTC, 'InitiateSessionWithOffer', { endpointId, payload: { sessionId, offer: { format: 'SDP', value: sdp } } }),
  );
  assert.equal(status, 200);
  assertValidAlexaMessage(json);
  return json;
}

async function disconnect(bridge: TestBridge, endpointId: string, sessionId: string) {
  const { json } = await bridge.postAlexa(directive(RTC, 'SessionDisconnected', { endpointId, payload: { sessionId } }));
  assertValidAlexaMessage(json);
  assert.equal(json.event.header.name, 'SessionDisconnected');
}


function countPackets(pc: RTCPeerConnection, kind: 'audio' | 'video'): { count: () => number; payloadTypes: Set<number> } {
  let count = 0;
  const payloadTypes = new Set<number>();
  const transceiver = pc.getTransceivers().find((t) => t.kind === kind)!;
  transceiver.receiver.track.onReceiveRtp.subscribe((rtp: RtpPacket) => {
    count += 1;
    payloadTypes.add(rtp.header.payloadType);
  });
  return { count: () => count, payloadTypes };
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('Echo-shaped offers', () => {
  let bridge: TestBridge;
  const peers: RTCPeerConnection[] = [];
  before(async () => {
    bridge = await startBridge({
      webrtc: { hostAddresses: ['127.0.0.1'], udpPorts: '41300-41400', maxViewersPerCamera: 1 },
      lingerSec: 0,
      cameras: [
        { id: 'demo', name: 'Demo Camera', url: `file:${DEMO_CLIP}` },
        { id: 'dead', name: 'Dead Camera', url: `rtsp://127.0.0.1:${await closedPort()}/stream` },
      ],
    });
  });
  after(async () => {
    await Promise.all(peers.map((pc) => pc.close()));
    await bridge?.close();
  });

  test('the fixture Echo offer gets a complete sendonly answer on the offered payload types', async () => {
    const reply = await offer(bridge, 'demo', 'fixture-1', fixture('echo-show-design'));
    assert.equal(reply.event.header.name, 'AnswerGeneratedForSession', JSON.stringify(reply.event.payload));
    assert.equal(reply.event.payload.answer.format, 'SDP');
    const answer = sdpTransform.parse(reply.event.payload.answer.value);
    const [audio, video] = answer.media;
    assert.equal(audio?.type, 'audio');
    assert.equal(video?.type, 'video');
    assert.equal(video!.direction, 'sendonly');
    assert.deepEqual(video!.rtp.map((r) => [r.payload, r.codec]), [[126, 'H264']]);
    assert.equal(audio!.direction, 'sendonly');
    assert.deepEqual(audio!.rtp.map((r) => [r.payload, r.codec.toLowerCase()]), [[111, 'opus']]);
    for (const media of [audio!, video!]) {
      assert.ok(media.candidates?.length, 'every candidate is in the answer (no trickle)');
      for (const candidate of media.candidates!) assert.deepEqual([candidate.ip, candidate.type], ['127.0.0.1', 'host']);
      assert.equal(media.endOfCandidates, 'end-of-candidates');
    }
    await disconnect(bridge, 'demo', 'fixture-1');
  });

  test('a werift Echo stand-in receives the demo camera: video on PT 126 and Opus audio', async () => {
    const viewer = await echoViewer();
    peers.push(viewer.pc);
    const reply = await offer(bridge, 'demo', 'echo-1', viewer.offer);
    assert.equal(reply.event.header.name, 'AnswerGeneratedForSession', JSON.stringify(reply.event.payload));
    await viewer.pc.setRemoteDescription({ type: 'answer', sdp: reply.event.payload.answer.value });
    // After setRemoteDescription: werift swaps in an SSRC-bound receive track while applying it.
    const video = countPackets(viewer.pc, 'video');
    const audio = countPackets(viewer.pc, 'audio');
    await until('30 video and 10 audio packets', () => video.count() >= 30 && audio.count() >= 10, 15_000);
    assert.deepEqual([...video.payloadTypes], [126]);
    assert.deepEqual([...audio.payloadTypes], [111]);

    const { json: connected } = await bridge.postAlexa(directive(RTC, 'SessionConnected', { endpointId: 'demo', payload: { sessionId: 'echo-1' } }));
    assertValidAlexaMessage(connected);
    assert.deepEqual(connected.event.payload, { sessionId: 'echo-1' });

    // The per-camera cap is 1 in this bridge: a second viewer is refused while this one watches.
    const busy = await offer(bridge, 'demo', 'echo-2', fixture('echo-show-design'));
    assert.equal(busy.event.payload.type, 'ENDPOINT_BUSY');

    // A repeated offer for a live sessionId replaces the session instead of counting twice.
    const again = await echoViewer();
    peers.push(again.pc);
    const replaced = await offer(bridge, 'demo', 'echo-1', again.offer);
    assert.equal(replaced.event.header.name, 'AnswerGeneratedForSession');
    assert.equal(bridge.app.sessions.size, 1);

    await disconnect(bridge, 'demo', 'echo-1');
    assert.equal(bridge.app.sessions.size, 0);
    await disconnect(bridge, 'demo', 'echo-1'); // idempotent
  });

  const refusals: Array<[string, string, () => string, string, RegExp]> = [
    ['an audio-only offer', 'demo', () => fixture('echo-show-design').split(/(?=^m=video)/m)[0]!.replace('a=group:BUNDLE 0 1', 'a=group:BUNDLE 0'), 'INVALID_VALUE', /video/i],
    ['a VP8-only offer', 'demo', () => fixture('werift-0.25-default'), 'INVALID_VALUE', /H\.264/],
    ['text that is not SDP', 'demo', () => 'hello', 'INVALID_VALUE', /SDP/],
    ['an offer without a=fingerprint', 'demo', () => fixture('echo-show-design').replace(/^a=fingerprint:.*\r\n/gm, ''), 'INVALID_VALUE', /fingerprint/],
  ];
  for (const [name, endpointId, sdp, type, message] of refusals) {
    test(`${name} → ${type}`, async () => {
      const reply = await offer(bridge, endpointId, `refused-${name}`, sdp());
      assert.equal(reply.event.header.name, 'ErrorResponse');
      assert.equal(reply.event.payload.type, type);
      assert.match(reply.event.payload.message, message);
    });
  }

  test('a camera that does not answer → ENDPOINT_UNREACHABLE naming the reason', async () => {
    await until('the dead camera to be probed', () => bridge.app.health.health('dead') !== undefined, 5000);
    const reply = await offer(bridge, 'dead', 'dead-1', fixture('echo-show-design'));
    assert.equal(reply.event.payload.type, 'ENDPOINT_UNREACHABLE');
    assert.match(reply.event.payload.message, /connection refused/);
  });

  test('malformed session directives', async () => {
    const noOffer = await bridge.postAlexa(directive(RTC, 'InitiateSessionWithOffer', { endpointId: 'demo', payload: { sessionId: 'x' } }));
    assertValidAlexaMessage(noOffer.json);
    assert.equal(noOffer.json.event.payload.type, 'INVALID_DIRECTIVE');
    assert.match(noOffer.json.event.payload.message, /payload\.offer/);
    const unknown = await bridge.postAlexa(directive(RTC, 'SessionConnected', { endpointId: 'demo', payload: { sessionId: 'never-offered' } }));
    assertValidAlexaMessage(unknown.json);
    assert.equal(unknown.json.event.payload.type, 'INVALID_VALUE');
  });
});

describe('answer deadline', () => {
  let bridge: TestBridge;
  let silentStun: Socket;
  before(async () => {
    // A STUN server that never answers, and a gather bound of 1 s (by default it is 40 % of
    // answerTimeoutMs, so gathering alone never misses the deadline): longer than this bridge's
    // 500 ms answer timeout.
    silentStun = createSocket('udp4');
    await new Promise<void>((resolve) => silentStun.bind(0, '127.0.0.1', resolve));
    bridge = await startBridge({
      webrtc: { hostAddresses: ['127.0.0.1'], answerTimeoutMs: 500, iceServers: [{ urls: `stun:127.0.0.1:${silentStun.address().port}` }] },
      cameras: [{ id: 'demo', name: 'Demo Camera', url: `file:${DEMO_CLIP}` }],
    }, { app: { gatherTimeoutMs: 1000 } });
  });
  after(async () => {
    await bridge?.close();
    silentStun?.close();
  });

  test('an answer that misses the deadline → an ErrorResponse in time, and no session left behind', async () => {
    const started = Date.now();
    const reply = await offer(bridge, 'demo', 'slow-1', fixture('echo-show-design'));
    assert.equal(reply.event.header.name, 'ErrorResponse');
    assert.equal(reply.event.payload.type, 'INTERNAL_ERROR');
    assert.match(reply.event.payload.message, /500 ms/);
    assert.ok(Date.now() - started < 1500);
    await new Promise((resolve) => setTimeout(resolve, 800)); // the late answer arrives and is closed
    assert.equal(bridge.app.sessions.size, 0);
  });
});
