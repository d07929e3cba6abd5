/**
 * The SRTP key cache must be invisible except in CPU: the same bytes out as plain node:crypto,
 * a key buffer rewritten in place takes effect, and werift's named ESM imports see the wrappers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import * as esm from 'node:crypto';
import { installSrtpKeyCache } from '../../src/webrtc/srtp-key-cache.ts';

const crypto = createRequire(import.meta.url)('node:crypto') as typeof import('node:crypto');
const plain = { createCipheriv: crypto.createCipheriv, createDecipheriv: crypto.createDecipheriv, createHmac: crypto.createHmac };
installSrtpKeyCache();
installSrtpKeyCache();

const iv = Buffer.alloc(12, 7);
const payload = Buffer.from('an RTP payload, more or less');

function gcm(create: typeof crypto.createCipheriv, key: Buffer): Buffer {
  const cipher = create('aes-128-gcm', key, iv) as esm.CipherGCM;
  return Buffer.concat([cipher.update(payload), cipher.final(), cipher.getAuthTag()]);
}

test('installed once, visible to named ES-module imports like werift\'s', () => {
  assert.notEqual(esm.createCipheriv, plain.createCipheriv);
  assert.equal(esm.createCipheriv, crypto.createCipheriv);
  assert.equal(esm.createHmac, crypto.createHmac);
});

test('AES-GCM, AES-CTR and HMAC-SHA1 give the bytes plain node:crypto gives, every time', () => {
  const key = Buffer.alloc(16, 1);
  const authKey = Buffer.alloc(20, 2);
  for (let i = 0; i < 3; i += 1) {
    assert.deepEqual(gcm(esm.createCipheriv, key), gcm(plain.createCipheriv, key));
    const ctr = (create: typeof crypto.createCipheriv) => create('aes-128-ctr', key, Buffer.alloc(16, i)).update(payload);
    assert.deepEqual(ctr(esm.createCipheriv), ctr(plain.createCipheriv));
    assert.deepEqual(esm.createHmac('sha1', authKey).update(payload).digest(), plain.createHmac('sha1', authKey).update(payload).digest());
  }
  const sealed = gcm(esm.createCipheriv, key);
  const decipher = esm.createDecipheriv('aes-128-gcm', key, iv) as esm.DecipherGCM;
  decipher.setAuthTag(sealed.subarray(-16));
  assert.deepEqual(Buffer.concat([decipher.update(sealed.subarray(0, -16)), decipher.final()]), payload);
});

test('a key buffer rewritten in place is used with its new bytes', () => {
  const key = Buffer.alloc(16, 1);
  const before = gcm(esm.createCipheriv, key);
  key.fill(9);
  const after = gcm(esm.createCipheriv, key);
  assert.notDeepEqual(after, before);
  assert.deepEqual(after, gcm(plain.createCipheriv, Buffer.alloc(16, 9)));
});

test('other keys and strings pass through untouched', () => {
  assert.deepEqual(esm.createHmac('sha256', 'a string key').update('x').digest(), plain.createHmac('sha256', 'a string key').update('x').digest());
  const odd = Buffer.alloc(24, 3);
  const c = (create: typeof crypto.createCipheriv) => create('aes-192-ctr', odd, Buffer.alloc(16)).update(payload);
  assert.deepEqual(c(esm.createCipheriv), c(plain.createCipheriv));
});
