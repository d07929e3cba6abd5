/**
 * Reconnects are paced (issue 25 item 5): the backoff starts over only once a connection has
 * stayed up, and two bridges on one client id are told apart from a flaky broker. Before: the
 * backoff reset at every CONNACK (34 reconnects and 35 warnings in 35 s against a broker that
 * accepts and then closes), and two bridges with the same id knocked each other off every second.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { RetryTimer } from '../../src/events/backoff.ts';
import { RelayClient } from '../../src/relay/relay-client.ts';
import { ReplayGuard } from '../../src/http/signature.ts';
import { until } from '../helpers/until.ts';
import { startMosquitto, type Mosquitto } from '../fixtures/mosquitto.ts';
import { makePki, type Pki } from '../fixtures/relay-pki.ts';

test('the backoff grows across connections that do not last, and starts over after one that does', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  let now = 0;
  const advance = (ms: number) => {
    now += ms;
    t.mock.timers.tick(ms);
  };
  // Connects, then is closed at once, four times: 1 s, 2 s, 4 s, 8 s (before: 1 s every time).
  const waits: number[] = [];
  const retry2 = new RetryTimer(1000, 60_000);
  for (let i = 0; i < 4; i++) {
    retry2.connected();
    const started = now;
    let fired = false;
    retry2.schedule(() => (fired = true));
    let waited = 0;
    while (!fired && waited < 120_000) {
      advance(500);
      waited += 500;
    }
    waits.push(now - started);
  }
  assert.deepEqual(waits, [1000, 2000, 4000, 8000]);
  // A connection that stays up a minute resets it.
  let stable = false;
  retry2.connected(() => (stable = true));
  advance(60_000);
  assert.equal(stable, true);
  let fired = false;
  retry2.schedule(() => (fired = true));
  advance(1000);
  assert.equal(fired, true, 'back to 1 s');
  retry2.cancel();
});

let pki: Pki;
let broker: Mosquitto;
const dir = mkdtempSync(join(tmpdir(), 'porchlight-relay-fight-'));
before(async () => {
  pki = await makePki(dir, ['porchlight-home-bridge']);
  broker = await startMosquitto({ tls: { cafile: pki.ca.cert, certfile: pki.server.cert, keyfile: pki.server.key } });
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
    replays: new ReplayGuard(), log, retryInitialMs: 200, retryMaxMs: 5000,
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
