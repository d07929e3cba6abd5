/**
 * The HMAC the bridge's `POST /alexa` checks. Duplicates src/signing/signature.ts on purpose: the
 * Lambda is bundled from skill/src/ alone and may not import the bridge's code.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const REPLY_SIGNATURE_HEADER = 'x-porchlight-reply-signature';

/** Headers signing `body` (the exact bytes sent) with the bridge's proxy secret, stamped now; `mac` for checking the reply. */
export function signatureHeaders(secret: string, body: string): { headers: Record<string, string>; mac: string } {
  const timestamp = Math.floor(Date.now() / 1000);
  const mac = createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex');
  return { headers: { 'x-porchlight-timestamp': String(timestamp), 'x-porchlight-signature': `v1=${mac}` }, mac };
}

/** Whether the bridge signed `body` as its answer to the request signed `requestMac` (constant time). */
export function replySignedByBridge(secret: string, requestMac: string, body: string, header: string | undefined): boolean {
  const given = /^v1=([0-9a-f]{64})$/i.exec(header?.trim() ?? '')?.[1];
  if (!given) return false;
  const expected = createHmac('sha256', secret).update(`${requestMac}.`).update(body).digest();
  return timingSafeEqual(expected, Buffer.from(given, 'hex'));
}
