import { Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { fieldName } from '../util/field-name.ts';
import type { HandlerContext } from './dispatcher.ts';
import { AlexaError, buildEvent, replyTo, type AlexaEvent, type Directive } from './messages.ts';
import { SessionRefused, type RtcSessions, type SessionRefusalCode } from './ports.ts';

/** Alexa.RTCSessionController: InitiateSessionWithOffer, SessionConnected, SessionDisconnected. */

export const NAMESPACE = 'Alexa.RTCSessionController';

const SessionId = Type.String({ minLength: 1, maxLength: 1024 });
const offerPayload = TypeCompiler.Compile(
  Type.Object({
    sessionId: SessionId,
    offer: Type.Object({ format: Type.String({ pattern: '^[Ss][Dd][Pp]$' }), value: Type.String({ minLength: 1, maxLength: 60000 }) }),
  }),
);
const sessionPayload = TypeCompiler.Compile(Type.Object({ sessionId: SessionId }));

const REFUSAL_TYPES: Record<SessionRefusalCode, string> = {
  BUSY: 'ENDPOINT_BUSY',
  BAD_OFFER: 'INVALID_VALUE',
  UNREACHABLE: 'ENDPOINT_UNREACHABLE',
  TIMEOUT: 'INTERNAL_ERROR',
};

function checked<T>(check: { Check(v: unknown): v is T; Errors(v: unknown): { First(): { path: string; message: string } | undefined } }, payload: unknown): T {
  if (check.Check(payload)) return payload;
  const first = check.Errors(payload).First();
  const field = first ? fieldName(first.path, '') : '';
  const where = first ? `payload${field ? `.${field}` : ''}: ${first.message.toLowerCase()}` : 'payload';
  throw new AlexaError('INVALID_DIRECTIVE', `malformed ${NAMESPACE} directive (${where})`);
}

export function initiateSessionHandler(sessions: RtcSessions) {
  return async (directive: Directive, context: HandlerContext): Promise<AlexaEvent> => {
    const { sessionId, offer } = checked(offerPayload, directive.directive.payload);
    const cameraId = directive.directive.endpoint!.endpointId;
    let answer: string;
    try {
      answer = await sessions.offer({ sessionId, cameraId, offerSdp: offer.value });
    } catch (err) {
      if (err instanceof SessionRefused) throw new AlexaError(REFUSAL_TYPES[err.code], err.message);
      throw err;
    }
    context.log.info({ sessionId }, 'answer generated');
    return buildEvent(context.newMessageId(), replyTo(directive), {
      namespace: NAMESPACE,
      name: 'AnswerGeneratedForSession',
      payload: { answer: { format: 'SDP', value: answer } },
    });
  };
}

export function sessionConnectedHandler(sessions: RtcSessions) {
  return (directive: Directive, context: HandlerContext): AlexaEvent => {
    const { sessionId } = checked(sessionPayload, directive.directive.payload);
    if (!sessions.connected(sessionId)) {
      throw new AlexaError('INVALID_VALUE', `no live session "${sessionId}": it ended or was never offered`);
    }
    return buildEvent(context.newMessageId(), replyTo(directive), { namespace: NAMESPACE, name: 'SessionConnected', payload: { sessionId } });
  };
}

export function sessionDisconnectedHandler(sessions: RtcSessions) {
  return async (directive: Directive, context: HandlerContext): Promise<AlexaEvent> => {
    const { sessionId } = checked(sessionPayload, directive.directive.payload);
    await sessions.disconnect(sessionId);
    return buildEvent(context.newMessageId(), replyTo(directive), { namespace: NAMESPACE, name: 'SessionDisconnected', payload: { sessionId } });
  };
}
