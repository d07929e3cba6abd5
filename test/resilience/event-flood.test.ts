/**
 * An MQTT flood against a queued doorbell press: 1 500 motion ON/OFF lines in a fraction of a
 * second from a real Mosquitto while the gateway is refusing. Before (issue 25): they filled the
 * outbox's 1 000 places and dropped the queued DoorbellPress, and wrote 1 500 log lines. Now the
 * press arrives, motion costs a few reports, and the log a few lines.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { DEMO_CLIP } from '../../src/config/load.ts';
import { startBridge, ADMIN_TOKEN, type TestBridge } from '../helpers/bridge.ts';
import { directive } from '../helpers/directives.ts';
import { until } from '../helpers/until.ts';
import { startFakeAlexaCloud, type FakeAlexaCloud } from '../fixtures/fake-alexa-cloud.ts';
import { startMosquitto, type Mosquitto } from '../fixtures/mosquitto.ts';

let cloud: FakeAlexaCloud;
let broker: Mosquitto;
let bridge: TestBridge;

before(async () => {
  [cloud, broker] = await Promise.all([startFakeAlexaCloud(), startMosquitto()]);
  bridge = await startBridge({
    healthIntervalSec: 3600,
    alexa: { clientId: 'test-client-id', clientSecret: 'test-client-secret', lwaTokenUrl: cloud.lwaTokenUrl, eventGatewayUrl: cloud.eventGatewayUrl },
    mqtt: { url: broker.url, username: broker.username, password: broker.password },
    cameras: [
      { id: 'front-door', name: 'Front Door', kind: 'doorbell', url: `file:${DEMO_CLIP}` },
      { id: 'yard', name: 'Yard', url: `file:${DEMO_CLIP}`, motion: true },
    ],
  }, { app: { eventDelivery: { retryBaseMs: 50, retryMaxMs: 200, requestTimeoutMs: 2000 } } });
  const grant = directive('Alexa.Authorization', 'AcceptGrant', {
    correlationToken: null,
    payload: { grant: { type: 'OAuth2.AuthorizationCode', code: 'good-flood' }, grantee: { type: 'BearerToken', token: 'user-access-token-xyz' } },
  });
  assert.equal((await bridge.postAlexa(grant)).json.event.header.name, 'AcceptGrant.Response');
  await until('MQTT connected', () => bridge.app.eventSources.mqttStatus()?.state === 'connected', 10_000);
  await until('the start-up health reports delivered', () => bridge.app.cloud.status().queued === 0, 10_000);
});
after(async () => {
  await bridge?.close();
  await Promise.all([cloud?.close(), broker?.close()]);
});

test('1 500 motion lines in 0.2 s with a press queued: the press reaches the gateway, motion costs a few reports', async () => {
  const eventsBefore = cloud.events.length;
  // The gateway refuses for a while: the press waits in the outbox while the flood arrives.
  cloud.script('events', Array.from({ length: 8 }, () => ({ status: 503 })));
  const press = await fetch(`${bridge.url}/api/cameras/front-door/doorbell`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  assert.equal(press.status, 202);

  const client = await mqtt.connectAsync(broker.url, { username: broker.username, password: broker.password });
  try {
    for (let i = 0; i < 1500; i++) client.publish('porchlight/yard/motion', i % 2 ? 'OFF' : 'ON');
    await client.endAsync();
  } catch (err) {
    client.end(true);
    throw err;
  }
  await until('the flood heard', () => bridge.app.eventSources.mqttStatus()!.messages >= 1500, 10_000);
  await until('the press delivered', () => (cloud.events.slice(eventsBefore) as any[]).some((e) => e.event.header.name === 'DoorbellPress'), 15_000);
  await until('the outbox empty', () => bridge.app.cloud.status().queued === 0, 15_000);
  const events = cloud.events.slice(eventsBefore) as any[];
  const motion = events.filter((e) => e.event.header.name === 'ChangeReport' && e.event.payload.change.properties[0].namespace === 'Alexa.MotionSensor');
  assert.ok(motion.length >= 1 && motion.length <= 4, `${motion.length} motion reports for 1 500 lines`);
  const motionLines = bridge.logText().split('\n').filter((line) => line.includes('"msg":"camera motion"'));
  assert.ok(motionLines.length <= 5, `${motionLines.length} "camera motion" log lines`);
});
