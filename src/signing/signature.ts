import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * The proxy signature (docs/architecture.md "HTTP surface"): `x-porchlight-timestamp: <unix seconds>` and
 * `x-porchlight-signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>`.
 */

export const TIMESTAMP_HEADER = 'x-porchlight-timestamp';
export const SIGNATURE_HEADER = 'x-porchlight-signature';
export const REPLY_SIGNATURE_HEADER = 'x-porchlight-reply-signature';
export const MAX_SKEW_SEC = 300;

/**
 * The bridge's signature on its reply, bound to the request it answers: `v1=<hex HMAC(secret,
 * "<request signature hex>.<raw reply body>")>`. The Lambda passes a reply to Alexa only when it
 * verifies, so nobody without the secret can answer in the bridge's place.
 */
export function signReply(secret: string, requestMacHex: string, body: string | Buffer): string {
  return `v1=${createHmac('sha256', secret).update(`${requestMacHex.toLowerCase()}.`).update(body).digest('hex')}`;
}

export function sign(secret: string, timestamp: number | string, body: string | Buffer): string {
  const mac = createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex');
  return `v1=${mac}`;
}

export function signatureHeaders(secret: string, body: string | Buffer, nowSec = Math.floor(Date.now() / 1000)): Record<string, string> {
  return { [TIMESTAMP_HEADER]: String(nowSec), [SIGNATURE_HEADER]: sign(secret, nowSec, body) };
}

export type SignatureCheck =
  | { ok: true; timestamp: number; mac: string }
  | { ok: false; reason: 'missing' | 'malformed' | 'stale' | 'future' | 'mismatch' | 'replay' };

export interface SignedRequest {
  timestamp: string | undefined;
  signature: string | undefined;
  body: Buffer;
}

export function verifySignature(secret: string, request: SignedRequest, nowSec: number): SignatureCheck {
  const { timestamp, signature, body } = request;
  if (!timestamp || !signature) return { ok: false, reason: 'missing' };
  if (!/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: 'malformed' };
  const match = /^v1=([0-9a-f]{64})$/i.exec(signature.trim());
  if (!match) return { ok: false, reason: 'malformed' };
  const seconds = Number(timestamp);
  if (seconds < nowSec - MAX_SKEW_SEC) return { ok: false, reason: 'stale' };
  if (seconds > nowSec + MAX_SKEW_SEC) return { ok: false, reason: 'future' };
  const expected = Buffer.from(sign(secret, timestamp, body).slice(3), 'hex');
  const given = Buffer.from(match[1]!, 'hex');
  if (!timingSafeEqual(expected, given)) return { ok: false, reason: 'mismatch' };
  return { ok: true, timestamp: seconds, mac: match[1]!.toLowerCase() };
}

/** Where seen signatures outlive a restart (the store); the guard keeps its own copy in memory. */
export interface SignatureLedger {
  /** Signatures still inside the window, as [mac, expiresAtSec], oldest first. */
  alive(nowSec: number): Array<[string, number]>;
  add(mac: string, expiresAtSec: number): void;
  prune(nowSec: number): void;
}

/**
 * Remembers signatures seen within the acceptance window, so a captured request cannot be
 * replayed — after a restart too, when given a ledger. Entries expire with the window; the map is
 * pruned as it is used, no timer needed.
 */
export class ReplayGuard {
  readonly #seen = new Map<string, number>();
  readonly #maxEntries: number;
  readonly #ledger: SignatureLedger | undefined;

  constructor(maxEntries = 100_000, ledger?: SignatureLedger, nowSec = Math.floor(Date.now() / 1000)) {
    this.#maxEntries = maxEntries;
    this.#ledger = ledger;
    for (const [mac, expires] of ledger?.alive(nowSec) ?? []) this.#seen.set(mac, expires);
  }

  /** True the first time a signature is seen inside the window; false for a replay. */
  accept(mac: string, timestamp: number, nowSec: number): boolean {
    this.#prune(nowSec);
    if (this.#seen.has(mac)) return false;
    if (this.#seen.size >= this.#maxEntries) {
      // Full of live entries: forget the oldest rather than refuse Alexa's traffic.
      const oldest = this.#seen.keys().next().value;
      if (oldest !== undefined) this.#seen.delete(oldest);
    }
    this.#seen.set(mac, timestamp + MAX_SKEW_SEC);
    this.#ledger?.add(mac, timestamp + MAX_SKEW_SEC);
    return true;
  }

  get size(): number {
    return this.#seen.size;
  }

  #prune(nowSec: number): void {
    this.#ledger?.prune(nowSec);
    // Insertion order is roughly expiry order; stop at the first entry still alive.
    for (const [mac, expires] of this.#seen) {
      if (expires >= nowSec) break;
      this.#seen.delete(mac);
    }
  }
}
