import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ALEXA_BACKOFF, backoffDelayMs, CONNECTION_BACKOFF, parseRetryAfter, RetryTimer, retryWaitMs } from '../../src/util/retry.ts';

test('connections: 1 s doubling to 60 s; Alexa\'s event APIs: 1 s doubling to 256 s, then every 256 s', () => {
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 8, 20].map((n) => backoffDelayMs(n, CONNECTION_BACKOFF)), [1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000]);
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 20].map((n) => backoffDelayMs(n, ALEXA_BACKOFF) / 1000), [1, 2, 4, 8, 16, 32, 64, 128, 256, 256, 256]);
});

test('a factor and a jitter shape the wait; jitter only ever shortens it', () => {
  assert.deepEqual([1, 2, 3, 4].map((n) => backoffDelayMs(n, { initialMs: 100, maxMs: 10_000, factor: 3 })), [100, 300, 900, 2700]);
  const jittered = { initialMs: 1000, maxMs: 60_000, jitter: 0.5 };
  assert.equal(backoffDelayMs(2, jittered, () => 0), 2000);
  assert.equal(backoffDelayMs(2, jittered, () => 0.999), 1001);
  assert.equal(backoffDelayMs(2, jittered, () => 0.5), 1500);
});

test('Retry-After: delta-seconds or an HTTP date; a longer one wins over the backoff, nothing waits past the deadline', () => {
  const now = Date.parse('2026-12-08T00:00:00Z');
  assert.equal(parseRetryAfter('3', now), 3000);
  assert.equal(parseRetryAfter(' 1.5 ', now), 1500);
  assert.equal(parseRetryAfter('Tue, 08 Dec 2026 00:00:10 GMT', now), 10_000);
  assert.equal(parseRetryAfter('Mon, 07 Dec 2026 00:00:10 GMT', now), 0, 'a date in the past: now');
  assert.equal(parseRetryAfter('soon', now), undefined);
  assert.equal(parseRetryAfter(null, now), undefined);
  assert.equal(retryWaitMs(1, CONNECTION_BACKOFF), 1000);
  assert.equal(retryWaitMs(1, CONNECTION_BACKOFF, 5000), 5000);
  assert.equal(retryWaitMs(3, CONNECTION_BACKOFF, 500), 4000);
  assert.equal(retryWaitMs(3, CONNECTION_BACKOFF, 500, 1200), 1200);
});

test('RetryTimer: each failure waits longer, a reset starts over, cancel stops a pending retry', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const retry = new RetryTimer({ initialMs: 1000, maxMs: 4000 });
  let runs = 0;
  const again = () => { runs += 1; };
  retry.schedule(again);
  t.mock.timers.tick(999);
  assert.equal(runs, 0);
  t.mock.timers.tick(1);
  assert.equal(runs, 1);
  retry.schedule(again);
  t.mock.timers.tick(1999);
  assert.equal(runs, 1, 'the second wait is 2 s');
  t.mock.timers.tick(1);
  assert.equal(runs, 2);
  retry.reset();
  retry.schedule(again);
  retry.cancel();
  t.mock.timers.tick(5000);
  assert.equal(runs, 2, 'cancelled');
});

test('the backoff grows across connections that do not last, and starts over after one that does', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  let now = 0;
  const advance = (ms: number) => {
    now += ms;
    t.mock.timers.tick(ms);
  };
  // Connects, then is closed at once, four times: 1 s, 2 s, 4 s, 8 s (before: 1 s every time).
  const waits: number[] = [];
  const retry2 = new RetryTimer({ initialMs: 1000, maxMs: 60_000 });
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
