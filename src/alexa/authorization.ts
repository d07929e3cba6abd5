import { Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import type { HandlerContext } from './dispatcher.ts';
import { AlexaError, buildEvent, replyTo, type AlexaEvent, type Directive } from './messages.ts';
import type { AccountLinking } from './ports.ts';

export const NAMESPACE = 'Alexa.Authorization';

const acceptGrantPayload = TypeCompiler.Compile(
  Type.Object({
    grant: Type.Object({ type: Type.Literal('OAuth2.AuthorizationCode'), code: Type.String({ minLength: 1, maxLength: 4096 }) }),
    grantee: Type.Object({ type: Type.Literal('BearerToken'), token: Type.String({ minLength: 1 }) }),
  }),
);

const failed = (message: string) => new AlexaError('ACCEPT_GRANT_FAILED', message, { namespace: NAMESPACE });

/** AcceptGrant: the user linked the skill; trade the grant code for event-gateway tokens. */
export function acceptGrantHandler(linking: AccountLinking) {
  return async (directive: Directive, context: HandlerContext): Promise<AlexaEvent> => {
    if (!acceptGrantPayload.Check(directive.directive.payload)) {
      throw failed('malformed AcceptGrant: payload.grant.code and payload.grantee.token are required');
    }
    try {
      await linking.acceptGrant(directive.directive.payload.grant.code);
    } catch (err) {
      context.log.warn({ reason: (err as Error).message }, 'AcceptGrant failed');
      throw failed(`porchlight could not obtain event tokens: ${(err as Error).message}`);
    }
    return buildEvent(context.newMessageId(), replyTo(directive), { namespace: NAMESPACE, name: 'AcceptGrant.Response' });
  };
}
