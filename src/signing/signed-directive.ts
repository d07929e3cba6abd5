import type { Logger } from 'pino';
import { AlexaError, buildErrorResponse, salvageReplyTo, type AlexaEvent } from '../alexa/messages.ts';
import { signReply, verifySignature, type ReplayGuard, type SignedRequest } from './signature.ts';

/**
 * One signed directive from the skill Lambda, whichever way it came (POST /alexa or the relay):
 * verify → replay → parse → dispatch → fallback ErrorResponse → sign. Both transports run this
 * same sequence; each only maps the outcome onto its own wire.
 */

export interface SignedDirectiveOptions {
  proxySecret: string;
  /** Shared by every transport: a directive seen on one is a replay on the other. */
  replays: ReplayGuard;
  dispatch: (directive: unknown) => Promise<AlexaEvent>;
  log: Logger;
}

/** The reply and the bridge's signature on it, bound to the request's signature. */
export interface SignedReply {
  text: string;
  signature: string;
}

export type SignedDirectiveOutcome =
  /** Unsigned, forged, stale, from the future, or replayed: nothing is answered. */
  | { kind: 'refused'; reason: string }
  /** Signed but not JSON: HTTP answers 400; the relay sends `reply` (INVALID_DIRECTIVE). */
  | { kind: 'not-json'; reply: SignedReply }
  | { kind: 'answered'; reply: SignedReply };

export async function handleSignedDirective(options: SignedDirectiveOptions, request: SignedRequest, nowSec: number): Promise<SignedDirectiveOutcome> {
  const check = verifySignature(options.proxySecret, request, nowSec);
  if (!check.ok) return { kind: 'refused', reason: check.reason };
  if (!options.replays.accept(check.mac, check.timestamp, nowSec)) return { kind: 'refused', reason: 'replay' };
  const sign = (event: AlexaEvent): SignedReply => {
    // Signed over the exact bytes sent.
    const text = JSON.stringify(event);
    return { text, signature: signReply(options.proxySecret, check.mac, text) };
  };
  let directive: unknown;
  try {
    directive = JSON.parse(request.body.toString('utf8'));
  } catch {
    return { kind: 'not-json', reply: sign(buildErrorResponse(crypto.randomUUID(), salvageReplyTo(undefined), new AlexaError('INVALID_DIRECTIVE', 'the directive is not JSON'))) };
  }
  let event: AlexaEvent;
  try {
    event = await options.dispatch(directive);
  } catch (err) {
    // The dispatcher answers its own failures; this is the last line that keeps every answer a valid Alexa message.
    options.log.error({ err }, 'dispatch failed');
    event = buildErrorResponse(crypto.randomUUID(), salvageReplyTo(directive), new AlexaError('INTERNAL_ERROR', 'porchlight failed to handle this directive'));
  }
  return { kind: 'answered', reply: sign(event) };
}
