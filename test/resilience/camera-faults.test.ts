/**
 * A camera misbehaving under live sessions: its ffmpeg is SIGKILLed, then the camera itself goes
 * away and comes back. Viewers are werift Echo stand-ins; Alexa's cloud is the loopback fake.
 * Sessions must survive what they can (same session, video again), end cleanly when hung up,
 * new viewers of a dead camera get a proper refusal, and Alexa hears UNREACHABLE, then OK.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { RTCPeerConnection, RtpPacket } from 'werift';
import { assertValidAlexaMessage } from '../helpers/alexa-schema.ts';
import { ADMIN_TOKEN, startBridge, type TestBridge } from '../helpers/bridge.ts';
import { directive } from '../helpers/directives.ts';
import { echoViewer } from '../helpers/echo-offer.ts';
import { childProcesses } from '../helpers/process-census.ts';
import { until } from '../helpers/until.ts';
import { startFakeAlexaCloud, type FakeAlexaCloud } from '../fixtures/fake-alexa-cloud.ts';
import { startFakeCamera, type FakeCamera } from '../fixtures/fake-camera.ts';

const RTC = 'Alexa.RTCSessionController';

interface Viewer {
  sessionId: string;
  pc: RTCPeerConnection;
  videoPackets: () => number;
}

let cloud: FakeAlexaCloud;
let camera: FakeCamera;
let bridge: TestBridge;
const viewers: Viewer[] = [];

before(async () => {
  [cloud, camera] = await Promise.all([startFakeAlexaCloud(), startFakeCamera({ gop: 1 })]);
  bridge = await startBridge({
    healthIntervalSec: 5,
    webrtc: { hostAddresses: ['127.0.0.1'], udpPorts: '43200-43299' },
    alexa: { clientId: 'test-client-id', clientSecret: 'test-client-secret', lwaTokenUrl: cloud.lwaTokenUrl, eventGatewayUrl: cloud.eventGatewayUrl },
    cameras: [{ id: 'garage', name: 'Garage', url: camera.url, lingerSec: 1 }],
  });
  const grant = await bridge.postAlexa(directive('Alexa.Authorization', 'AcceptGrant', {
    correlationToken: null,
    payload: { grant: { type: 'OAuth2.AuthorizationCode', code: 'good-faults' }, grantee: { type: 'BearerToken', token: 'user-access-token-xyz' } },
  }));
  assert.equal(grant.json.event.header.name, 'AcceptGrant.Response');
});
after(async () => {
  await Promise.all(viewers.map((viewer) => viewer.pc.close()));
  await bridge?.close();
  await Promise.all([cloud?.close(), camera?.close()]);
});

async function rtc(name: string, sessionId: string, payload: Record<string, unknown> = {}): Promise<any> {
  const { status, json } = await bridge.postAlexa(directive(RTC, name, { endpointId: 'garage', payload: { sessionId, ...payload } }));
  assert.equal(status, 200);
  assertValidAlexaMessage(json);
  return json;
}

async function watch(sessionId: string): Promise<Viewer> {
  const { pc, offer } = await echoViewer();
  const reply = await rtc('InitiateSessionWithOffer', sessionId, { offer: { format: 'SDP', value: offer } });
  assert.equal(reply.event.header.name, 'AnswerGeneratedForSession', JSON.stringify(reply.event.payload));
  await pc.setRemoteDescription({ type: 'answer', sdp: reply.event.payload.answer.value });
  let count = 0;
  pc.getTransceivers().find((t) => t.kind === 'video')!.receiver.track.onReceiveRtp.subscribe((_rtp: RtpPacket) => {
    count += 1;
  });
  const viewer = { sessionId, pc, videoPackets: () => count };
  viewers.push(viewer);
  return viewer;
}

async function videoResumes(viewer: Viewer, timeoutMs: number): Promise<void> {
  const from = viewer.videoPackets();
  await until(`video again for ${viewer.sessionId}`, () => viewer.videoPackets() >= from + 20, timeoutMs);
}

const garageConnectivity = () => (cloud.events as any[])
  .filter((e) => e.event.header.name === 'ChangeReport' && e.event.endpoint.endpointId === 'garage')
  .map((e) => e.event.payload.change.properties[0].value.value);
const sessionState = (id: string) => bridge.app.sessions.list().find((s) => s.id === id)?.state;

test('ffmpeg SIGKILLed under two viewers: a new ffmpeg, video again in the same sessions, no health change', async () => {
  const [kitchen, hall] = await Promise.all([watch('kitchen'), watch('hall')]);
  await Promise.all([videoResumes(kitchen, 15_000), videoResumes(hall, 15_000)]);
  await until('the first reading reported', () => garageConnectivity().length === 1, 10_000);

  const stream = bridge.app.streams.peek('garage')!;
  const pid = stream.status().pid!;
  process.kill(pid, 'SIGKILL');
  await until('a new ffmpeg', () => (stream.status().pid ?? pid) !== pid, 10_000);
  await Promise.all([videoResumes(kitchen, 10_000), videoResumes(hall, 10_000)]);
  assert.deepEqual([sessionState('kitchen'), sessionState('hall')], ['connected', 'connected']);
  assert.equal(childProcesses('ffmpeg').length, 1, 'one ffmpeg for the camera, the killed one reaped');
  assert.deepEqual(garageConnectivity(), ['OK']);
});

test('the camera goes away: UNREACHABLE to Alexa, sessions held, a hang-up ends cleanly, a new viewer is refused', async () => {
  const [kitchen] = viewers;
  const port = camera.port;
  const stream = bridge.app.streams.peek('garage')!;
  const startsBefore = stream.status().starts;
  await camera.close();

  const down = await until('ChangeReport UNREACHABLE', () => garageConnectivity()[1], 25_000, 100);
  assert.equal(down, 'UNREACHABLE');
  const ready = (await (await fetch(`${bridge.url}/readyz`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json()) as any;
  assert.equal(ready.checks.cameras.garage.connectivity, 'UNREACHABLE');
  assert.deepEqual([sessionState('kitchen'), sessionState('hall')], ['connected', 'connected'], 'the viewers wait for the camera');

  const refused = await rtc('InitiateSessionWithOffer', 'porch', { offer: { format: 'SDP', value: (await echoViewer().then(async (v) => (await v.pc.close(), v.offer))) } });
  assert.equal(refused.event.header.name, 'ErrorResponse');
  assert.equal(refused.event.payload.type, 'ENDPOINT_UNREACHABLE');

  assert.equal((await rtc('SessionDisconnected', kitchen!.sessionId)).event.header.name, 'SessionDisconnected');
  assert.equal(sessionState('kitchen'), undefined);
  await kitchen!.pc.close();

  // Down long enough for ffmpeg's restarts to fail twice and back off.
  await until('two failed restarts', () => stream.status().starts >= startsBefore + 2, 15_000, 100);
  assert.equal(sessionState('hall'), 'connected');
  camera = await startFakeCamera({ port, gop: 1 });
});

test('the camera comes back: OK to Alexa, video again in the session that waited, nothing left after it ends', async () => {
  const hall = viewers[1]!;
  const up = await until('ChangeReport OK', () => garageConnectivity()[2], 40_000, 100);
  assert.equal(up, 'OK');
  await videoResumes(hall, 40_000);
  assert.equal(sessionState('hall'), 'connected');

  assert.equal((await rtc('SessionDisconnected', hall.sessionId)).event.header.name, 'SessionDisconnected');
  await hall.pc.close();
  assert.equal(bridge.app.sessions.size, 0);
  await until('ffmpeg to stop after the linger', () => childProcesses('ffmpeg').length === 0, 10_000);
  assert.deepEqual(garageConnectivity(), ['OK', 'UNREACHABLE', 'OK'], 'each change reported once');
  for (const event of cloud.events) assertValidAlexaMessage(event);
});
