/**
 * Presses and motion from cameras' own ONVIF event services (the fake ONVIF camera: WS-Security
 * digests on a clock 7 minutes off, short leases, reboots) to the fake Alexa event gateway; and
 * the warm stream: motion at a real RTSP camera (GStreamer, 4 s GOP) starts its ffmpeg, so an
 * Echo-shaped viewer offered right after starts from the keyframe cache.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { RtpPacket } from 'werift';
import { DEMO_CLIP } from '../../src/config/load.ts';
import { startsKeyframe } from '../../src/camera/h264.ts';
import { assertValidAlexaMessage } from '../helpers/alexa-schema.ts';
import { ADMIN_TOKEN, startBridge, type TestBridge } from '../helpers/bridge.ts';
import { directive } from '../helpers/directives.ts';
import { echoViewer } from '../helpers/echo-offer.ts';
import { until } from '../helpers/until.ts';
import { startFakeAlexaCloud, type FakeAlexaCloud } from '../fixtures/fake-alexa-cloud.ts';
import { startFakeCamera, type FakeCamera } from '../fixtures/fake-camera.ts';
import { startFakeOnvifCamera, type FakeOnvifCamera } from '../fixtures/fake-onvif-camera.ts';

const RTC = 'Alexa.RTCSessionController';
const MOTION = 'tns1:RuleEngine/CellMotionDetector/Motion';
const VISITOR = 'tns1:RuleEngine/MyRuleDetector/Visitor';
const SEVEN_MINUTES_SLOW = -7 * 60_000;

const named = (cloud: FakeAlexaCloud, name: string, endpointId: string) =>
  (cloud.events as any[]).filter((e) => e.event.header.name === name && e.event.endpoint?.endpointId === endpointId);
const motionReports = (cloud: FakeAlexaCloud, endpointId: string) =>
  named(cloud, 'ChangeReport', endpointId).filter((e) => e.event.payload.change.properties[0].namespace === 'Alexa.MotionSensor');
const detection = (report: any) => report.event.payload.change.properties[0].value;

async function onvifReadiness(bridge: TestBridge, cameraId: string): Promise<any> {
  return ((await (await fetch(`${bridge.url}/readyz`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json()) as any).checks.cameras[cameraId].onvif;
}

describe('camera events over ONVIF', () => {
  let cloud: FakeAlexaCloud;
  let doorbell: FakeOnvifCamera;
  let yardOnvif: FakeOnvifCamera;
  let refusing: FakeOnvifCamera;
  let noEvents: FakeOnvifCamera;
  let yardRtsp: FakeCamera;
  let bridge: TestBridge;

  before(async () => {
    [cloud, doorbell, yardOnvif, refusing, noEvents, yardRtsp] = await Promise.all([
      startFakeAlexaCloud(),
      // A lease of 3 s: only renewals keep the subscription alive across the tests.
      startFakeOnvifCamera({ clockOffsetMs: SEVEN_MINUTES_SLOW, maxLeaseMs: 3000, maxPullWaitMs: 5000 }),
      startFakeOnvifCamera({ password: 'yard-onvif-pw' }),
      startFakeOnvifCamera({ password: 'the-real-password' }),
      startFakeOnvifCamera({ eventService: false }),
      startFakeCamera({ gop: 4 }),
    ]);
    bridge = await startBridge({
      lingerSec: 1,
      doorbellDebounceSec: 1,
      alexa: { clientId: 'test-client-id', clientSecret: 'test-client-secret', lwaTokenUrl: cloud.lwaTokenUrl, eventGatewayUrl: cloud.eventGatewayUrl },
      webrtc: { hostAddresses: ['127.0.0.1'] },
      cameras: [
        { id: 'door', name: 'Door', kind: 'doorbell', url: `file:${DEMO_CLIP}`, onvif: { url: doorbell.url, username: 'admin', password: 'onvif-secret' } },
        { id: 'yard', name: 'Yard', url: yardRtsp.url, onvif: { url: yardOnvif.url, username: 'admin', password: 'yard-onvif-pw' } },
        { id: 'porch', name: 'Porch', url: `file:${DEMO_CLIP}`, onvif: { url: refusing.url, username: 'admin', password: 'a-wrong-password' } },
        { id: 'garage', name: 'Garage', url: `file:${DEMO_CLIP}`, onvif: { url: noEvents.url, username: 'admin', password: 'onvif-secret' } },
      ],
    }, { app: { eventSourceRetry: { initialMs: 200, maxMs: 1000 } } });
    const grant = directive('Alexa.Authorization', 'AcceptGrant', {
      correlationToken: null,
      payload: { grant: { type: 'OAuth2.AuthorizationCode', code: 'good-grant-1' }, grantee: { type: 'BearerToken', token: 'user-access-token-xyz' } },
    });
    assert.equal((await bridge.postAlexa(grant)).json.event.header.name, 'AcceptGrant.Response');
    await until('door and yard subscribed', async () => (await onvifReadiness(bridge, 'door'))?.state === 'subscribed' && (await onvifReadiness(bridge, 'yard'))?.state === 'subscribed', 10_000);
  });
  after(async () => {
    await bridge?.close();
    await Promise.all([cloud, doorbell, yardOnvif, refusing, noEvents, yardRtsp].map((fixture) => fixture?.close()));
  });

  test('a Visitor event from a doorbell whose clock is 7 minutes slow → a schema-valid DoorbellPress within 2 s', async (t) => {
    const sentAt = Date.now();
    doorbell.emit(VISITOR, { State: 'true' }, { Source: 'doorbell-button' });
    const press = await until('DoorbellPress', () => named(cloud, 'DoorbellPress', 'door')[0], 2000);
    assertValidAlexaMessage(press);
    assert.ok(Date.now() - sentAt < 2000);
    t.diagnostic(`press at the camera → DoorbellPress at the gateway: ${Date.now() - sentAt} ms`);
    // The button's release is no second press.
    doorbell.emit(VISITOR, { State: 'false' });
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(named(cloud, 'DoorbellPress', 'door').length, 1);
    assert.equal((await onvifReadiness(bridge, 'door')).clockOffsetMs < -6 * 60_000, true);
  });

  test('motion IsMotion true/false → DETECTED then NOT_DETECTED ChangeReports, ReportState in between', async () => {
    doorbell.emit(MOTION, { IsMotion: 'true' }, { VideoSourceConfigurationToken: 'vsc1', Rule: 'MyMotionDetectorRule' });
    const detected = await until('DETECTED', () => motionReports(cloud, 'door')[0], 2000);
    assertValidAlexaMessage(detected);
    assert.equal(detection(detected), 'DETECTED');
    const { json: state } = await bridge.postAlexa(directive('Alexa', 'ReportState', { endpointId: 'door' }));
    assertValidAlexaMessage(state);
    assert.equal(state.context.properties.find((p: any) => p.namespace === 'Alexa.MotionSensor').value, 'DETECTED');
    doorbell.emit(MOTION, { IsMotion: 'false' });
    const ended = await until('NOT_DETECTED', () => motionReports(cloud, 'door')[1], 2000);
    assertValidAlexaMessage(ended);
    assert.equal(detection(ended), 'NOT_DETECTED');
  });

  test('a 3 s lease is renewed before it expires: events still flow after several leases', async () => {
    await new Promise((resolve) => setTimeout(resolve, 7000));
    assert.ok(doorbell.requests.filter((r) => r.operation === 'Renew').length >= 2, 'renewed');
    assert.equal(doorbell.requests.filter((r) => r.operation === 'CreatePullPointSubscription').length, 1, 'never had to subscribe again');
    doorbell.emit(MOTION, { IsMotion: 'true' });
    await until('DETECTED after several leases', () => motionReports(cloud, 'door')[2], 2000);
    doorbell.emit(MOTION, { IsMotion: 'false' });
    await until('NOT_DETECTED', () => motionReports(cloud, 'door')[3], 2000);
  });

  test('the camera reboots (forgetting its subscription, its clock now 3 minutes fast): re-subscribed, events flow again', async () => {
    const subscriptions = doorbell.requests.filter((r) => r.operation === 'CreatePullPointSubscription').length;
    await doorbell.reboot({ downMs: 1500, clockOffsetMs: 3 * 60_000 });
    await until('re-subscribed', () => doorbell.requests.filter((r) => r.operation === 'CreatePullPointSubscription').length > subscriptions, 10_000);
    await until('subscribed in /readyz', async () => (await onvifReadiness(bridge, 'door')).state === 'subscribed', 5000);
    doorbell.emit(VISITOR, { State: 'true' });
    await until('a press after the reboot', () => named(cloud, 'DoorbellPress', 'door').length === 2, 3000);
    assert.equal(doorbell.authFailures(), 0, 'the new clock offset was learned before signing');
  });

  test('wrong credentials and a camera without an event service: each reported once, in /readyz, never the password', async () => {
    const porch = await until('porch failing', async () => {
      const status = await onvifReadiness(bridge, 'porch');
      return status?.state === 'failing' && status;
    }, 10_000);
    assert.match(porch.reason, /ONVIF refused the credentials/);
    const garage = await until('garage failing', async () => {
      const status = await onvifReadiness(bridge, 'garage');
      return status?.state === 'failing' && status;
    }, 10_000);
    assert.match(garage.reason, /no ONVIF event service/);
    // Retries go on with backoff; the log says each cause once.
    await until('porch retried', () => refusing.authFailures() >= 3, 10_000);
    const log = bridge.logText();
    assert.equal(log.match(/ONVIF events: ONVIF refused the credentials/g)?.length, 1);
    assert.equal(log.match(/ONVIF events: the camera has no ONVIF event service/g)?.length, 1);
    for (const secret of ['a-wrong-password', 'onvif-secret', 'yard-onvif-pw']) assert.ok(!log.includes(secret), `${secret} not logged`);
    const metrics = await (await fetch(`${bridge.url}/metrics`)).text();
    assert.match(metrics, /porchlight_event_source_failures_total\{source="onvif",camera="porch"\} [1-9]/);
    assert.match(metrics, /porchlight_camera_events_total\{camera="door",kind="doorbell",source="onvif"\} 2/);
  });

  test('GetEventProperties: the topics each camera offers are logged once at start', () => {
    const lines = bridge.logText().split('\n').filter((line) => line.includes('topics this camera offers'));
    const door = lines.filter((line) => line.includes('"cameraId":"door"'));
    assert.equal(door.length, 1);
    assert.match(door[0]!, /tns1:RuleEngine\/CellMotionDetector\/Motion/);
  });

  test('motion warms the stream: an Echo offered right after gets its first frame from the keyframe cache', async (t) => {
    const stream = () => bridge.app.streams.peek('yard')?.status();
    assert.equal(stream()?.state ?? 'idle', 'idle');
    yardOnvif.emit(MOTION, { IsMotion: 'true' });
    await until('the yard stream warm with a cached keyframe', () => stream()?.state === 'streaming' && stream()?.keyframeAgeMs !== undefined, 15_000);
    const starts = stream()!.starts;
    const viewer = await echoViewer();
    try {
      const { json: reply } = await bridge.postAlexa(directive(RTC, 'InitiateSessionWithOffer', { endpointId: 'yard', payload: { sessionId: 'warm-1', offer: { format: 'SDP', value: viewer.offer } } }));
      assert.equal(reply.event.header.name, 'AnswerGeneratedForSession', JSON.stringify(reply.event.payload));
      let first: { at: number; keyframe: boolean } | undefined;
      const answeredAt = Date.now();
      await viewer.pc.setRemoteDescription({ type: 'answer', sdp: reply.event.payload.answer.value });
      // The receiving track exists once the answer is applied.
      const video = viewer.pc.getTransceivers().find((t) => t.kind === 'video')!;
      video.receiver.track.onReceiveRtp.subscribe((rtp: RtpPacket) => {
        first ??= { at: Date.now(), keyframe: startsKeyframe(rtp.payload) };
      });
      const got = await until('first video packet', () => first, 10_000, 5);
      // The camera sends a keyframe every 4 s; the cache hands one over at once.
      assert.equal(got.keyframe, true, 'the first packet starts a keyframe (SPS/IDR from the cache)');
      assert.ok(got.at - answeredAt < 2000, `first frame ${got.at - answeredAt} ms after the answer`);
      t.diagnostic(`first video packet ${got.at - answeredAt} ms after the answer (camera GOP 4 s)`);
      assert.equal(stream()!.starts, starts, 'the viewer joined the warm ffmpeg; none was started for it');
      await bridge.postAlexa(directive(RTC, 'SessionDisconnected', { endpointId: 'yard', payload: { sessionId: 'warm-1' } }));
    } finally {
      await viewer.pc.close();
    }
    yardOnvif.emit(MOTION, { IsMotion: 'false' });
    await until('yard idle once motion ended and the linger passed', () => stream()?.state === 'idle', 10_000);
  });
});
