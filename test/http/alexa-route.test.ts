import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { sign, signatureHeaders, signReply } from '../../src/signing/signature.ts';
import { assertValidAlexaMessage } from '../helpers/alexa-schema.ts';
import { ADMIN_TOKEN, PROXY_SECRET, startBridge, type TestBridge } from '../helpers/bridge.ts';
import { directive, discoverDirective } from '../helpers/directives.ts';
import { DEMO_CLIP } from '../../src/config/load.ts';

describe('POST /alexa', () => {
  let bridge: TestBridge;
  before(async () => {
    bridge = await startBridge({
      cameras: [
        { id: 'demo', name: 'Demo Camera', url: `file:${DEMO_CLIP}` },
        { id: 'front-door', name: 'Front Door', kind: 'doorbell', url: `file:${DEMO_CLIP}`, manufacturer: 'Acme', model: 'DB-1' },
        { id: 'gone', name: 'Gone', url: 'file:/nonexistent/clip.mp4' },
      ],
    });
  });
  after(() => bridge.close());

  test('signed Discover → schema-valid Discover.Response for every camera', async () => {
    const { status, json } = await bridge.postAlexa(discoverDirective());
    assert.equal(status, 200);
    assertValidAlexaMessage(json);
    assert.equal(json.event.header.namespace, 'Alexa.Discovery');
    assert.equal(json.event.header.name, 'Discover.Response');
    const endpoints = json.event.payload.endpoints;
    assert.deepEqual(endpoints.map((e: any) => e.endpointId), ['demo', 'front-door', 'gone']);
    const [demo, door] = endpoints;
    assert.deepEqual(demo.displayCategories, ['CAMERA']);
    assert.deepEqual(door.displayCategories, ['CAMERA', 'DOORBELL']);
    const interfaces = (e: any) => e.capabilities.map((c: any) => c.interface);
    assert.deepEqual(interfaces(demo), ['Alexa.RTCSessionController', 'Alexa.EndpointHealth', 'Alexa']);
    assert.deepEqual(interfaces(door), ['Alexa.RTCSessionController', 'Alexa.EndpointHealth', 'Alexa.DoorbellEventSource', 'Alexa']);
    assert.equal(door.capabilities[0].configuration.isFullDuplexAudioSupported, false);
    assert.deepEqual(door.capabilities[1].properties, { supported: [{ name: 'connectivity' }], proactivelyReported: true, retrievable: true });
    assert.equal(door.capabilities[2].proactivelyReported, true);
    assert.equal(door.friendlyName, 'Front Door');
    assert.equal(door.manufacturerName, 'Acme');
    assert.equal(door.additionalAttributes.model, 'DB-1');
  });

  test('the reply is signed over its exact bytes and bound to the request\'s signature', async () => {
    const raw = JSON.stringify(discoverDirective());
    const headers = signatureHeaders(PROXY_SECRET, raw);
    const response = await fetch(`${bridge.url}/alexa`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: raw });
    const text = await response.text();
    const requestMac = headers['x-porchlight-signature']!.slice(3);
    assert.equal(response.headers.get('x-porchlight-reply-signature'), signReply(PROXY_SECRET, requestMac, text));
    assert.notEqual(response.headers.get('x-porchlight-reply-signature'), signReply(PROXY_SECRET, requestMac, `${text} `));
  });

  test('ReportState → StateReport with connectivity from the probe', async () => {
    for (const [endpointId, expected] of [['demo', 'OK'], ['gone', 'UNREACHABLE']] as const) {
      const request = directive('Alexa', 'ReportState', { endpointId });
      const { status, json } = await bridge.postAlexa(request);
      assert.equal(status, 200);
      assertValidAlexaMessage(json);
      assert.equal(json.event.header.name, 'StateReport');
      assert.equal(json.event.header.correlationToken, request.directive.header.correlationToken);
      assert.notEqual(json.event.header.messageId, request.directive.header.messageId);
      assert.deepEqual(json.event.endpoint, { scope: request.directive.endpoint.scope, endpointId });
      const [property] = json.context.properties;
      assert.equal(property.namespace, 'Alexa.EndpointHealth');
      assert.deepEqual(property.value, { value: expected });
    }
  });

  test('unknown endpoint → NO_SUCH_ENDPOINT; unknown directive → INVALID_DIRECTIVE', async () => {
    const unknownEndpoint = await bridge.postAlexa(directive('Alexa', 'ReportState', { endpointId: 'back-yard' }));
    assertValidAlexaMessage(unknownEndpoint.json);
    assert.equal(unknownEndpoint.json.event.payload.type, 'NO_SUCH_ENDPOINT');
    const unknownDirective = await bridge.postAlexa(directive('Alexa.PowerController', 'TurnOn', { endpointId: 'demo' }));
    assert.equal(unknownDirective.status, 200);
    assertValidAlexaMessage(unknownDirective.json);
    assert.equal(unknownDirective.json.event.payload.type, 'INVALID_DIRECTIVE');
    assert.match(unknownDirective.json.event.payload.message, /Alexa\.PowerController\.TurnOn/);
  });

  test('a malformed directive → INVALID_DIRECTIVE keeping the correlation token', async () => {
    const broken = directive('Alexa', 'ReportState', { endpointId: 'demo' });
    delete broken.directive.header.messageId;
    const { status, json } = await bridge.postAlexa(broken);
    assert.equal(status, 200);
    assertValidAlexaMessage(json);
    assert.equal(json.event.payload.type, 'INVALID_DIRECTIVE');
    assert.match(json.event.payload.message, /directive\.header\.messageId/);
    assert.equal(json.event.header.correlationToken, broken.directive.header.correlationToken);
  });

  describe('signature', () => {
    const body = () => JSON.stringify(discoverDirective());
    const now = () => Math.floor(Date.now() / 1000);

    test('missing → 401', async () => {
      const { status, json } = await bridge.postAlexa(undefined, { raw: body(), unsigned: true });
      assert.equal(status, 401);
      assert.equal(json.reason, 'missing');
    });
    test('wrong → 401', async () => {
      const raw = body();
      const { status } = await bridge.postAlexa(undefined, { raw, headers: signatureHeaders('not-the-proxy-secret-at-all', raw) });
      assert.equal(status, 401);
    });
    test('stale and future → 401', async () => {
      for (const skew of [-301, 301]) {
        const raw = body();
        const { status, json } = await bridge.postAlexa(undefined, { raw, headers: signatureHeaders(PROXY_SECRET, raw, now() + skew) });
        assert.equal(status, 401);
        assert.equal(json.reason, skew < 0 ? 'stale' : 'future');
      }
    });
    test('replay → 401 the second time', async () => {
      const raw = body();
      const headers = signatureHeaders(PROXY_SECRET, raw);
      assert.equal((await bridge.postAlexa(undefined, { raw, headers })).status, 200);
      const replay = await bridge.postAlexa(undefined, { raw, headers });
      assert.equal(replay.status, 401);
      assert.equal(replay.json.reason, 'replay');
    });
    test('signed but not JSON → 400; unsigned not JSON → 401', async () => {
      assert.equal((await bridge.postAlexa(undefined, { raw: '{"directive":' })).status, 400);
      assert.equal((await bridge.postAlexa(undefined, { raw: '{"directive":', unsigned: true })).status, 401);
    });
    test('over 64 KiB → 413, exactly 64 KiB is read', async () => {
      const big = JSON.stringify({ pad: 'x'.repeat(64 * 1024) });
      assert.equal((await bridge.postAlexa(undefined, { raw: big })).status, 413);
      const fits = JSON.stringify({ pad: 'x'.repeat(64 * 1024 - 10) });
      assert.equal(Buffer.byteLength(fits), 64 * 1024);
      const reply = await bridge.postAlexa(undefined, { raw: fits });
      assert.equal(reply.status, 200);
      assertValidAlexaMessage(reply.json);
    });
    test('any content type is accepted as long as it is signed', async () => {
      const raw = body();
      const { status, json } = await bridge.postAlexa(undefined, { raw, headers: { 'content-type': 'text/plain', ...signatureHeaders(PROXY_SECRET, raw) } });
      assert.equal(status, 200);
      assertValidAlexaMessage(json);
    });
    test('sign() matches the documented formula', () => {
      assert.match(sign(PROXY_SECRET, 1, 'x'), /^v1=[0-9a-f]{64}$/);
    });
  });

  test('GET /healthz and /readyz', async () => {
    const health = await fetch(`${bridge.url}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: 'ok' });
    // Without the admin token: ready or not, no detail.
    const summary = await fetch(`${bridge.url}/readyz`);
    assert.deepEqual(await summary.json(), { ready: true });
    const ready = await fetch(`${bridge.url}/readyz`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const report = (await ready.json()) as any;
    assert.equal(ready.status, 200, JSON.stringify(report));
    assert.equal(report.ready, true);
    assert.equal(report.checks.ffmpeg.ok, true);
    assert.equal(report.checks.listening.ok, true);
    assert.equal(report.checks.cameras.gone.connectivity, 'UNREACHABLE');
  });

  test('no secret or bearer token reaches the log', () => {
    const logs = bridge.logText();
    assert.ok(logs.length > 0);
    assert.ok(!logs.includes(PROXY_SECRET), 'proxy secret in log');
    assert.ok(!logs.includes('user-access-token-xyz'), 'bearer token in log');
  });
});
