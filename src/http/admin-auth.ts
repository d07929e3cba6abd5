import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { SampledLog } from '../util/sampled-log.ts';

/**
 * Checks a presented admin token. Compared as SHA-256 digests so the comparison takes the same
 * time whatever the length or content of the guess.
 */
export function adminTokenCheck(adminToken: string): (given: string | undefined) => boolean {
  const expected = createHash('sha256').update(adminToken).digest();
  return (given) => given !== undefined && timingSafeEqual(createHash('sha256').update(given).digest(), expected);
}

/** The token from `Authorization: Bearer <token>`, if the header has that shape. */
export function bearerToken(authorization: string | undefined): string | undefined {
  return /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '')?.[1];
}

export interface AdminGateOptions {
  /** Wrong tokens from one address within `windowMs` before it is refused with 429. */
  maxFailures?: number;
  windowMs?: number;
  log: Logger;
  now?: () => number;
}

/**
 * The admin token check shared by /api and /api/ws, with what guessing needs to be slow: after
 * `maxFailures` wrong tokens from one address in a window, that address gets 429 until the window
 * ends (right tokens included: a guesser cannot tell). Wrong tokens are logged sampled.
 */
export class AdminGate {
  readonly #matches: (given: string | undefined) => boolean;
  readonly #failures = new Map<string, { since: number; count: number }>();
  readonly #maxFailures: number;
  readonly #windowMs: number;
  readonly #now: () => number;
  readonly #log: SampledLog;

  constructor(adminToken: string, options: AdminGateOptions) {
    this.#matches = adminTokenCheck(adminToken);
    this.#maxFailures = options.maxFailures ?? 10;
    this.#windowMs = options.windowMs ?? 60_000;
    this.#now = options.now ?? Date.now;
    this.#log = new SampledLog(options.log, this.#windowMs, { now: this.#now });
  }

  /** `retryAfterSec` is set when the address is throttled. */
  check(address: string, given: string | undefined): { ok: true } | { ok: false; retryAfterSec?: number } {
    const now = this.#now();
    const entry = this.#failures.get(address);
    if (entry && now - entry.since >= this.#windowMs) this.#failures.delete(address);
    const current = this.#failures.get(address);
    if (current && current.count >= this.#maxFailures) {
      return { ok: false, retryAfterSec: Math.max(1, Math.ceil((current.since + this.#windowMs - now) / 1000)) };
    }
    if (this.#matches(given)) return { ok: true };
    const failed = current ?? { since: now, count: 0 };
    failed.count += 1;
    if (this.#failures.size >= 10_000 && !current) this.#failures.clear();
    this.#failures.set(address, failed);
    this.#log.warn(address, { address, failuresInWindow: failed.count }, given === undefined ? 'admin API request without a token' : 'wrong admin token');
    return { ok: false };
  }

  /** Fastify onRequest hook: 401 for a missing or wrong token, 429 while the address is throttled. */
  hook() {
    return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
      const result = this.check(request.ip, bearerToken(request.headers.authorization));
      if (result.ok) return;
      if (result.retryAfterSec !== undefined) {
        await reply.code(429).header('retry-after', String(result.retryAfterSec)).send({ error: 'too_many_attempts', reason: `too many wrong admin tokens from this address: wait ${result.retryAfterSec} s` });
        return;
      }
      await reply.code(401).header('www-authenticate', 'Bearer realm="porchlight"').send({ error: 'unauthorized', reason: 'the admin token is missing or wrong' });
    };
  }
}

/** `Authorization: Bearer <adminToken>` for the console's API (a gate of its own when none is shared). */
export function adminAuth(gate: AdminGate) {
  return gate.hook();
}
