/**
 * The event outbox and Login with Amazon tokens against the fake Alexa cloud over real HTTP,
 * with the real SQLite store in a temp dir. Retry delays are scaled down (base 20 ms).
 */
import { after, afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { doorbellPress, healthChangeReport, motionChangeReport } from '../../src/alexa/events.ts';
import { LwaTokens } from '../../src/cloud/lwa.ts';
import { EventOutbox } from '../../src/cloud/outbox.ts';
import { CloudStore } from '../../src/cloud/store.ts';
import { createLogger } from '../../src/log.ts';
import { assertValidAlexaMessage } from '../helpers/alexa-schema.ts';
import { until } from '../helpers/until.ts';
import { startFakeAlexaCloud, type FakeAlexaCloud } from '../fixtures/fake-alexa-cloud.ts';

const log = createLogger({ level: 'silent' });
const dirs: string[] = [];
after(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

interface Rig {
  cloud: FakeAlexaCloud;
  dataDir: string;
  store: CloudStore;
  tokens: LwaTokens;
  outbox: EventOutbox;
}

async function rig(cloud: FakeAlexaCloud, dataDir = mkdtempSync(join(tmpdir(), 'porchlight-outbox-'))): Promise<Rig> {
  dirs.push(dataDir);
  const store = CloudStore.open(dataDir);
  const tokens = new LwaTokens({ store, clientId: 'test-client-id', clientSecret: 'test-client-secret', tokenUrl: cloud.lwaTokenUrl, log });
  const outbox = new EventOutbox({ store, tokens, gatewayUrl: cloud.eventGatewayUrl, log, retry: { initialMs: 20, maxMs: 160 } });
  return { cloud, dataDir, store, tokens, outbox };
}

async function shutdown(r: Rig): Promise<void> {
  await r.outbox.close();
  r.store.close();
}

const change = (endpointId: string, value: 'OK' | 'UNREACHABLE') => healthChangeReport(randomUUID(), endpointId, value, new Date());

describe('LwaTokens', () => {
  let cloud: FakeAlexaCloud;
  beforeEach(async () => (cloud = await startFakeAlexaCloud({ accessTokenTtlSec: 3600 })));
  afterEach(() => cloud.close());

  test('exchanges a grant code, stores the tokens 0600, refreshes once for concurrent callers', async () => {
    const r = await rig(cloud);
    await r.tokens.exchange('good-code-1');
    assert.equal(r.tokens.linked, true);
    assert.equal(statSync(join(r.dataDir, 'porchlight.db')).mode & 0o777, 0o600);
    const first = await r.tokens.accessToken();
    assert.match(first, /^Atza\|/);
    const [a, b, c] = await Promise.all([r.tokens.refresh(), r.tokens.refresh(), r.tokens.refresh()]);
    assert.equal(a, b);
    assert.equal(b, c);
    assert.equal(cloud.issued.refreshes, 1);
    await shutdown(r);
  });

  test('a used or bad code and wrong client credentials fail with a reason and no secret', async () => {
    const r = await rig(cloud);
    await r.tokens.exchange('good-once');
    await assert.rejects(r.tokens.exchange('good-once'), (err: Error & { code?: string }) => err.code === 'INVALID_GRANT' && /invalid_grant/.test(err.message));
    const wrong = new LwaTokens({ store: r.store, clientId: 'test-client-id', clientSecret: 'not-the-secret', tokenUrl: cloud.lwaTokenUrl, log });
    await assert.rejects(wrong.exchange('good-2'), (err: Error & { code?: string }) => err.code === 'INVALID_CLIENT' && !err.message.includes('not-the-secret'));
    await shutdown(r);
  });

  test('a token close to expiry is refreshed before use', async () => {
    await cloud.close();
    cloud = await startFakeAlexaCloud({ accessTokenTtlSec: 60 }); // inside the 5-minute refresh margin
    const r = await rig(cloud);
    await r.tokens.exchange('good-3');
    await r.tokens.accessToken();
    assert.equal(cloud.issued.refreshes, 1);
    await shutdown(r);
  });
});

describe('EventOutbox', () => {
  let cloud: FakeAlexaCloud;
  beforeEach(async () => (cloud = await startFakeAlexaCloud()));
  afterEach(() => cloud.close());

  test('delivers with the current token in the scope, schema-valid, and empties the queue', async () => {
    const r = await rig(cloud);
    await r.tokens.exchange('good-a');
    r.outbox.start();
    r.outbox.enqueue(change('front', 'UNREACHABLE'));
    r.outbox.enqueue(doorbellPress(randomUUID(), 'front', new Date()));
    const [report, press] = (await cloud.waitForEvents(2, 5000)) as any[];
    for (const event of [report, press]) assertValidAlexaMessage(event);
    const token = cloud.requests.find((q) => q.route === 'events')!.headers.authorization;
    assert.equal(`Bearer ${report.event.endpoint.scope.token}`, token);
    assert.equal(press.event.header.name, 'DoorbellPress');
    // The fake records an event before the bridge has read the 202.
    await until('the queue to empty', () => r.outbox.status().queued === 0, 2000, 10);
    assert.equal(r.outbox.status().queued, 0);
    assert.equal(r.outbox.status().delivered, 2);
    await shutdown(r);
  });

  test('429, 500, timeouts and resets are retried with the same messageId until accepted', async () => {
    const r = await rig(cloud);
    await r.tokens.exchange('good-b');
    cloud.script('events', [{ status: 429 }, { status: 500 }, { status: 503 }, { status: 0, reset: true }]);
    const event = change('front', 'UNREACHABLE');
    r.outbox.enqueue(event);
    r.outbox.start();
    const [delivered] = (await cloud.waitForEvents(1, 5000)) as any[];
    assert.equal(delivered.event.header.messageId, event.event.header.messageId);
    const attempts = cloud.requests.filter((q) => q.route === 'events');
    assert.equal(attempts.length, 5);
    assert.ok(attempts.every((q) => JSON.parse(q.body).event.header.messageId === event.event.header.messageId));
    // Backoff between tries: 20, 40, 80, 160 ms at least.
    const gaps = attempts.slice(1).map((q, i) => q.at - attempts[i]!.at);
    [20, 40, 80, 160].forEach((min, i) => assert.ok(gaps[i]! >= min - 5, `gap ${i} was ${gaps[i]} ms`));
    await shutdown(r);
  });

  test('401 refreshes the token once and retries', async () => {
    const r = await rig(cloud);
    await r.tokens.exchange('good-c');
    await r.tokens.accessToken();
    cloud.expireAccessTokens();
    r.outbox.start();
    r.outbox.enqueue(change('front', 'OK'));
    await cloud.waitForEvents(1, 5000);
    assert.equal(cloud.issued.refreshes, 1);
    await shutdown(r);
  });

  test('403 stops delivery and asks for a re-link; events are kept and flow again after AcceptGrant', async () => {
    const r = await rig(cloud);
    await r.tokens.exchange('good-d');
    cloud.revoke();
    const relink = new Promise((resolve) => r.outbox.once('relinkNeeded', resolve));
    r.outbox.start();
    r.outbox.enqueue(change('front', 'UNREACHABLE'));
    await relink;
    assert.equal(r.outbox.status().relinkNeeded, true);
    assert.equal(r.outbox.status().queued, 1);
    cloud.allow();
    await r.tokens.exchange('good-e');
    r.outbox.relinked();
    await cloud.waitForEvents(1, 5000);
    assert.equal(r.outbox.status().relinkNeeded, false);
    await shutdown(r);
  });

  test('a newer ChangeReport for the same endpoint replaces an undelivered older one', async () => {
    const r = await rig(cloud);
    await r.tokens.exchange('good-f');
    r.outbox.enqueue(change('front', 'UNREACHABLE'), { coalesceKey: 'health:front' });
    r.outbox.enqueue(change('back', 'UNREACHABLE'), { coalesceKey: 'health:back' });
    r.outbox.enqueue(change('front', 'OK'), { coalesceKey: 'health:front' });
    assert.equal(r.outbox.status().queued, 2);
    r.outbox.start();
    const events = (await cloud.waitForEvents(2, 5000)) as any[];
    assert.deepEqual(events.map((e) => [e.event.endpoint.endpointId, e.event.payload.change.properties[0].value.value]), [['back', 'UNREACHABLE'], ['front', 'OK']]);
    await shutdown(r);
  });

  test('survives a restart: queued events are delivered by the next run', async () => {
    const first = await rig(cloud);
    await first.tokens.exchange('good-g');
    cloud.script('events', [{ status: 500 }]);
    first.outbox.start();
    first.outbox.enqueue(change('front', 'UNREACHABLE'));
    first.outbox.enqueue(change('back', 'UNREACHABLE'));
    // Every 10 ms: the shutdown must come before the retry (20 ms later) that would be delivered.
    await until('the first delivery attempt', () => cloud.requests.some((q) => q.route === 'events'), 5000, 10);
    await shutdown(first);
    assert.equal(cloud.events.length, 0);

    const second = await rig(cloud, first.dataDir);
    second.outbox.start();
    const events = (await cloud.waitForEvents(2, 5000)) as any[];
    assert.deepEqual(events.map((e) => e.event.endpoint.endpointId), ['front', 'back']);
    await shutdown(second);
  });

  test('close() does not wait out a hanging gateway: the request is abandoned and the event kept', async () => {
    const first = await rig(cloud);
    await first.tokens.exchange('good-h');
    cloud.script('events', [{ status: 202, hang: true }]);
    first.outbox.start();
    first.outbox.enqueue(change('front', 'UNREACHABLE'));
    await until('the request in flight', () => cloud.requests.some((q) => q.route === 'events'), 5000, 10);
    const closing = performance.now();
    await shutdown(first);
    assert.ok(performance.now() - closing < 1000, 'close() waited for the gateway');

    const second = await rig(cloud, first.dataDir);
    second.outbox.start();
    const [event] = (await cloud.waitForEvents(1, 5000)) as any[];
    assert.equal(event.event.endpoint.endpointId, 'front');
    await shutdown(second);
  });

  test('bounded: beyond maxEntries motion goes first, then the oldest others; a press is never evicted (a 1 500-line motion flood once pushed one out); expired events are dropped', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'porchlight-outbox-'));
    dirs.push(dataDir);
    const store = CloudStore.open(dataDir);
    const tokens = new LwaTokens({ store, clientId: 'test-client-id', clientSecret: 'test-client-secret', tokenUrl: cloud.lwaTokenUrl, log });
    const outbox = new EventOutbox({ store, tokens, gatewayUrl: cloud.eventGatewayUrl, log, maxEntries: 3 });
    const motion = (id: string, value: 'DETECTED' | 'NOT_DETECTED') => motionChangeReport(randomUUID(), id, value, new Date());
    outbox.enqueue(doorbellPress(randomUUID(), 'door', new Date()), { ttlMs: 60_000 });
    for (let i = 0; i < 200; i++) outbox.enqueue(motion('yard', i % 2 ? 'NOT_DETECTED' : 'DETECTED'));
    outbox.enqueue(change('a', 'OK'));
    outbox.enqueue(change('b', 'OK'));
    outbox.enqueue(change('c', 'OK'));
    // Kept: the press and two others; the 200 motion reports went before anything else did.
    assert.deepEqual([outbox.status().queued, outbox.status().dropped], [3, 201]);
    // A press is kept even over capacity (the oldest other goes); one that is too late expires.
    outbox.enqueue(doorbellPress(randomUUID(), 'porch', new Date()), { ttlMs: 0 });
    assert.deepEqual([outbox.status().queued, outbox.status().dropped], [3, 202]);
    await tokens.exchange('good-h');
    outbox.start();
    const events = (await cloud.waitForEvents(2, 5000)) as any[];
    await until('the expired press dropped', () => outbox.status().queued === 0, 5000);
    assert.deepEqual(events.map((e) => `${e.event.header.name} ${e.event.endpoint.endpointId}`), ['DoorbellPress door', 'ChangeReport c']);
    assert.equal(outbox.status().dropped, 203, 'one more expired');
    await outbox.close();
    store.close();
  });
});
