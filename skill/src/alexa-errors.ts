/**
 * The ErrorResponse the Lambda answers with when the bridge cannot: Alexa must never get silence
 * or a Lambda crash. Duplicates the error-reply part of src/alexa/messages.ts on purpose: the
 * Lambda is bundled from skill/src/ alone and may not import the bridge's code.
 */
import { randomUUID } from 'node:crypto';
import { field } from './json-fields.ts';

/** Alexa's pattern for endpointId: an id that does not match it is left out rather than echoed. */
const ENDPOINT_ID = /^[a-zA-Z0-9_\-=#;:?@&]{1,256}$/;

/**
 * An ErrorResponse answering `event`: its correlationToken and endpoint (scope + endpointId) when
 * they are valid, a fresh messageId. AcceptGrant has its own error (Alexa.Authorization,
 * ACCEPT_GRANT_FAILED) — Alexa's schema allows nothing else there.
 */
export function errorResponse(event: unknown, type: string, message: string): object {
  const directive = field(event, 'directive');
  const header = field(directive, 'header');
  const token = field(header, 'correlationToken');
  const endpoint = field(directive, 'endpoint');
  const endpointId = field(endpoint, 'endpointId');
  const scope = field(endpoint, 'scope');
  const scopeToken = field(scope, 'token');
  const authorization = field(header, 'namespace') === 'Alexa.Authorization';
  return {
    event: {
      header: {
        namespace: authorization ? 'Alexa.Authorization' : 'Alexa',
        name: 'ErrorResponse',
        payloadVersion: '3',
        messageId: randomUUID(),
        ...(typeof token === 'string' && token.length > 0 && { correlationToken: token }),
      },
      ...(typeof endpointId === 'string' && ENDPOINT_ID.test(endpointId) && {
        endpoint: {
          ...(field(scope, 'type') === 'BearerToken' && typeof scopeToken === 'string' && scopeToken.length > 0 && { scope: { type: 'BearerToken', token: scopeToken } }),
          endpointId,
        },
      }),
      payload: { type: authorization ? 'ACCEPT_GRANT_FAILED' : type, message },
    },
  };
}
