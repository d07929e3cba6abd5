/**
 * Resilience: a burst of doorbell presses on 20 doorbell cameras while Alexa's event gateway
 * throttles (429, with and without retry-after), fails (500, 503), times out (hangs, answers
 * slower than the request timeout) and resets connections, with a bridge restart in the middle
 * (one request in flight, some events delivered, most still queued) and a second burst on the
 * restarted bridge. Once the gateway recovers: every press the API queued reached Alexa, folded
 * presses did not, every event is schema-valid, the outbox is empty, nothing was dropped and no
 * new grant was needed.
 *
 * Duplicates: the outbox deletes an event only after a 2xx, so delivery is at-least-once. When
 * the gateway accepts a request after the bridge gave up on it (the fake's delayed 202 records
 * the event even though the client aborted), the bridge sends it again with the same messageId,
 * for Alexa to dedupe. The test allows exactly those duplicates and no others.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEMO_CLIP } from '../../src/config/load.ts';
import { assertValidAlexaMessage } from '../helpers/alexa-schema.ts';
import { ADMIN_TOKEN, startBridge, type TestBridge } from '../helpers/bridge.ts';
import { directive } from '../helpers/directives.ts';
import { until } from '../helpers/until.ts';
import { startFakeAlexaCloud, type FakeReply } from '../fixtures/fake-alexa-cloud.ts';

const CAMERAS = 20;
// The request timeout leaves room for the bridge's event loop to be busy: each press spawns its
// doorbell's ffmpeg (10–70 ms of synchronous fork on some machines), and an answer that arrived
// while 20 of them started must not be taken for a timeout (that made an unscripted duplicate).
const TIMING = { retry: { initialMs: 50, maxMs: 400 }, requestTimeoutMs: 1500 };
/** Longer than the request timeout: the bridge aborts, then the fake answers (or accepts) anyway. */
const SLOW = 2000;

const hang: FakeReply = { status: 202, hang: true };
const reset: FakeReply = { status: 202, reset: true };
/** Accepted after the bridge timed out: the one source of duplicates. */
const lateAccept: FakeReply = { status: 202, delayMs: SLOW };
const ok: FakeReply = { status: 202 };

/** Consumed by the first bridge; its last entry is in flight when that bridge closes. */
const BEFORE_RESTART: FakeReply[] = [
  { status: 429, headers: { 'retry-after': '0' } }, ok,
  { status: 500 }, hang, ok,
  reset, { status: 503 }, ok,
  lateAccept, { status: 429, headers: { 'retry-after': '1' } }, ok,
  { status: 500, delayMs: SLOW }, reset, ok,
  { status: 429 }, ok,
  lateAccept,
];
/** Consumed by the restarted bridge; after these the gateway behaves. */
const AFTER_RESTART: FakeReply[] = [
  { status: 503 }, { status: 429, headers: { 'retry-after': '0' } }, reset, hang, ok,
  { status: 500 }, lateAccept, { status: 429, headers: { 'retry-after': '1' } }, { status: 503 }, reset, { status: 500 },
];
const SCRIPT = [...BEFORE_RESTART, ...AFTER_RESTART];

const name = (e: any): string => e.event.header.name;
const messageId = (e: any): string => e.event.header.messageId;

const DEBOUNCE_SEC = 6;

