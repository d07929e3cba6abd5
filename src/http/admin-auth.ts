import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * `Authorization: Bearer <adminToken>` for the console's API. Compared as SHA-256 digests so the
 * comparison takes the same time whatever the length or content of the guess.
 */
export function adminAuth(adminToken: string) {
  const expected = createHash('sha256').update(adminToken).digest();
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '');
    const given = createHash('sha256').update(match?.[1] ?? '').digest();
    if (!match || !timingSafeEqual(given, expected)) {
      await reply.code(401).header('www-authenticate', 'Bearer realm="porchlight"').send({ error: 'unauthorized', reason: 'the admin token is missing or wrong' });
    }
  };
}
