import { createRequire, syncBuiltinESMExports } from 'node:module';
import type { BinaryLike, CipherKey, KeyObject } from 'node:crypto';

/**
 * werift encrypts every SRTP packet with a fresh `createCipheriv(algorithm, keyBuffer, iv)` (and,
 * for the AES-CM profile, a fresh `createHmac('sha1', authKeyBuffer)`). Node converts a raw key
 * Buffer into a KeyObject on each of those calls, which was ~45 % of the bridge's CPU at 50
 * viewers (`npm run bench -- --cpu-prof`). Handing Node a KeyObject made once per key avoids it.
 *
 * werift imports these functions by name from node:crypto, so the cache wraps them on the
 * module and republishes them to ES-module importers (syncBuiltinESMExports). It is process-wide
 * by nature, hence narrow: only key sizes SRTP uses, and each use compares the Buffer's bytes
 * with the cached copy, so a buffer rewritten in place never meets a stale key.
 */

const crypto = createRequire(import.meta.url)('node:crypto') as typeof import('node:crypto');
const INSTALLED = Symbol.for('porchlight.srtpKeyCache');

/** AES-128/256 session keys (GCM and CTR) and the 20-byte SHA-1 authentication key. */
const SRTP_KEY_SIZES = new Set([16, 20, 32]);

interface CachedKey {
  bytes: Buffer;
  key: KeyObject;
}

/** Idempotent: wraps createCipheriv, createDecipheriv and createHmac once per process. */
export function installSrtpKeyCache(): void {
  const target = crypto as typeof crypto & { [INSTALLED]?: true };
  if (target[INSTALLED]) return;
  const cache = new WeakMap<Buffer, CachedKey>();
  const keyObject = <K>(key: K): K | KeyObject => {
    if (!Buffer.isBuffer(key) || !SRTP_KEY_SIZES.has(key.length)) return key;
    const cached = cache.get(key);
    if (cached && cached.bytes.equals(key)) return cached.key;
    const fresh = { bytes: Buffer.from(key), key: crypto.createSecretKey(key) };
    cache.set(key, fresh);
    return fresh.key;
  };
  const { createCipheriv, createDecipheriv, createHmac } = crypto;
  type Options = Parameters<typeof createCipheriv>[3];
  Object.assign(crypto, {
    createCipheriv: (algorithm: string, key: CipherKey, iv: BinaryLike | null, options?: Options) =>
      createCipheriv(algorithm, keyObject(key), iv, options),
    createDecipheriv: (algorithm: string, key: CipherKey, iv: BinaryLike | null, options?: Options) =>
      createDecipheriv(algorithm, keyObject(key), iv, options),
    createHmac: (algorithm: string, key: BinaryLike | KeyObject, options?: Parameters<typeof createHmac>[2]) =>
      createHmac(algorithm, keyObject(key), options),
    [INSTALLED]: true,
  });
  syncBuiltinESMExports();
}
