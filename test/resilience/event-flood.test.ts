/**
 * An MQTT flood against a queued doorbell press: 1 500 motion ON/OFF lines in a fraction of a
 * second from a real Mosquitto while the gateway is refusing. Before (issue 25): they filled the
 * outbox's 1 000 places and dropped the queued DoorbellPress, and wrote 1 500 log lines. Now the
 * press arrives, motion costs a few reports, and the log a few lines.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEMO_CLIP } from '../../src/config/load.ts';
import { startBridge, ADMIN_TOKEN, type TestBridge } from '../helpers/bridge.ts';
import { directive } from '../helpers/directives.ts';
import { probeHealth } from '../helpers/health-probe.ts';
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
  }, { app: { eventDelivery: { retry: { initialMs: 50, maxMs: 200 }, requestTimeoutMs: 2000 } } });
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

test('1 500 motion lines in 0.2 s with a press queued: the press reaches the gateway, motion costs a few reports, /healthz keeps answering', async (t) => {
  const probing = probeHealth(bridge.url, 3_000, process.memoryUsage().rss);
  const eventsBefore = cloud.events.length;
  // The gateway refuses for a while: the press waits in the outbox while the flood arrives.
  cloud.script('events', Array.from({ length: 8 }, () => ({ status: 503 })));
  const press = await fetch(`${bridge.url}/api/cameras/front-door/doorbell`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  assert.equal(press.status, 202);

  // From another process, so /healthz measures the bridge and not the publisher.
  await broker.publish('porchlight/yard/motion', { lines: Array.from({ length: 1500 }, (_, i) => (i % 2 ? 'OFF' : 'ON')) });
  await until('the flood heard', () => bridge.app.eventSources.mqttStatus()!.messages >= 1500, 10_000);
  await until('the press delivered', () => (cloud.events.slice(eventsBefore) as any[]).some((e) => e.event.header.name === 'DoorbellPress'), 15_000);
  await until('the outbox empty', () => bridge.app.cloud.status().queued === 0, 15_000);
  const events = cloud.events.slice(eventsBefore) as any[];
  const motion = events.filter((e) => e.event.header.name === 'ChangeReport' && e.event.payload.change.properties[0].namespace === 'Alexa.MotionSensor');
  assert.ok(motion.length >= 1 && motion.length <= 4, `${motion.length} motion reports for 1 500 lines`);
  const motionLines = bridge.logText().split('\n').filter((line) => line.includes('"msg":"camera motion"'));
  assert.ok(motionLines.length <= 5, `${motionLines.length} "camera motion" log lines`);
  const seen = await probing;
  t.diagnostic(`healthz worst ${seen.maxMs.toFixed(1)} ms, p95 ${seen.p95Ms.toFixed(1)} ms over ${seen.answers} answers; RSS +${seen.maxRssGrowthMb.toFixed(0)} MB`);
  assert.ok(seen.answers > 10 && seen.maxMs < 250, `healthz worst ${seen.maxMs.toFixed(0)} ms`);
  assert.ok(seen.maxRssGrowthMb < 100, `RSS +${seen.maxRssGrowthMb.toFixed(0)} MB`);
});

test('a 200 MB publish on a camera topic never reaches the bridge (before: RSS to 544 MB); the next press does', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'porchlight-flood-'));
  try {
    const file = join(dir, 'huge');
    writeFileSync(file, Buffer.alloc(200 * 1024 * 1024, 0x41));
    const messagesBefore = bridge.app.eventSources.mqttStatus()!.messages;
    const eventsBefore = cloud.events.length;
    const probing = probeHealth(bridge.url, 3_000, process.memoryUsage().rss);
    await broker.publish('porchlight/front-door/doorbell', { file }, { qos: 1 });
    await broker.publish('porchlight/front-door/doorbell', 'ON', { qos: 1 });
    await until('the press after it delivered', () => (cloud.events.slice(eventsBefore) as any[]).some((e) => e.event.header.name === 'DoorbellPress'), 15_000);
    const seen = await probing;
    t.diagnostic(`healthz worst ${seen.maxMs.toFixed(1)} ms, p95 ${seen.p95Ms.toFixed(1)} ms; RSS +${seen.maxRssGrowthMb.toFixed(0)} MB`);
    assert.equal(bridge.app.eventSources.mqttStatus()!.messages - messagesBefore, 1, 'only the small press arrived: the broker dropped the big one');
    assert.equal(bridge.app.eventSources.mqttStatus()!.protocolVersion, 5);
    assert.ok(seen.maxRssGrowthMb < 100, `RSS +${seen.maxRssGrowthMb.toFixed(0)} MB`);
    assert.ok(seen.maxMs < 250, `healthz worst ${seen.maxMs.toFixed(0)} ms`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
