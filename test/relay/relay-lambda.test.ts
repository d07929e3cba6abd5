/**
 * The bundled skill Lambda through the relay (issue 19): RELAY_URL and no BRIDGE_URL, a real
 * mosquitto with client certificates, the real bridge. The Lambda's replies must equal the HTTP
 * path's, its kept connection must survive a broker restart while idle, and a bridge that is gone
 * must cost Alexa a BRIDGE_UNREACHABLE within the deadline, not silence.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import mqtt from 'mqtt';
import { buildSkill } from '../../skill/build.ts';
import { assertValidAlexaMessage } from '../helpers/alexa-schema.ts';
import { startBridge, PROXY_SECRET, type TestBridge } from '../helpers/bridge.ts';
import { directive, discoverDirective } from '../helpers/directives.ts';
import { until } from '../helpers/until.ts';
import { startMosquitto, type Mosquitto } from '../fixtures/mosquitto.ts';
import { makePki, type Pki } from '../fixtures/relay-pki.ts';

type Skill = typeof import('../../skill/src/index.ts');
const BRIDGE_ID = 'home';

function comparable(event: any): unknown {
  return JSON.parse(JSON.stringify(event, (key, value) => (['messageId', 'correlationToken', 'timeOfSample', 'uncertaintyInMilliseconds'].includes(key) ? '·' : value)));
}

describe('relay: the bundled skill Lambda reaches the bridge through the broker', () => {
  const dir = mkdtempSync(join(tmpdir(), 'porchlight-relay-lambda-'));
  const savedEnv = { ...process.env };
  let pki: Pki;
  let broker: Mosquitto;
  let bridge: TestBridge;
  let skill: Skill;
  const lines: string[] = [];
  const originalLog = console.log;

  before(async () => {
    pki = await makePki(dir, [`porchlight-${BRIDGE_ID}-bridge`, 'skill', 'intruder']);
    broker = await startMosquitto({ tls: { cafile: pki.ca.cert, certfile: pki.server.cert, keyfile: pki.server.key } });
    const bridgeCert = pki.clients[`porchlight-${BRIDGE_ID}-bridge`]!;
    bridge = await startBridge({
      relay: { url: broker.url, bridgeId: BRIDGE_ID, cert: bridgeCert.cert, key: bridgeCert.key, ca: pki.ca.cert },
      cameras: [{ id: 'door', name: 'Front Door', kind: 'doorbell', url: 'rtsp://127.0.0.1:9/none' }],
    }, { app: { relayRetry: { initialMs: 200, maxMs: 1000 } } });
    await until('the relay connected', () => bridge.app.relay?.status().state === 'connected', 10_000);
    const built = await buildSkill(join(dir, 'dist'));
    skill = (await import(pathToFileURL(built.bundle).href)) as Skill;
    delete process.env.BRIDGE_URL;
    Object.assign(process.env, {
      RELAY_URL: broker.url,
      RELAY_BRIDGE_ID: BRIDGE_ID,
      // Any client certificate the broker trusts: on IoT Core the setup makes one for the skill.
      RELAY_CERT: readFileSync(pki.clients.skill!.cert, 'utf8'),
      RELAY_KEY: readFileSync(pki.clients.skill!.key, 'utf8'),
      RELAY_CA: readFileSync(pki.ca.cert, 'utf8'),
      PROXY_SECRET,
    });
    console.log = (line: string) => lines.push(String(line)); // the Lambda's CloudWatch lines
  });
  after(async () => {
    console.log = originalLog;
    process.env = savedEnv;
    await skill?.closeHandler();
    await bridge?.close();
    await broker?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('Discover and ReportState: the same replies as POST /alexa, over one kept connection', async () => {
    for (const make of [() => discoverDirective(), () => directive('Alexa', 'ReportState', { endpointId: 'door' })]) {
      const reply: any = await skill.handler(make());
      assertValidAlexaMessage(reply);
      const { json: direct } = await bridge.postAlexa(make());
      assert.deepEqual(comparable(reply), comparable(direct));
    }
    assert.equal(bridge.app.relay!.status().served, 2);
  });

  test('a third client on a broker without ACLs answers every directive first: the Lambda waits for the bridge\'s signed reply (before: 6 of 10 were INTERNAL_ERROR)', async () => {
    const intruder = await mqtt.connectAsync(broker.url, {
      protocolVersion: 5, clientId: 'intruder', cert: readFileSync(pki.clients.intruder!.cert), key: readFileSync(pki.clients.intruder!.key), ca: readFileSync(pki.ca.cert),
    });
    let answered = 0;
    intruder.on('message', (_topic, _payload, packet) => {
      const { responseTopic, correlationData } = packet.properties ?? {};
      if (!responseTopic || !correlationData) return;
      answered += 1;
      intruder.publish(responseTopic, '{"event":{"header":{"name":"ErrorResponse"},"payload":{"type":"INTERNAL_ERROR"}}}', {
        properties: { correlationData, userProperties: { 'x-porchlight-reply-signature': 'v1=00' } },
      });
    });
    await intruder.subscribeAsync(`porchlight/${BRIDGE_ID}/directives`, { qos: 1 });
    try {
      for (let i = 0; i < 10; i++) {
        const reply: any = await skill.handler(directive('Alexa', 'ReportState', { endpointId: 'door' }));
        assert.equal(reply.event.header.name, 'StateReport', JSON.stringify(reply.event.payload));
      }
      assert.equal(answered, 10, 'the intruder saw and answered every directive');
    } finally {
      await intruder.endAsync(true);
    }
  });

  test('the broker restarts while the Lambda is idle: the next invocation is answered', async () => {
    await broker.stop();
    await broker.start();
    await until('the bridge is back on the broker', () => bridge.app.relay!.status().state === 'connected', 10_000);
    const reply: any = await skill.handler(directive('Alexa', 'ReportState', { endpointId: 'door' }), { getRemainingTimeInMillis: () => 8000 });
    assert.equal(reply.event.header.name, 'StateReport', JSON.stringify(reply.event.payload));
  });

  test('no reply in time (the bridge is gone): BRIDGE_UNREACHABLE within the deadline; nothing secret in the Lambda\'s log', async () => {
    await bridge.app.relay!.close();
    const original = directive('Alexa', 'ReportState', { endpointId: 'door' });
    const started = Date.now();
    const reply: any = await skill.handler(original, { getRemainingTimeInMillis: () => 2250 });
    const took = Date.now() - started;
    assertValidAlexaMessage(reply);
    assert.equal(reply.event.payload.type, 'BRIDGE_UNREACHABLE');
    assert.ok(took >= 1900 && took < 2600, `answered after ${took} ms (deadline 2000 ms)`);
    const log = lines.join('\n');
    assert.match(log, /"outcome":"BRIDGE_UNREACHABLE"/);
    assert.doesNotMatch(log, /PRIVATE KEY|BEGIN CERTIFICATE/);
    assert.ok(!log.includes(PROXY_SECRET));
  });
});
