/**
 * Presses and motion from a real Mosquitto broker (with a password) to the fake Alexa event
 * gateway, through the bridge: DoorbellPress, MotionSensor ChangeReports, ReportState, discovery,
 * the HTTP motion route, bad payloads, a broker that dies and comes back, and warm streams.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DEMO_CLIP } from '../../src/config/load.ts';
import { assertValidAlexaMessage } from '../helpers/alexa-schema.ts';
import { ADMIN_TOKEN, startBridge, type TestBridge } from '../helpers/bridge.ts';
import { directive } from '../helpers/directives.ts';
import { until } from '../helpers/until.ts';
import { startFakeAlexaCloud, type FakeAlexaCloud } from '../fixtures/fake-alexa-cloud.ts';
import { startMosquitto, type Mosquitto } from '../fixtures/mosquitto.ts';

const named = (cloud: FakeAlexaCloud, name: string, endpointId?: string) =>
  (cloud.events as any[]).filter((e) => e.event.header.name === name && (!endpointId || e.event.endpoint?.endpointId === endpointId));
const motionReports = (cloud: FakeAlexaCloud, endpointId: string) =>
  named(cloud, 'ChangeReport', endpointId).filter((e) => e.event.payload.change.properties[0].namespace === 'Alexa.MotionSensor');
const detection = (report: any) => report.event.payload.change.properties[0].value;

function postMotion(bridge: TestBridge, cameraId: string, body: unknown, token = ADMIN_TOKEN) {
  return fetch(`${bridge.url}/api/cameras/${cameraId}/motion`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

async function readiness(bridge: TestBridge): Promise<any> {
  return (await fetch(`${bridge.url}/readyz`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json();
}

describe('camera events over MQTT', () => {
  let cloud: FakeAlexaCloud;
  let broker: Mosquitto;
  let bridge: TestBridge;

  before(async () => {
    [cloud, broker] = await Promise.all([startFakeAlexaCloud(), startMosquitto()]);
    // Retained before the bridge connects: the broker replays it on subscribing, and it is not a press now.
    await broker.publish('porchlight/front-door/doorbell', 'pressed', { retain: true });
    bridge = await startBridge({
      lingerSec: 1,
      motionHoldSec: 2,
      doorbellDebounceSec: 1,
      alexa: { clientId: 'test-client-id', clientSecret: 'test-client-secret', lwaTokenUrl: cloud.lwaTokenUrl, eventGatewayUrl: cloud.eventGatewayUrl },
      mqtt: { url: broker.url, username: broker.username, password: broker.password },
      cameras: [
        { id: 'front-door', name: 'Front Door', kind: 'doorbell', url: `file:${DEMO_CLIP}` },
        { id: 'yard', name: 'Yard', url: `file:${DEMO_CLIP}`, mqtt: { motionTopic: 'frigate/yard/motion' } },
        { id: 'shed', name: 'Shed', url: `file:${DEMO_CLIP}`, motion: false },
      ],
    }, { app: { eventSourceRetry: { initialMs: 200, maxMs: 1000 } } });
    const grant = directive('Alexa.Authorization', 'AcceptGrant', {
      correlationToken: null,
      payload: { grant: { type: 'OAuth2.AuthorizationCode', code: 'good-grant-1' }, grantee: { type: 'BearerToken', token: 'user-access-token-xyz' } },
    });
    assert.equal((await bridge.postAlexa(grant)).json.event.header.name, 'AcceptGrant.Response');
    await until('MQTT connected', async () => (await readiness(bridge)).checks.mqtt?.state === 'connected', 10_000);
  });
  after(async () => {
    await bridge?.close();
    await Promise.all([cloud?.close(), broker?.close()]);
  });

  test('a retained message from before the connection is not a press', async () => {
    await until('the retained message delivered', () => bridge.app.eventSources.mqttStatus()!.ignored >= 1, 5000);
    assert.deepEqual(bridge.app.events.recent('front-door'), []);
    assert.equal(named(cloud, 'DoorbellPress').length, 0);
  });

  test('discovery and ReportState carry Alexa.MotionSensor for cameras with a motion source', async () => {
    const { json: discovered } = await bridge.postAlexa(directive('Alexa.Discovery', 'Discover', { payload: { scope: { type: 'BearerToken', token: 't' } } }));
    assertValidAlexaMessage(discovered);
    const interfaces = Object.fromEntries(discovered.event.payload.endpoints.map((e: any) => [e.endpointId, e.capabilities.map((c: any) => c.interface)]));
    assert.ok(interfaces['front-door'].includes('Alexa.MotionSensor'));
    assert.ok(interfaces.yard.includes('Alexa.MotionSensor'));
    assert.ok(!interfaces.shed.includes('Alexa.MotionSensor'));
    const sensor = discovered.event.payload.endpoints.find((e: any) => e.endpointId === 'yard').capabilities.find((c: any) => c.interface === 'Alexa.MotionSensor');
    assert.deepEqual(sensor.properties, { supported: [{ name: 'detectionState' }], proactivelyReported: true, retrievable: true });

    const { json: state } = await bridge.postAlexa(directive('Alexa', 'ReportState', { endpointId: 'yard' }));
    assertValidAlexaMessage(state);
    assert.deepEqual(state.context.properties.map((p: any) => [p.namespace, p.value]), [['Alexa.EndpointHealth', { value: 'OK' }], ['Alexa.MotionSensor', 'NOT_DETECTED']]);
    const { json: shed } = await bridge.postAlexa(directive('Alexa', 'ReportState', { endpointId: 'shed' }));
    assert.equal(shed.context.properties.length, 1);
  });

  test('a press on MQTT → a schema-valid DoorbellPress within 2 s, and the doorbell\'s stream warms', async (t) => {
    const before = named(cloud, 'DoorbellPress').length;
    const pressedAt = Date.now();
    await broker.publish('porchlight/front-door/doorbell', 'pressed');
    const press = await until('DoorbellPress', () => named(cloud, 'DoorbellPress')[before], 2000);
    const elapsed = Date.now() - pressedAt;
    assertValidAlexaMessage(press);
    assert.equal(press.event.endpoint.endpointId, 'front-door');
    assert.ok(elapsed < 2000, `${elapsed} ms`);
    t.diagnostic(`mosquitto_pub → DoorbellPress at the gateway: ${elapsed} ms`);
    const stream = await until('the doorbell stream warm', () => bridge.app.streams.peek('front-door')?.status().state === 'streaming' && bridge.app.streams.peek('front-door')!.status(), 10_000);
    assert.deepEqual(stream.warmFor, ['doorbell']);
    assert.equal(stream.viewers, 0);
  });

  test('motion ON/OFF → DETECTED then NOT_DETECTED ChangeReports; an "on"-only source reverts after motionHoldSec; the stream is held while motion lasts', async () => {
    // First ON from a source never heard saying OFF: held for motionHoldSec (2 s), then it ends.
    await broker.publish('frigate/yard/motion', 'ON');
    const detected = await until('DETECTED', () => motionReports(cloud, 'yard')[0], 3000);
    assertValidAlexaMessage(detected);
    assert.equal(detection(detected), 'DETECTED');
    assert.deepEqual(detected.event.payload.change.cause, { type: 'PHYSICAL_INTERACTION' });
    const { json: state } = await bridge.postAlexa(directive('Alexa', 'ReportState', { endpointId: 'yard' }));
    assertValidAlexaMessage(state);
    assert.equal(state.context.properties[1].value, 'DETECTED');
    await until('yard stream streaming', () => bridge.app.streams.peek('yard')?.status().state === 'streaming', 10_000);
    assert.deepEqual(bridge.app.streams.peek('yard')!.status().warmFor, ['motion']);
    const held = await until('NOT_DETECTED after the hold', () => motionReports(cloud, 'yard')[1], 5000);
    assertValidAlexaMessage(held);
    assert.equal(detection(held), 'NOT_DETECTED');

    // Once it has said OFF, its ON lasts until its next OFF.
    await broker.publish('frigate/yard/motion', 'OFF');
    await broker.publish('frigate/yard/motion', '{"state":"ON"}');
    await until('DETECTED again', () => motionReports(cloud, 'yard')[2], 3000);
    await new Promise((resolve) => setTimeout(resolve, 2500));
    assert.equal(motionReports(cloud, 'yard').length, 3, 'the hold does not end motion from a source that says OFF');
    await broker.publish('frigate/yard/motion', 'OFF');
    const ended = await until('NOT_DETECTED', () => motionReports(cloud, 'yard')[3], 3000);
    assertValidAlexaMessage(ended);
    assert.deepEqual(motionReports(cloud, 'yard').map(detection), ['DETECTED', 'NOT_DETECTED', 'DETECTED', 'NOT_DETECTED']);
    // No viewer and no motion: the stream stops after lingerSec.
    await until('yard stream idle after linger', () => bridge.app.streams.peek('yard')?.status().state === 'idle', 10_000);
  });

  test('bad input is ignored and logged once: unreadable payloads, unknown cameras, default topics a camera replaced', async () => {
    const reportsBefore = (cloud.events as any[]).length;
    await broker.publish('porchlight/yard/motion', 'ON'); // yard listens on frigate/yard/motion instead
    await broker.publish('porchlight/garage/motion', 'ON');
    await broker.publish('porchlight/garage/motion', 'ON');
    await broker.publish('frigate/yard/motion', 'sideways');
    await broker.publish('frigate/yard/motion', 'sideways');
    await broker.publish('porchlight/shed/motion', 'ON'); // motion: false
    // A message after them all proves they were processed (MQTT keeps order on one topic per publisher).
    await broker.publish('frigate/yard/motion', 'OFF');
    await until('the broker delivered them all', () => bridge.app.eventSources.mqttStatus()!.ignored >= 7, 5000);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal((cloud.events as any[]).length, reportsBefore, `nothing reached Alexa: ${JSON.stringify((cloud.events as any[]).slice(reportsBefore))}`);
    const log = bridge.logText();
    assert.equal(log.match(/camera id that is not configured/g)?.length, 1);
    assert.equal(log.match(/MQTT payload not understood/g)?.length, 1);
    assert.match(log, /default topic this camera replaced/);
    assert.match(log, /configured motion: false/);
    assert.ok(!log.includes(broker.password), 'the MQTT password is never logged');
  });

  test('HTTP motion: {detected} → ChangeReports; wrong token 401, bad body 400, no sensor 400, unknown 404', async () => {
    const before = motionReports(cloud, 'front-door').length;
    const on = await postMotion(bridge, 'front-door', { detected: true });
    assert.equal(on.status, 202);
    assert.deepEqual(await on.json(), { detectionState: 'DETECTED', changed: true });
    const off = await postMotion(bridge, 'front-door', { detected: false });
    assert.deepEqual(await off.json(), { detectionState: 'NOT_DETECTED', changed: true });
    const reports = await until('two HTTP motion reports', () => motionReports(cloud, 'front-door').length >= before + 2 && motionReports(cloud, 'front-door'), 3000);
    for (const report of reports) assertValidAlexaMessage(report);
    assert.deepEqual(reports.slice(before).map(detection), ['DETECTED', 'NOT_DETECTED']);
    assert.equal((await postMotion(bridge, 'front-door', { detected: true }, 'wrong-token')).status, 401);
    assert.equal((await postMotion(bridge, 'front-door', { detected: 'yes' })).status, 400);
    const shed = await postMotion(bridge, 'shed', { detected: true });
    assert.equal(shed.status, 400);
    assert.match(((await shed.json()) as any).reason, /motion: true/);
    assert.equal((await postMotion(bridge, 'garage', { detected: true })).status, 404);
  });

  test('the broker dies and comes back: /readyz and the console show it, then events flow again', async () => {
    await broker.stop();
    const down = await until('MQTT disconnected in /readyz', async () => {
      const ready = await readiness(bridge);
      return ready.checks.mqtt?.state !== 'connected' && ready;
    }, 10_000);
    assert.equal(down.ready, true, 'a broker outage does not make the bridge unready');
    assert.ok(!JSON.stringify(down).includes(broker.password));
    const status = (await (await fetch(`${bridge.url}/api/status`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json()) as any;
    const yard = status.cameras.find((c: any) => c.id === 'yard');
    assert.notEqual(yard.events.sources.find((s: any) => s.name === 'mqtt').state, 'connected');
    assert.ok(yard.events.recent.length > 0);

    await broker.start();
    await until('MQTT connected again', async () => (await readiness(bridge)).checks.mqtt?.state === 'connected', 10_000);
    const before = named(cloud, 'DoorbellPress').length;
    await broker.publish('porchlight/front-door/doorbell', 'true');
    await until('a press after the broker came back', () => named(cloud, 'DoorbellPress').length > before, 5000);
    const metrics = await (await fetch(`${bridge.url}/metrics`)).text();
    assert.ok(!metrics.includes(broker.password));
    assert.match(metrics, /porchlight_camera_events_total\{camera="front-door",kind="doorbell",source="mqtt"\} [2-9]/);
    assert.match(metrics, /porchlight_event_source_failures_total\{source="mqtt",camera=""\} [1-9]/);
  });
});
