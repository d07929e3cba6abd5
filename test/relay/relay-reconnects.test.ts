/**
 * Reconnects are paced (issue 25 item 5): the backoff starts over only once a connection has
 * stayed up, and two bridges on one client id are told apart from a flaky broker. Before: the
 * backoff reset at every CONNACK (34 reconnects and 35 warnings in 35 s against a broker that
 * accepts and then closes), and two bridges with the same id knocked each other off every second.
 * A broker that refuses the directive subscription is an error retried with backoff (issue 26
 * bug 1; before: the relay stayed "connecting" for ever and never tried again).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { RelayClient } from '../../src/relay/relay-client.ts';
import { ReplayGuard } from '../../src/signing/signature.ts';
import { until } from '../helpers/until.ts';
import { startMosquitto, type Mosquitto } from '../fixtures/mosquitto.ts';
import { makePki, type Pki } from '../fixtures/relay-pki.ts';

let pki: Pki;
let broker: Mosquitto;
const dir = mkdtempSync(join(tmpdir(), 'porchlight-relay-fight-'));
before(async () => {
  pki = await makePki(dir, ['porchlight-home-bridge', 'porchlight-shed-bridge']);
  // The shed's certificate may not subscribe to its directives: a policy written wrong.
  const dynamicSecurity = {
    defaultACLAccess: { publishClientSend: true, publishClientReceive: true, subscribe: false, unsubscribe: true },
    clients: [{ username: 'porchlight-home-bridge', roles: [{ rolename: 'bridge' }] }, { username: 'porchlight-shed-bridge', roles: [] }],
    roles: [{ rolename: 'bridge', acls: [{ acltype: 'subscribePattern', topic: 'porchlight/%u/#', allow: true }, { acltype: 'subscribePattern', topic: 'porchlight/+/directives', allow: true }] }],
    groups: [],
  };
  broker = await startMosquitto({ tls: { cafile: pki.ca.cert, certfile: pki.server.cert, keyfile: pki.server.key }, dynamicSecurity });
});
after(async () => {
  await broker?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('two bridges on one client id: named in the status and the log, and their fight slows down', async () => {
  const lines: string[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
  const { cert, key } = pki.clients['porchlight-home-bridge']!;
  const make = () => new RelayClient({
    url: broker.url, bridgeId: 'home', cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8'), ca: readFileSync(pki.ca.cert, 'utf8'),
    proxySecret: 'relay-fight-proxy-secret-0123456789', dispatch: async () => { throw new Error('no directives here'); },
    replays: new ReplayGuard(), log, retry: { initialMs: 200, maxMs: 5000 },
  });
  const bridges = [make(), make()];
  let connects = 0;
  for (const bridge of bridges) bridge.on('state', (state) => state === 'connected' && connects++);
  try {
    for (const bridge of bridges) bridge.start();
    await until('the fight named', () => bridges.some((b) => /another client keeps connecting as porchlight-home-bridge/.test(b.status().lastError ?? '')), 15_000);
    const before = connects;
    await new Promise((resolve) => setTimeout(resolve, 4000));
    // With the backoff reset at every CONNACK each would reconnect every 200 ms: ~40 in 4 s.
    assert.ok(connects - before <= 8, `${connects - before} connections in 4 s`);
    assert.ok(lines.filter((l) => l.includes('another client keeps connecting')).length <= 2, 'said once by each bridge');
    assert.ok(lines.filter((l) => l.includes('relay connection lost')).length <= 2, 'the losses are not a warning each');
  } finally {
    await Promise.all(bridges.map((b) => b.close()));
  }
});

test('a broker whose ACL refuses the directive subscription: reported, retried with backoff, never "connected" (before: "connecting" for ever)', async () => {
  const lines: string[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
  const { cert, key } = pki.clients['porchlight-shed-bridge']!;
  const relay = new RelayClient({
    url: broker.url, bridgeId: 'shed', cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8'), ca: readFileSync(pki.ca.cert, 'utf8'),
    proxySecret: 'relay-acl-proxy-secret-0123456789', dispatch: async () => { throw new Error('no directives here'); },
    replays: new ReplayGuard(), log, retry: { initialMs: 100, maxMs: 400 },
  });
  const states: string[] = [];
  relay.on('state', (state) => states.push(state));
  try {
    relay.start();
    await until('three attempts', () => states.filter((s) => s === 'connecting').length >= 3, 10_000);
    assert.ok(!states.includes('connected'), states.join(' → '));
    assert.match(relay.status().lastError ?? '', /refused the subscription to porchlight\/shed\/directives/);
    assert.equal(lines.filter((l) => l.includes('refused every subscription')).length, 1, 'said once, not at every attempt');
  } finally {
    await relay.close();
  }
});
