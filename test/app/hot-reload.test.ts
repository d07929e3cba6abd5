/**
 * Cameras added, removed and broken in the configuration file while the bridge runs (issue 27
 * "applied without a restart"): a real bridge, the fake Alexa cloud, a werift viewer on a camera
 * that is removed under it, and a hand edit that no longer validates.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RTCPeerConnection } from 'werift';
import { saveConfigEdit } from '../../src/config/config-file.ts';
import { DEMO_CLIP } from '../../src/config/load.ts';
import { assertValidAlexaMessage } from '../helpers/alexa-schema.ts';
import { startBridge, type TestBridge } from '../helpers/bridge.ts';
import { directive, discoverDirective } from '../helpers/directives.ts';
import { echoViewer } from '../helpers/echo-offer.ts';
import { assertValidDeleteReport } from '../helpers/local-schemas.ts';
import { until } from '../helpers/until.ts';
import { startFakeAlexaCloud, type FakeAlexaCloud } from '../fixtures/fake-alexa-cloud.ts';

const RTC = 'Alexa.RTCSessionController';
const eventsNamed = (cloud: FakeAlexaCloud, name: string) => (cloud.events as any[]).filter((e) => e.event.header.name === name);
const discovered = async (bridge: TestBridge) => ((await bridge.postAlexa(discoverDirective())).json.event.payload.endpoints as Array<{ endpointId: string }>).map((e) => e.endpointId).sort();

describe('the configuration file edited while the bridge runs', () => {
  let cloud: FakeAlexaCloud;
  let bridge: TestBridge;
  let configPath: string;
  const peers: RTCPeerConnection[] = [];

  before(async () => {
    cloud = await startFakeAlexaCloud();
    bridge = await startBridge({
      healthIntervalSec: 3600,
      alexa: { clientId: 'test-client-id', clientSecret: 'test-client-secret', lwaTokenUrl: cloud.lwaTokenUrl, eventGatewayUrl: cloud.eventGatewayUrl },
      webrtc: { udpPorts: '46100-46199' },
      cameras: [
        { id: 'front-door', name: 'Front Door', kind: 'doorbell', url: `file:${DEMO_CLIP}` },
        { id: 'yard', name: 'Yard', url: `file:${DEMO_CLIP}` },
      ],
    }, { app: { eventDelivery: { retry: { initialMs: 50, maxMs: 200 }, requestTimeoutMs: 2000 } } });
    configPath = join(bridge.dir, 'porchlight.yaml');
    const grant = directive('Alexa.Authorization', 'AcceptGrant', {
      correlationToken: null,
      payload: { grant: { type: 'OAuth2.AuthorizationCode', code: 'good-hot-reload' }, grantee: { type: 'BearerToken', token: 'user-access-token-xyz' } },
    });
    assert.equal((await bridge.postAlexa(grant)).json.event.header.name, 'AcceptGrant.Response');
  });
  after(async () => {
    for (const pc of peers) await pc.close().catch(() => {});
    await bridge?.close();
    await cloud?.close();
  });

  test('a camera added: Discover lists it and Alexa gets an AddOrUpdateReport, without a restart', async () => {
    saveConfigEdit({ kind: 'upsert-camera', camera: { id: 'garage', name: 'Garage', url: `file:${DEMO_CLIP}` } }, { configPath, dataDir: bridge.app.config.dataDir, env: {} });
    const result = await bridge.app.reloadConfig('saved');
    assert.ok(result.ok && result.changes, JSON.stringify(result));
    assert.deepEqual(result.changes!.added, ['garage']);
    assert.deepEqual(await discovered(bridge), ['front-door', 'garage', 'yard']);
    const report = await until('AddOrUpdateReport', () => eventsNamed(cloud, 'AddOrUpdateReport').find((e) => e.event.payload.endpoints.some((x: { endpointId: string }) => x.endpointId === 'garage')), 10_000);
    assertValidAlexaMessage(report);
    assert.deepEqual(report.event.payload.endpoints.map((e: { endpointId: string }) => e.endpointId), ['garage'], 'only what changed');
  });

  test('a camera removed under a live view: its session ends, Alexa gets a DeleteReport, the others keep streaming', async () => {
    const viewer = await echoViewer();
    peers.push(viewer.pc);
    const { json } = await bridge.postAlexa(directive(RTC, 'InitiateSessionWithOffer', { endpointId: 'yard', payload: { sessionId: 'yard-1', offer: { format: 'SDP', value: viewer.offer } } }));
    assert.equal(json.event.header.name, 'AnswerGeneratedForSession', JSON.stringify(json.event.payload));
    await viewer.pc.setRemoteDescription({ type: 'answer', sdp: json.event.payload.answer.value });
    await until('the yard streaming', () => bridge.app.streams.peek('yard')?.state === 'streaming', 15_000);
    const doorStream = bridge.app.streams.get('front-door')!;
    doorStream.hold('test');
    await until('the front door streaming', () => doorStream.state === 'streaming', 15_000);

    saveConfigEdit({ kind: 'remove-camera', id: 'yard' }, { configPath, dataDir: bridge.app.config.dataDir, env: {} });
    const result = await bridge.app.reloadConfig('saved');
    assert.ok(result.ok && result.changes);
    assert.deepEqual(result.changes!.removed, ['yard']);
    await until('the yard session ended', () => bridge.app.sessions.ended().some((e) => e.id === 'yard-1'), 10_000);
    assert.equal(bridge.app.sessions.ended().find((e) => e.id === 'yard-1')!.outcome, 'camera-stopped');
    const removed = await until('DeleteReport', () => eventsNamed(cloud, 'DeleteReport').find((e) => e.event.payload.endpoints.some((x: { endpointId: string }) => x.endpointId === 'yard')), 10_000);
    assertValidDeleteReport(removed);
    assert.deepEqual(await discovered(bridge), ['front-door', 'garage']);
    const unknown = await bridge.postAlexa(directive(RTC, 'InitiateSessionWithOffer', { endpointId: 'yard', payload: { sessionId: 'yard-2', offer: { format: 'SDP', value: viewer.offer } } }));
    assert.equal(unknown.json.event.payload.type, 'NO_SUCH_ENDPOINT');
    assert.equal(bridge.app.streams.peek('front-door'), doorStream, 'the unchanged camera kept its stream');
    assert.equal(doorStream.state, 'streaming');
    doorStream.release('test');
  });

  test('a hand edit that no longer validates is refused naming the field; the running cameras stay', async () => {
    // The app has watched its file since start().
    const before = readFileSync(configPath, 'utf8');
    const eventsBefore = cloud.events.length;
    writeFileSync(configPath, before.replace('id: garage', 'id: "gar age"'));
    const refusalLine = () => bridge.logText().split('\n').find((line) => line.includes('does not validate'));
    await until('the refusal logged', refusalLine, 10_000);
    const refusal = JSON.parse(refusalLine()!);
    assert.match(refusal.problems.join('\n'), /^cameras\[\d\]\.id: /m);
    assert.equal(refusal.reason, 'file-changed');
    assert.deepEqual(await discovered(bridge), ['front-door', 'garage'], 'the running set is kept');
    assert.equal(cloud.events.length, eventsBefore, 'nothing told to Alexa');
    // Fixed by hand: applied from the file change alone.
    writeFileSync(configPath, before.replace('name: Garage', 'name: Garage Door'));
    await until('the rename applied', async () => (await bridge.postAlexa(discoverDirective())).json.event.payload.endpoints.some((e: { friendlyName: string }) => e.friendlyName === 'Garage Door'), 10_000);
  });
});
