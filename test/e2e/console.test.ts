/**
 * The web console end to end: the page at / in headless Chromium against a real bridge (the demo
 * clip as a camera and as a doorbell, events to the loopback fake Alexa cloud). Signs in, watches
 * live video through the console's InitiateSessionWithOffer path, rings the doorbell, follows the
 * WebSocket's live updates, hangs up. Loopback only: the bridge advertises 127.0.0.1 alone, and
 * the page's offer is made loopback-only in flight (route below), as the viewer helper does.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Page, WebSocket as PageSocket } from 'playwright-core';
import { DEMO_CLIP, PACKAGE_ROOT } from '../../src/config/load.ts';
import { assertValidAlexaMessage } from '../helpers/alexa-schema.ts';
import { ADMIN_TOKEN, startBridge, type TestBridge } from '../helpers/bridge.ts';
import { launchChromiumContext, loopbackOnly, type ChromiumContext } from '../helpers/chromium-viewer.ts';
import { directive } from '../helpers/directives.ts';
import { until } from '../helpers/until.ts';
import { startFakeAlexaCloud, type FakeAlexaCloud } from '../fixtures/fake-alexa-cloud.ts';

const ARTIFACTS = join(PACKAGE_ROOT, 'test-artifacts');
const PHONE = { width: 412, height: 915 };

function status(bridge: TestBridge, token: string): Promise<Response> {
  return fetch(`${bridge.url}/api/status`, { headers: { authorization: `Bearer ${token}` } });
}

describe('web console', () => {
  let cloud: FakeAlexaCloud;
  let bridge: TestBridge;
  let browser: ChromiumContext;
  let page: Page;
  const pageErrors: string[] = [];
  /** Every GET /api/status the page made, and every WebSocket frame it received. */
  const statusRequests: string[] = [];
  const wsFrames: string[] = [];

  before(async () => {
    [cloud, browser] = await Promise.all([startFakeAlexaCloud(), launchChromiumContext({ viewport: PHONE })]);
    bridge = await startBridge({
      lingerSec: 1,
      alexa: { clientId: 'test-client-id', clientSecret: 'test-client-secret', lwaTokenUrl: cloud.lwaTokenUrl, eventGatewayUrl: cloud.eventGatewayUrl },
      webrtc: { hostAddresses: ['127.0.0.1'], udpPorts: '42200-42300' },
      cameras: [
        { id: 'demo', name: 'Demo Camera', url: `file:${DEMO_CLIP}` },
        { id: 'front-door', name: 'Front Door', kind: 'doorbell', url: `file:${DEMO_CLIP}` },
      ],
    });
    // Link the skill so events flow, as Alexa does when the user enables it.
    const grant = directive('Alexa.Authorization', 'AcceptGrant', {
      correlationToken: null,
      payload: { grant: { type: 'OAuth2.AuthorizationCode', code: 'good-console-grant' }, grantee: { type: 'BearerToken', token: 'user-access-token-xyz' } },
    });
    const linked = await bridge.postAlexa(grant);
    assert.equal(linked.json.event.header.name, 'AcceptGrant.Response');

    // Chromium's offer names its 0.0.0.0 socket by the default route's address: make it
    // loopback-only before it reaches the bridge (see LOOPBACK in chromium-viewer.ts).
    await browser.context.route('**/api/cameras/*/watch', async (route) => {
      const body = route.request().postDataJSON() as { offer: string; talk?: boolean };
      await route.continue({ postData: JSON.stringify({ ...body, offer: loopbackOnly(body.offer) }) });
    });
    page = await browser.context.newPage();
    page.on('pageerror', (err) => pageErrors.push(err.message));
    page.on('request', (request) => {
      if (request.method() === 'GET' && new URL(request.url()).pathname === '/api/status') statusRequests.push(request.url());
    });
    page.on('websocket', (socket: PageSocket) => socket.on('framereceived', ({ payload }) => wsFrames.push(String(payload))));
  });

  after(async () => {
    await page?.close().catch(() => {});
    await browser?.close();
    await bridge?.close();
    await cloud?.close();
  });

  test('GET / is the page and nothing else: no token, no camera', async () => {
    const response = await fetch(`${bridge.url}/`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(response.headers.get('content-security-policy') ?? '', /default-src 'none'/);
    const html = await response.text();
    for (const secret of [ADMIN_TOKEN, 'Demo Camera', 'Front Door', 'demo', 'front-door']) assert.ok(!html.includes(secret), `GET / contains "${secret}"`);
    const script = await fetch(`${bridge.url}/console.js`);
    assert.match(script.headers.get('content-type') ?? '', /^text\/javascript/);
    const js = await script.text();
    assert.ok(!/^\s*import type|:\s*ConsoleStatus\b|interface Viewing/m.test(js), 'console.js still has TypeScript in it');
  });

  test('a wrong token is refused: the form says so, and the API answers 401', async () => {
    assert.equal((await status(bridge, 'not-the-token')).status, 401);
    assert.equal((await fetch(`${bridge.url}/api/status`)).status, 401);
    const watch = await fetch(`${bridge.url}/api/cameras/demo/watch`, {
      method: 'POST',
      headers: { authorization: 'Bearer not-the-token', 'content-type': 'application/json' },
      body: JSON.stringify({ offer: 'v=0' }),
    });
    assert.equal(watch.status, 401);

    await page.goto(`${bridge.url}/`);
    await page.locator('#token').fill('not-the-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#login-error', { hasText: 'wrong token' }).waitFor({ timeout: 5000 });
    assert.equal(await page.locator('#console').isVisible(), false);
    assert.equal(await page.evaluate(() => (globalThis as any).localStorage.getItem('porchlight.adminToken')), null);

    // The same through a link.
    await page.goto(`${bridge.url}/#token=not-the-token`);
    await page.locator('#login-error', { hasText: 'wrong token' }).waitFor({ timeout: 5000 });
    assert.equal(new URL(page.url()).hash, '', 'the token is taken out of the address bar');
  });

  test('signing in with the form lists both cameras, healthy; the token is remembered', async () => {
    await page.goto(`${bridge.url}/`);
    await page.locator('#token').fill(ADMIN_TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    for (const id of ['demo', 'front-door']) {
      await page.locator(`[data-camera="${id}"] [data-health="OK"]`).waitFor({ timeout: 10_000 });
    }
    const demo = page.locator('[data-camera="demo"]');
    const door = page.locator('[data-camera="front-door"]');
    assert.match(await demo.innerText(), /Demo Camera\s+camera/);
    assert.match(await door.innerText(), /Front Door\s+doorbell/);
    assert.equal(await demo.getByRole('button', { name: 'Ring' }).isVisible(), false, 'a plain camera has no Ring button');
    assert.equal(await door.getByRole('button', { name: 'Ring' }).isVisible(), true);
    assert.equal(await demo.getByRole('button', { name: 'Talk' }).isVisible(), false, 'no talkback configured: no Talk button');
    await page.locator('#live', { hasText: 'live' }).waitFor({ timeout: 5000 });
    assert.equal(await page.evaluate(() => (globalThis as any).localStorage.getItem('porchlight.adminToken')), ADMIN_TOKEN);
    // The outbox: linked, nothing stuck.
    assert.match(await page.locator('#outbox').innerText(), /Linked\s+yes/);
    // The Alexa checklist: the AcceptGrant before() sent is Alexa's last call; no Discover yet, with its fix.
    const checklist = page.locator('#alexa-checklist');
    assert.match(await checklist.locator('[data-id="directives"][data-ok="true"]').innerText(), /Alexa last called this bridge .* \(Alexa\.Authorization AcceptGrant, via HTTP\)/);
    assert.match(await checklist.locator('[data-id="linking"][data-ok="true"]').innerText(), /account linked \(AcceptGrant/);
    assert.match(await checklist.locator('[data-id="discovery"][data-ok="false"]').innerText(), /not discovered the cameras yet\s+→ enable the skill/);
  });

  test('Watch: live video through the InitiateSessionWithOffer handler; the session appears over the WebSocket', async () => {
    const requestsBefore = statusRequests.length;
    await page.locator('[data-camera="demo"]').getByRole('button', { name: 'Watch' }).click();
    await page.waitForFunction(() => {
      const video = (globalThis as any).document.getElementById('video');
      return video.videoWidth > 0 && video.currentTime > 0;
    }, undefined, { timeout: 15_000 });
    const t1: number = await page.evaluate(() => (globalThis as any).document.getElementById('video').currentTime);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const t2: number = await page.evaluate(() => (globalThis as any).document.getElementById('video').currentTime);
    assert.ok(t2 > t1 + 0.5, `the video plays (currentTime ${t1} → ${t2})`);
    const videoWidth: number = await page.evaluate(() => (globalThis as any).document.getElementById('video').videoWidth);
    assert.ok(videoWidth > 0);

    // The bridge holds one session, opened by the console, answered by the Alexa handler.
    const [session] = bridge.app.sessions.list();
    assert.ok(session, 'the bridge has the session');
    assert.match(session.id, /^console-[0-9a-f-]{36}$/);
    assert.equal(session.cameraId, 'demo');
    assert.match(bridge.logText(), new RegExp(`"sessionId":"${session.id}".*"msg":"answer generated"`));

    // The list shows it, connected, from this console: pushed by the WebSocket, not fetched.
    const row = page.locator(`[data-session="${session.id}"][data-origin="console"]`);
    await row.filter({ hasText: 'connected' }).waitFor({ timeout: 5000 });
    assert.match(await row.innerText(), /Demo Camera/);
    assert.equal(statusRequests.length, requestsBefore, 'no GET /api/status since signing in');
    assert.ok(wsFrames.some((frame) => frame.includes(`"id":"${session.id}"`) && frame.includes('"origin":"console"')), 'a WebSocket frame carried the session');

    // The camera card shows what the stream carries once it is known.
    await page.locator('[data-camera="demo"]', { hasText: /H264 · \d+×\d+ · copy · [\d,]+ kb\/s · streaming · 1 viewer/ }).waitFor({ timeout: 5000 });
    const api = (await (await status(bridge, ADMIN_TOKEN)).json()) as any;
    const demo = api.cameras.find((c: any) => c.id === 'demo');
    assert.equal(demo.codec, 'h264');
    assert.ok(demo.width > 0 && demo.height > 0 && demo.bitrateKbps > 0, JSON.stringify(demo));
    assert.deepEqual(api.sessions.map((s: any) => [s.id, s.camera, s.origin, s.state]), [[session.id, 'demo', 'console', 'connected']]);
    assert.ok(api.sessions[0].bytesSent > 0);
  });

  test('Ring: a real DoorbellPress reaches Alexa', async () => {
    const presses = () => (cloud.events as any[]).filter((e) => e.event.header.name === 'DoorbellPress');
    assert.equal(presses().length, 0);
    const deliveredBefore = bridge.app.cloud.status().delivered;
    await page.locator('[data-camera="front-door"]').getByRole('button', { name: 'Ring' }).click();
    const [press] = await until('the DoorbellPress', () => presses().length > 0 && presses(), 5000);
    assertValidAlexaMessage(press);
    assert.equal(press.event.endpoint.endpointId, 'front-door');
    await page.locator('#notice', { hasText: 'DoorbellPress sent' }).waitFor({ timeout: 5000 });
    // The outbox on the page counts it (pushed over the WebSocket).
    await until('the page to count the press as delivered', async () => {
      const shown = Number(/Delivered\s*(\d+)/.exec(await page.locator('#outbox').innerText())?.[1]);
      return shown > deliveredBefore && shown === bridge.app.cloud.status().delivered;
    }, 5000);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'console.png'), fullPage: true });
  });

  test('Hang up ends the session through SessionDisconnected; the list empties without reload', async () => {
    const [session] = bridge.app.sessions.list();
    assert.ok(session);
    await page.locator(`[data-session="${session.id}"]`).getByRole('button', { name: 'Hang up' }).click();
    await page.locator(`[data-session="${session.id}"]`).waitFor({ state: 'detached', timeout: 5000 });
    await page.locator('#no-sessions').waitFor({ state: 'visible', timeout: 5000 });
    assert.equal(await page.locator('#viewer').isVisible(), false);
    assert.equal(bridge.app.sessions.size, 0);
  });

  test('/#token=… signs in too, and leaves the address bar clean', async () => {
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.locator('#login').waitFor({ state: 'visible', timeout: 5000 });
    assert.equal(await page.evaluate(() => (globalThis as any).localStorage.getItem('porchlight.adminToken')), null);
    await page.goto(`${bridge.url}/#token=${encodeURIComponent(ADMIN_TOKEN)}`);
    await page.locator('[data-camera="demo"] [data-health="OK"]').waitFor({ timeout: 10_000 });
    assert.equal(new URL(page.url()).hash, '');
    assert.equal(await page.evaluate(() => (globalThis as any).localStorage.getItem('porchlight.adminToken')), ADMIN_TOKEN);
  });

  test('a /#token=… link with a wrong token keeps the token this browser remembered, and stays signed in', async () => {
    await page.goto(`${bridge.url}/#token=a-stale-link-token`);
    await page.locator('[data-camera="demo"] [data-health="OK"]').waitFor({ timeout: 10_000 });
    assert.equal(await page.evaluate(() => (globalThis as any).localStorage.getItem('porchlight.adminToken')), ADMIN_TOKEN);
    assert.equal(await page.locator('#login').isVisible(), false);
  });

  test('the WebSocket: a wrong first message is closed with 4401; no token in any log line', async () => {
    const ws = new WebSocket(`${bridge.url.replace(/^http/, 'ws')}/api/ws`);
    await new Promise((resolve, reject) => {
      ws.addEventListener('open', resolve);
      ws.addEventListener('error', reject);
    });
    ws.send(JSON.stringify({ token: 'not-the-token' }));
    const closed = await new Promise<{ code: number; reason: string }>((resolve) => ws.addEventListener('close', (e) => resolve({ code: e.code, reason: e.reason })));
    assert.deepEqual(closed, { code: 4401, reason: 'wrong token' });

    assert.deepEqual(pageErrors, []);
    assert.ok(!bridge.logText().includes(ADMIN_TOKEN), 'the admin token is in the log');
  });
});
