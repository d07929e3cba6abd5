import { CodedError } from '../util/coded-error.ts';
import { redactSecrets } from '../util/redact.ts';

export type OnvifFailureCode =
  | 'CREDENTIALS'
  | 'NO_EVENT_SERVICE'
  | 'UNREACHABLE'
  | 'TIMEOUT'
  | 'SUBSCRIPTION_LOST'
  | 'FAULT'
  | 'BAD_RESPONSE'
  | 'CLOSED';

export class OnvifError extends CodedError<OnvifFailureCode> {}

export interface OnvifFailure {
  code: OnvifFailureCode;
  /** A sentence for the log, /readyz and the console; never a password. */
  reason: string;
}

const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED']);

/**
 * What went wrong talking to a camera's ONVIF service, from what the `onvif` package hands back
 * (an Error, sometimes with the camera's raw SOAP answer attached as `xml`). Pure.
 */
export function classifyOnvifError(err: unknown): OnvifFailure {
  if (err instanceof OnvifError) return { code: err.code, reason: err.message };
  const error = err as (Error & { code?: string; xml?: string }) | undefined;
  const message = String(error?.message ?? err);
  const xml = typeof error?.xml === 'string' ? error.xml : '';
  // Core spec 5.9.1: a refused WS-Security token is a ter:NotAuthorized fault (HTTP 400);
  // refused HTTP digest is a 401.
  if (/notauthori[sz]ed|not authori[sz]ed|digest authentication failed|unauthori[sz]ed|\b401\b/i.test(`${message} ${xml}`)) {
    return { code: 'CREDENTIALS', reason: 'ONVIF refused the credentials (check onvif.username/password or the RTSP URL\'s)' };
  }
  if (error?.code && UNREACHABLE_CODES.has(error.code)) return { code: 'UNREACHABLE', reason: `the camera's ONVIF service does not answer (${error.code})` };
  if (error?.code === 'ETIMEDOUT' || /network timeout|timed? ?out/i.test(message)) return { code: 'TIMEOUT', reason: 'the camera\'s ONVIF service did not answer in time' };
  if (/ResourceUnknown|InvalidSubscription|UnableToDestroySubscription|subscription.*(unknown|expired|not found)/i.test(`${message} ${xml}`)) {
    return { code: 'SUBSCRIPTION_LOST', reason: 'the camera forgot the event subscription (rebooted or expired)' };
  }
  if (/ActionNotSupported|ActionNotImplemented|OptionalActionNotImplemented/i.test(`${message} ${xml}`)) {
    return { code: 'NO_EVENT_SERVICE', reason: 'the camera does not support ONVIF pull-point events' };
  }
  if (/ONVIF SOAP Fault/i.test(message)) return { code: 'FAULT', reason: `the camera answered with a SOAP fault: ${redactSecrets(message.replace(/^ONVIF SOAP Fault:\s*/i, '')).slice(0, 200)}` };
  if (/Wrong ONVIF SOAP response|Non-whitespace|Unexpected|Invalid character|Unclosed/i.test(message)) {
    return { code: 'BAD_RESPONSE', reason: 'the camera\'s answer is not ONVIF SOAP (is the device service URL right?)' };
  }
  return { code: 'FAULT', reason: redactSecrets(message).slice(0, 200) };
}
