import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ReplayGuard, sign, verifySignature } from '../../src/signing/signature.ts';

const secret = 'a-secret-of-enough-length';
const body = Buffer.from('{"directive":{}}');
const now = 1_800_000_000;

describe('verifySignature', () => {
  const cases: Array<[string, { timestamp?: string; signature?: string }, string | true]> = [
    ['good', { timestamp: String(now), signature: sign(secret, now, body) }, true],
    ['good, uppercase hex', { timestamp: String(now), signature: `v1=${sign(secret, now, body).slice(3).toUpperCase()}` }, true],
    ['edge of the past window', { timestamp: String(now - 300), signature: sign(secret, now - 300, body) }, true],
    ['edge of the future window', { timestamp: String(now + 300), signature: sign(secret, now + 300, body) }, true],
    ['missing both', {}, 'missing'],
    ['missing signature', { timestamp: String(now) }, 'missing'],
    ['missing timestamp', { signature: sign(secret, now, body) }, 'missing'],
    ['timestamp not a number', { timestamp: 'yesterday', signature: sign(secret, now, body) }, 'malformed'],
    ['no v1= prefix', { timestamp: String(now), signature: sign(secret, now, body).slice(3) }, 'malformed'],
    ['short hex', { timestamp: String(now), signature: 'v1=abcd' }, 'malformed'],
    ['stale', { timestamp: String(now - 301), signature: sign(secret, now - 301, body) }, 'stale'],
    ['future', { timestamp: String(now + 301), signature: sign(secret, now + 301, body) }, 'future'],
    ['wrong secret', { timestamp: String(now), signature: sign('another-secret-entirely', now, body) }, 'mismatch'],
    ['signature of another timestamp', { timestamp: String(now), signature: sign(secret, now - 1, body) }, 'mismatch'],
  ];
  for (const [name, headers, expected] of cases) {
    test(name, () => {
      const check = verifySignature(secret, { ...headers, timestamp: headers.timestamp, signature: headers.signature, body }, now);
      if (expected === true) assert.equal(check.ok, true);
      else assert.deepEqual(check, { ok: false, reason: expected });
    });
  }

  test('a changed body does not verify', () => {
    const check = verifySignature(secret, { timestamp: String(now), signature: sign(secret, now, body), body: Buffer.from('{"directive":{"x":1}}') }, now);
    assert.deepEqual(check, { ok: false, reason: 'mismatch' });
  });
});

describe('ReplayGuard', () => {
  test('refuses a signature seen inside the window, forgets it after', () => {
    const guard = new ReplayGuard();
    assert.equal(guard.accept('aa', now, now), true);
    assert.equal(guard.accept('aa', now, now + 10), false);
    assert.equal(guard.accept('bb', now, now + 10), true);
    assert.equal(guard.accept('aa', now, now + 301), true, 'expired entries are pruned');
  });

  test('stays bounded', () => {
    const guard = new ReplayGuard(3);
    for (let i = 0; i < 10; i += 1) guard.accept(`m${i}`, now, now);
    assert.equal(guard.size, 3);
  });
});
