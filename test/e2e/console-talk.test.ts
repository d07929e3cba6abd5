/**
 * The console's Talk button end to end: Chromium's fake microphone → the console's offer through
 * the same InitiateSessionWithOffer handler as the Echo → the camera's ONVIF backchannel.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeMuLaw } from '../../src/camera/g711.ts';
import { ADMIN_TOKEN, startBridge, type TestBridge } from '../helpers/bridge.ts';
import { launchChromiumContext, loopbackOnly, type ChromiumContext } from '../helpers/chromium-viewer.ts';
import { until } from '../helpers/until.ts';
import { startFakeCamera, type FakeCamera } from '../fixtures/fake-camera.ts';

const dir = mkdtempSync(join(tmpdir(), 'porchlight-console-talk-'));
const capture = join(dir, 'backchannel.ulaw');
let camera: FakeCamera;
let bridge: TestBridge;
let browser: ChromiumContext;

before(async () => {
  [camera, browser] = await Promise.all([startFakeCamera({ audio: 'pcmu', backchannel: capture }), launchChromiumContext()]);
  bridge = await startBridge({
    webrtc: { hostAddresses: ['127.0.0.1'], udpPorts: '42500-42550' },
    cameras: [{ id: 'porch', name: 'Porch', kind: 'doorbell', url: camera.url, talkback: 'onvif' }],
  });
  await browser.context.route('**/api/cameras/*/watch', async (route) => {
    const body = route.request().postDataJSON() as { offer: string; talk?: boolean };
    await route.continue({ postData: JSON.stringify({ ...body, offer: loopbackOnly(body.offer) }) });
  });
});
after(async () => {
  await browser?.close();
  await bridge?.close();
  await camera?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('Talk in the console sends the microphone to the camera speaker', async () => {
  const page = await browser.context.newPage();
  await page.goto(`${bridge.url}/#token=${encodeURIComponent(ADMIN_TOKEN)}`);
  const talk = page.locator('[data-camera="porch"]').getByRole('button', { name: 'Talk' });
  await talk.waitFor({ state: 'visible', timeout: 15_000 });
  await talk.click();
  await until('a second of audio to reach the camera', () => existsSync(capture) && readFileSync(capture).length >= 8000, 20_000);
  const samples = decodeMuLaw(readFileSync(capture));
  const rms = Math.sqrt(samples.reduce((sum, s) => sum + s * s, 0) / samples.length);
  assert.ok(rms > 300, `silent audio at the camera (rms ${rms.toFixed(0)})`);
  const status = (await (await fetch(`${bridge.url}/api/status`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json()) as any;
  assert.equal(status.sessions.length, 1);
  assert.equal(status.sessions[0].origin, 'console');
  await page.close();
});
