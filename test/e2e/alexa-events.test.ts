/**
 * What porchlight tells Alexa unprompted, end to end: AcceptGrant at Login with Amazon, doorbell
 * presses from the API, health ChangeReports from a camera that goes away and comes back, and
 * discovery updates after a restart with changed cameras. Alexa's cloud is the loopback fake.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEMO_CLIP } from '../../src/config/load.ts';
import { assertValidAlexaMessage } from '../helpers/alexa-schema.ts';
import { ADMIN_TOKEN, startBridge, type TestBridge } from '../helpers/bridge.ts';
import { directive } from '../helpers/directives.ts';
import { until } from '../helpers/until.ts';
import { assertValidDeleteReport } from '../helpers/local-schemas.ts';
import { startFakeAlexaCloud, type FakeAlexaCloud } from '../fixtures/fake-alexa-cloud.ts';
import { startFakeCamera, type FakeCamera } from '../fixtures/fake-camera.ts';

const eventsNamed = (cloud: FakeAlexaCloud, name: string) => (cloud.events as any[]).filter((e) => e.event.header.name === name);

function ring(bridge: TestBridge, cameraId: string, token = ADMIN_TOKEN) {
  return fetch(`${bridge.url}/api/cameras/${cameraId}/doorbell`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
}

describe('events to Alexa', () => {
  let cloud: FakeAlexaCloud;
  let camera: FakeCamera;
  let bridge: TestBridge;
  const dir = mkdtempSync(join(tmpdir(), 'porchlight-events-'));
  const config = () => ({
    healthIntervalSec: 5,
    doorbellDebounceSec: 5,
    alexa: { clientId: 'test-client-id', clientSecret: 'test-client-secret', lwaTokenUrl: cloud.lwaTokenUrl, eventGatewayUrl: cloud.eventGatewayUrl },
    cameras: [
      { id: 'front-door', name: 'Front Door', kind: 'doorbell', url: `file:${DEMO_CLIP}` },
      { id: 'garage', name: 'Garage', url: camera.url },
    ],
  });

  before(async () => {
    [cloud, camera] = await Promise.all([startFakeAlexaCloud(), startFakeCamera()]);
    bridge = await startBridge(config(), { dir });
  });
  after(async () => {
    await bridge?.close();
    await Promise.all([cloud?.close(), camera?.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  test('AcceptGrant: a bad code → ACCEPT_GRANT_FAILED saying why; a good one → AcceptGrant.Response', async () => {
    const grant = (code: string) => directive('Alexa.Authorization', 'AcceptGrant', {
      correlationToken: null,
      payload: { grant: { type: 'OAuth2.AuthorizationCode', code }, grantee: { type: 'BearerToken', token: 'user-access-token-xyz' } },
    });
    const refused = await bridge.postAlexa(grant('stolen-code'));
    assertValidAlexaMessage(refused.json);
    assert.equal(refused.json.event.header.namespace, 'Alexa.Authorization');
    assert.equal(refused.json.event.payload.type, 'ACCEPT_GRANT_FAILED');
    assert.match(refused.json.event.payload.message, /invalid_grant/);
    assert.ok(!refused.text.includes('test-client-secret'));

    const accepted = await bridge.postAlexa(grant('good-grant-1'));
    assertValidAlexaMessage(accepted.json);
    assert.equal(accepted.json.event.header.name, 'AcceptGrant.Response');
    assert.equal(cloud.issued.codeExchanges, 1);
    assert.equal(bridge.app.cloud.status().linked, true);
  });

  test('a doorbell press → one DoorbellPress; presses within the debounce window fold into it', async () => {
    const first = await ring(bridge, 'front-door');
    assert.equal(first.status, 202);
    assert.deepEqual(await first.json(), { status: 'queued' });
    const second = await ring(bridge, 'front-door');
    assert.deepEqual(await second.json(), { status: 'folded' });
    const [press] = (await until('the DoorbellPress', () => eventsNamed(cloud, 'DoorbellPress').length === 1 && eventsNamed(cloud, 'DoorbellPress'), 5000)) as any[];
    assertValidAlexaMessage(press);
    assert.equal(press.event.endpoint.endpointId, 'front-door');
    assert.deepEqual(press.event.payload.cause, { type: 'PHYSICAL_INTERACTION' });
    assert.match(press.event.payload.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(eventsNamed(cloud, 'DoorbellPress').length, 1);
  });

  test('the doorbell API: wrong token 401, a plain camera 400, an unknown camera 404', async () => {
    assert.equal((await ring(bridge, 'front-door', 'wrong-token')).status, 401);
    assert.equal((await fetch(`${bridge.url}/api/cameras/front-door/doorbell`, { method: 'POST' })).status, 401);
    assert.equal((await ring(bridge, 'garage')).status, 400);
    assert.equal((await ring(bridge, 'back-door')).status, 404);
  });

  test('a camera that goes away → ChangeReport UNREACHABLE (after two failed probes); back → OK', async () => {
    const garageReports = () => eventsNamed(cloud, 'ChangeReport').filter((e) => e.event.endpoint.endpointId === 'garage');
    const connectivity = (e: any) => e.event.payload.change.properties[0].value.value;
    // The first reading (OK) was reported when the bridge started.
    assert.deepEqual(garageReports().map(connectivity), ['OK']);
    const port = camera.port;
    await camera.close();
    const down = await until('ChangeReport UNREACHABLE', () => garageReports()[1], 20_000);
    assertValidAlexaMessage(down);
    assert.deepEqual(down.event.payload.change.cause, { type: 'PERIODIC_POLL' });
    assert.deepEqual(down.event.payload.change.properties[0].value, { value: 'UNREACHABLE' });
    const { json: state } = await bridge.postAlexa(directive('Alexa', 'ReportState', { endpointId: 'garage' }));
    assertValidAlexaMessage(state);
    assert.deepEqual(state.context.properties[0].value, { value: 'UNREACHABLE' });

    camera = await startFakeCamera({ port });
    const up = await until('ChangeReport OK', () => garageReports()[2], 15_000);
    assertValidAlexaMessage(up);
    assert.deepEqual(up.event.payload.change.properties[0].value, { value: 'OK' });
  });

  test('a restart with a camera renamed and one removed → AddOrUpdateReport and DeleteReport', async () => {
    await bridge.close();
    const changed = config();
    changed.cameras = [{ id: 'front-door', name: 'Front Porch', kind: 'doorbell', url: `file:${DEMO_CLIP}` }];
    bridge = await startBridge(changed, { dir });
    const added = await until('AddOrUpdateReport', () => eventsNamed(cloud, 'AddOrUpdateReport')[0], 5000);
    assertValidAlexaMessage(added);
    assert.deepEqual(added.event.payload.endpoints.map((e: any) => [e.endpointId, e.friendlyName]), [['front-door', 'Front Porch']]);
    const removed = await until('DeleteReport', () => eventsNamed(cloud, 'DeleteReport')[0], 5000);
    assertValidDeleteReport(removed);
    assert.deepEqual(removed.event.payload.endpoints, [{ endpointId: 'garage' }]);

    // Nothing changed on the next start: nothing is sent again.
    await bridge.close();
    bridge = await startBridge(changed, { dir });
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(eventsNamed(cloud, 'AddOrUpdateReport').length, 1);
    assert.equal(eventsNamed(cloud, 'DeleteReport').length, 1);

    // The doorbell becomes a motion sensor: Alexa hears of its new capability.
    await bridge.close();
    bridge = await startBridge({ ...changed, cameras: [{ ...changed.cameras[0]!, motion: true }] }, { dir });
    const gained = await until('AddOrUpdateReport with MotionSensor', () => eventsNamed(cloud, 'AddOrUpdateReport')[1], 5000);
    assertValidAlexaMessage(gained);
    assert.ok(gained.event.payload.endpoints[0].capabilities.some((c: any) => c.interface === 'Alexa.MotionSensor'));
  });

  test('no token, secret or grant code in the log', () => {
    const logs = bridge.logText();
    for (const secret of ['test-client-secret', 'good-grant-1', 'Atza|', 'Atzr|']) assert.ok(!logs.includes(secret), `${secret} in the log`);
  });
});

describe('events survive a failing gateway and a bridge restart', () => {
  test('a press and a health change while the gateway fails, a restart, then recovery: all delivered once, no new grant', async (t) => {
    const cloud = await startFakeAlexaCloud();
    const camera = await startFakeCamera();
    const dir = mkdtempSync(join(tmpdir(), 'porchlight-outage-'));
    let bridge: TestBridge | undefined;
    t.after(async () => {
      await bridge?.close();
      await Promise.all([cloud.close(), camera.close()]);
      rmSync(dir, { recursive: true, force: true });
    });
    const config = {
      healthIntervalSec: 5,
      alexa: { clientId: 'test-client-id', clientSecret: 'test-client-secret', lwaTokenUrl: cloud.lwaTokenUrl, eventGatewayUrl: cloud.eventGatewayUrl },
      cameras: [
        { id: 'front-door', name: 'Front Door', kind: 'doorbell', url: `file:${DEMO_CLIP}` },
        { id: 'garage', name: 'Garage', url: camera.url },
      ],
    };
    bridge = await startBridge(config, { dir });
    const grant = await bridge.postAlexa(directive('Alexa.Authorization', 'AcceptGrant', {
      correlationToken: null,
      payload: { grant: { type: 'OAuth2.AuthorizationCode', code: 'good-outage' }, grantee: { type: 'BearerToken', token: 'user-access-token-xyz' } },
    }));
    assertValidAlexaMessage(grant.json);
    const initial = await cloud.waitForEvents(2, 10_000); // the first readings of both cameras
    assert.equal(initial.length, 2);

    cloud.script('events', [{ status: 500 }, { status: 429 }, { status: 503 }, { status: 500 }]);
    assert.equal((await ring(bridge, 'front-door')).status, 202);
    await camera.close();
    await until('the garage to be unreachable', () => bridge!.app.health.health('garage')?.value === 'UNREACHABLE', 20_000);
    await until('a failed delivery', () => cloud.requests.some((q) => q.route === 'events' && q.status === 500), 5000);
    assert.equal(cloud.events.length, 2, 'nothing new got through yet');

    await bridge.close();
    bridge = await startBridge(config, { dir });
    const events = (await cloud.waitForEvents(4, 30_000)) as any[];
    const later = events.slice(2);
    for (const event of later) assertValidAlexaMessage(event);
    assert.deepEqual(later.map((e) => e.event.header.name).sort(), ['ChangeReport', 'DoorbellPress']);
    assert.deepEqual(later.find((e) => e.event.header.name === 'ChangeReport').event.payload.change.properties[0].value, { value: 'UNREACHABLE' });
    assert.equal(cloud.issued.codeExchanges, 1, 'no new grant was needed');
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(cloud.events.length, 4, 'each event delivered once');
  });
});
