import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';

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

/** `Authorization: Bearer <adminToken>` for the console's API. */
export function adminAuth(adminToken: string) {
  const matches = adminTokenCheck(adminToken);
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (!matches(bearerToken(request.headers.authorization))) {
      await reply.code(401).header('www-authenticate', 'Bearer realm="porchlight"').send({ error: 'unauthorized', reason: 'the admin token is missing or wrong' });
    }
  };
}