test('a doorbell burst through 429/5xx/timeouts/resets and a bridge restart: every queued press delivered, none lost', async (t) => {
  const cloud = await startFakeAlexaCloud();
  const dir = mkdtempSync(join(tmpdir(), 'porchlight-burst-'));
  const bridges: TestBridge[] = [];
  t.after(async () => {
    for (const b of bridges) await b.close(); // idempotent
    await cloud.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const ids = Array.from({ length: CAMERAS }, (_, i) => `door-${String(i + 1).padStart(2, '0')}`);
  const config = {
    healthIntervalSec: 3600,
    // Wide enough that the burst's second presses fold even where each press takes ~70 ms to
    // answer (every press starts its doorbell's ffmpeg to warm the stream; spawning from a large
    // process is slow on some machines: 25 presses took 3 s on one).
    doorbellDebounceSec: DEBOUNCE_SEC,
    alexa: { clientId: 'test-client-id', clientSecret: 'test-client-secret', lwaTokenUrl: cloud.lwaTokenUrl, eventGatewayUrl: cloud.eventGatewayUrl },
    cameras: ids.map((id, i) => ({ id, name: `Door ${i + 1}`, kind: 'doorbell', url: `file:${DEMO_CLIP}` })),
  };
  const start = async () => {
    const bridge = await startBridge(config, { dir, app: { eventDelivery: TIMING } });
    bridges.push(bridge);
    return bridge;
  };
  const queued = new Map<string, number>(ids.map((id) => [id, 0]));
  let folded = 0;
  const ring = async (bridge: TestBridge, id: string) => {
    const response = await fetch(`${bridge.url}/api/cameras/${id}/doorbell`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.equal(response.status, 202);
    const { status } = (await response.json()) as { status: string };
    if (status === 'queued') queued.set(id, queued.get(id)! + 1);
    else if (status === 'folded') folded += 1;
    else assert.fail(`press on ${id}: ${status}`);
  };

  let bridge = await start();
  const grant = await bridge.postAlexa(directive('Alexa.Authorization', 'AcceptGrant', {
    correlationToken: null,
    payload: { grant: { type: 'OAuth2.AuthorizationCode', code: 'good-burst' }, grantee: { type: 'BearerToken', token: 'user-access-token-xyz' } },
  }));
  assert.equal(grant.json.event.header.name, 'AcceptGrant.Response');
  await cloud.waitForEvents(CAMERAS, 10_000); // each camera's first health reading
  const baseline = cloud.events.length;
  const firstScripted = cloud.requests.filter((r) => r.route === 'events').length;
  const gatewayRequests = () => cloud.requests.filter((r) => r.route === 'events').slice(firstScripted);

  // Burst 1: one press per camera, a second (folded) press on the first five, all at once.
  cloud.script('events', SCRIPT);
  const burstAt = Date.now();
  await Promise.all([...ids, ...ids.slice(0, 5)].map((id) => ring(bridge, id)));
  assert.equal([...queued.values()].reduce((a, b) => a + b, 0), CAMERAS);
  assert.equal(folded, 5);

  // Restart while the last pre-restart request is in flight (the gateway will accept it late).
  await until('the in-flight request before the restart', () => gatewayRequests().length === BEFORE_RESTART.length, 20_000);
  const deliveredBefore = cloud.events.slice(baseline).filter((e) => name(e) === 'DoorbellPress').length;
  assert.ok(deliveredBefore > 0 && deliveredBefore < CAMERAS, `some presses delivered before the restart, not all (${deliveredBefore})`);
  assert.ok(bridge.app.cloud.status().queued > 0, 'events still queued at the restart');
  await bridge.close();
  assert.equal(gatewayRequests().length, BEFORE_RESTART.length, 'the closed bridge sent nothing more');

  // Burst 2 on the restarted bridge, past the debounce window so every press counts.
  bridge = await start();
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, burstAt + DEBOUNCE_SEC * 1000 + 100 - Date.now())));
  await Promise.all(ids.map((id) => ring(bridge, id)));
  const totalQueued = [...queued.values()].reduce((a, b) => a + b, 0);
  assert.equal(totalQueued, 2 * CAMERAS);

  // Recovery: every queued press, plus one copy per late acceptance, then nothing more.
  const lateAccepted = SCRIPT.filter((r) => r === lateAccept).length;
  await until('an empty outbox', () => bridge.app.cloud.status().queued === 0, 20_000);
  await new Promise((resolve) => setTimeout(resolve, SLOW + 200)); // any straggler would land now
  const events = cloud.events.slice(baseline) as any[];
  for (const event of events) assertValidAlexaMessage(event);
  assert.deepEqual([...new Set(events.map(name))], ['DoorbellPress']);
  const byMessage = new Map<string, any[]>();
  for (const event of events) byMessage.set(messageId(event), [...(byMessage.get(messageId(event)) ?? []), event]);
  // Per camera: as many distinct presses as the API queued.
  for (const id of ids) {
    const distinct = [...byMessage.values()].filter(([e]) => e.event.endpoint.endpointId === id).length;
    assert.equal(distinct, queued.get(id), `distinct DoorbellPress events for ${id}`);
  }
  // Duplicates: only messageIds the gateway accepted after the bridge had given up on the request.
  const requests = gatewayRequests();
  const lateIds = requests.filter((_, i) => SCRIPT[i] === lateAccept).map((r) => messageId(JSON.parse(r.body)));
  const duplicated = [...byMessage].filter(([, copies]) => copies.length > 1);
  assert.deepEqual(duplicated.map(([id, copies]) => [id, copies.length]).sort(), lateIds.map((id) => [id, 2]).sort());
  assert.equal(events.length, totalQueued + lateAccepted, 'nothing beyond the presses and the late-accepted copies');

  // The failures happened as scripted: each 429/5xx answered, each timeout and reset unanswered.
  for (const [i, reply] of SCRIPT.entries()) {
    const expected = reply.hang || reply.reset || (reply.delayMs ?? 0) > TIMING.requestTimeoutMs ? undefined : reply.status;
    assert.equal(requests[i]!.status, expected, `gateway request ${i} (${JSON.stringify(reply)})`);
  }
  const statuses = requests.map((r) => r.status);
  for (const status of [429, 500, 503]) assert.ok(statuses.includes(status), `the gateway answered ${status}`);
  const logs = bridges.map((b) => b.logText()).join('');
  assert.match(logs, /could not be reached \(TimeoutError\)/, 'a request timed out');
  assert.match(logs, /could not be reached \((ECONNRESET|UND_ERR_SOCKET)\)/, 'a connection was reset');
  assert.match(logs, /THROTTLING_EXCEPTION/);

  const status = bridge.app.cloud.status();
  assert.equal(status.queued, 0);
  assert.equal(status.dropped, 0);
  assert.equal(status.failing, false);
  assert.equal(status.linked, true);
  assert.equal(cloud.issued.codeExchanges, 1, 'no new grant was needed');
  assert.equal(cloud.issued.refreshes, 0, 'the access token survived the restart');
});
