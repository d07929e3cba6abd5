/**
 * The camera onboarding API (issue 27) on a real bridge: a camera added, renamed and removed over
 * HTTP lands in the configuration file (comments kept) and in Alexa's Discover without a
 * restart; bad bodies are refused naming the field; inspection failures come back as 422
 * without the password.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEMO_CLIP } from '../../src/config/load.ts';
import { ADMIN_TOKEN, startBridge, type TestBridge } from '../helpers/bridge.ts';
import { discoverDirective } from '../helpers/directives.ts';
import { startFakeOnvifCamera, type FakeOnvifCamera } from '../fixtures/fake-onvif-camera.ts';

const discovered = async (bridge: TestBridge) =>
  ((await bridge.postAlexa(discoverDirective())).json.event.payload.endpoints as Array<{ endpointId: string; friendlyName: string }>)
    .map((e) => `${e.endpointId}:${e.friendlyName}`).sort();

describe('the camera API', () => {
  let bridge: TestBridge;
  let configPath: string;

  before(async () => {
    bridge = await startBridge({ healthIntervalSec: 3600, cameras: [{ id: 'yard', name: 'Yard', url: `file:${DEMO_CLIP}` }] });
    configPath = join(bridge.dir, 'porchlight.yaml');
    writeFileSync(configPath, `# Hand-written: keep me\n${readFileSync(configPath, 'utf8')}`);
  });
  after(async () => {
    await bridge?.close();
  });

  const api = async (method: string, path: string, body?: unknown, token = ADMIN_TOKEN) => {
    const response = await fetch(`${bridge.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, json: text ? JSON.parse(text) : undefined };
  };

  test('without the admin token: 401, nothing saved', async () => {
    const before = readFileSync(configPath, 'utf8');
    const { status } = await api('POST', '/api/cameras', { id: 'porch', name: 'Porch', url: `file:${DEMO_CLIP}` }, 'wrong-token');
    assert.equal(status, 401);
    assert.equal(readFileSync(configPath, 'utf8'), before);
  });

  test('add: 201, the file has it with comments kept, Discover lists it', async () => {
    const { status, json } = await api('POST', '/api/cameras', { id: 'porch', name: 'Porch', kind: 'doorbell', url: `file:${DEMO_CLIP}` });
    assert.equal(status, 201, JSON.stringify(json));
    assert.equal(json.path, configPath);
    assert.equal(json.created, false);
    assert.deepEqual(json.changes.added, ['porch']);
    const text = readFileSync(configPath, 'utf8');
    assert.match(text, /# Hand-written: keep me/);
    assert.match(text, /id: porch/);
    assert.deepEqual(await discovered(bridge), ['porch:Porch', 'yard:Yard']);
    const again = await api('POST', '/api/cameras', { id: 'porch', name: 'Porch', url: `file:${DEMO_CLIP}` });
    assert.equal(again.status, 409);
    assert.equal(again.json.error, 'exists');
  });

  test('edit: 200, the new name in the file and in Discover', async () => {
    const { status, json } = await api('PUT', '/api/cameras/porch', { id: 'porch', name: 'Front Porch', kind: 'doorbell', url: `file:${DEMO_CLIP}` });
    assert.equal(status, 200, JSON.stringify(json));
    assert.match(readFileSync(configPath, 'utf8'), /name: Front Porch/);
    assert.deepEqual(await discovered(bridge), ['porch:Front Porch', 'yard:Yard']);
  });

  test('invalid bodies: 400 naming the field, the file untouched', async () => {
    const before = readFileSync(configPath, 'utf8');
    const missing = await api('POST', '/api/cameras', { id: 'shed', url: `file:${DEMO_CLIP}` });
    assert.equal(missing.status, 400);
    assert.match(missing.json.reason, /name/);
    const invalid = await api('POST', '/api/cameras', { id: 'shed', name: 'Shed', url: `file:${DEMO_CLIP}`, motion: 'often' });
    assert.equal(invalid.status, 400, JSON.stringify(invalid.json));
    assert.equal(invalid.json.error, 'invalid');
    assert.ok(invalid.json.problems.some((p: string) => p.includes('motion')), JSON.stringify(invalid.json.problems));
    assert.equal(readFileSync(configPath, 'utf8'), before);
  });

  test('delete: 204, gone from the file and from Discover; an unknown id: 404', async () => {
    const { status } = await api('DELETE', '/api/cameras/porch');
    assert.equal(status, 204);
    assert.doesNotMatch(readFileSync(configPath, 'utf8'), /id: porch/);
    assert.deepEqual(await discovered(bridge), ['yard:Yard']);
    assert.equal((await api('DELETE', '/api/cameras/porch')).status, 404);
  });

  test('inspect over HTTP: a refused password comes back as 422 with the step, never the password', async () => {
    let cam: FakeOnvifCamera | undefined;
    try {
      cam = await startFakeOnvifCamera({ password: 'right-password-1', media: { profiles: [{ token: 'main', name: 'mainStream', encoding: 'H264', width: 1280, height: 720, fps: 10, bitrateKbps: 1500, streamUri: 'rtsp://127.0.0.1:1/none' }] } });
      const { status, json } = await api('POST', '/api/onboarding/inspect', { onvifUrl: `http://127.0.0.1:${cam.port}`, username: 'admin', password: 'wrong-password-1234' });
      assert.equal(status, 422, JSON.stringify(json));
      assert.deepEqual([json.error, json.step], ['CREDENTIALS', 'GetDeviceInformation']);
      assert.ok(!JSON.stringify(json).includes('wrong-password-1234'));
      assert.equal((await api('POST', '/api/onboarding/inspect', {})).status, 400);
      assert.equal((await api('POST', '/api/onboarding/discover', { seconds: 0 })).status, 400, 'seconds from 1 to 60');
    } finally {
      await cam?.close();
    }
  });
});
