/**
 * The HMAC the bridge's `POST /alexa` checks. Duplicates src/http/signature.ts on purpose: the
 * Lambda is bundled from skill/src/ alone and may not import the bridge's code.
 */
import { createHmac } from 'node:crypto';

/** Headers signing `body` (the exact bytes sent) with the bridge's proxy secret, stamped now. */
export function signatureHeaders(secret: string, body: string): Record<string, string> {
  const timestamp = Math.floor(Date.now() / 1000);
  const mac = createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex');
  return { 'x-porchlight-timestamp': String(timestamp), 'x-porchlight-signature': `v1=${mac}` };
}
