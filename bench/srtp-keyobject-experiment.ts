/**
 * EXPERIMENT, not part of porchlight: what the bridge's per-viewer CPU would be if werift's SRTP
 * did not hand Node a raw key Buffer on every packet.
 *
 * werift 0.25 encrypts each RTP packet with `createCipheriv("aes-128-gcm", keyBuffer, iv)` (and
 * AES-CTR + HMAC the same way). Node 24 turns that Buffer into a KeyObject on every call
 * (node:internal/crypto/keys getSlots / getKeyObjectSlots): ~45 % of the bridge's CPU at 50
 * viewers in `npm run bench -- --cpu-prof`, ~10 µs of the ~15 µs a packet's cipher costs. This
 * preload caches one KeyObject per key Buffer, which cuts that call to ~5 µs.
 *
 *   npm run bench -- --quick --bridge-import bench/srtp-keyobject-experiment.ts
 *
 * It wraps node:crypto's createCipheriv / createDecipheriv and republishes them to ES-module
 * importers (werift's bundle imports them by name) with syncBuiltinESMExports().
 */
import { createRequire, syncBuiltinESMExports } from 'node:module';
import type { CipherKey, KeyObject } from 'node:crypto';

const crypto = createRequire(import.meta.url)('node:crypto') as typeof import('node:crypto');
const keys = new WeakMap<Buffer, KeyObject>();

function keyObject(key: CipherKey): CipherKey {
  if (!Buffer.isBuffer(key)) return key;
  let object = keys.get(key);
  if (!object) keys.set(key, (object = crypto.createSecretKey(key)));
  return object;
}

const { createCipheriv, createDecipheriv } = crypto;
Object.assign(crypto, {
  createCipheriv: (algorithm: string, key: CipherKey, iv: Buffer | null, options?: object) =>
    (createCipheriv as (...args: unknown[]) => unknown)(algorithm, keyObject(key), iv, options),
  createDecipheriv: (algorithm: string, key: CipherKey, iv: Buffer | null, options?: object) =>
    (createDecipheriv as (...args: unknown[]) => unknown)(algorithm, keyObject(key), iv, options),
});
syncBuiltinESMExports();
