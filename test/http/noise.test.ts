/**
 * Guessing and noise from the network: wrong admin tokens are throttled per address and logged
 * sampled; unsigned /alexa requests write one line per reason per minute, with a count.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { DEMO_CLIP } from '../../src/config/load.ts';
import { ADMIN_TOKEN, startBridge, type TestBridge } from '../helpers/bridge.ts';
import { discoverDirective } from '../helpers/directives.ts';

let bridge: TestBridge;
before(async () => {
  bridge = await startBridge({ cameras: [{ id: 'demo', name: 'Demo', url: `file:${DEMO_CLIP}` }] });
});
after(() => bridge?.close());

const status = (token: string) => fetch(`${bridge.url}/api/status`, { headers: { authorization: `Bearer ${token}` } });
const lines = (text: string) => bridge.logText().split('\n').filter((line) => line.includes(text));

test('wrong admin tokens: 401 ten times, then 429 with Retry-After (right token too) from that address; two log lines', async () => {
  assert.equal((await status(ADMIN_TOKEN)).status, 200);
  for (let i = 0; i < 10; i++) assert.equal((await status(`guess-${i}-xxxxxxxxxxxxxxxx`)).status, 401);
  const throttled = await status('guess-10-xxxxxxxxxxxxxxxx');
  assert.equal(throttled.status, 429);
  assert.ok(Number(throttled.headers.get('retry-after')) > 0);
  assert.equal((await status(ADMIN_TOKEN)).status, 429, 'a guesser cannot tell the right token while throttled');
  for (let i = 0; i < 40; i++) await status(`more-${i}`);
  assert.equal(lines('wrong admin token').length, 1, 'one line per address per minute');
  assert.ok(!bridge.logText().includes('guess-3-'), 'no guessed token in the log');
});

test('200 unsigned /alexa requests → 401 each, and one log line per reason', async () => {
  const before = lines('refused an unsigned or badly signed').length;
  for (let i = 0; i < 200; i++) assert.equal((await bridge.postAlexa(discoverDirective(), { unsigned: true })).status, 401);
  assert.equal(lines('refused an unsigned or badly signed').length - before, 1);
});
