import { Type, type Static } from '@sinclair/typebox';

/**
 * The Alexa smart-home message envelope (payload version 3): the directive schema we validate
 * against, the event types we emit, and pure builders for them.
 */

const NonEmpty = Type.String({ minLength: 1 });

export const ENDPOINT_ID_PATTERN = '^[a-zA-Z0-9_\\-=#;:?@&]{1,256}$';

export const ScopeSchema = Type.Object({ type: Type.Literal('BearerToken'), token: NonEmpty });

export const DirectiveSchema = Type.Object({
  directive: Type.Object({
    header: Type.Object({
      namespace: Type.String({ minLength: 1, maxLength: 128 }),
      name: Type.String({ minLength: 1, maxLength: 128 }),
      messageId: Type.String({ minLength: 1, maxLength: 512 }),
      correlationToken: Type.Optional(NonEmpty),
      payloadVersion: Type.Literal('3'),
    }),
    endpoint: Type.Optional(
      Type.Object({
        scope: Type.Optional(ScopeSchema),
        endpointId: Type.String({ pattern: ENDPOINT_ID_PATTERN }),
        cookie: Type.Optional(Type.Record(Type.String(), Type.String())),
      }),
    ),
    payload: Type.Record(Type.String(), Type.Unknown()),
  }),
});

export type Directive = Static<typeof DirectiveSchema>;
export type DirectiveHeader = Directive['directive']['header'];
export type DirectiveEndpoint = NonNullable<Directive['directive']['endpoint']>;
export type Scope = Static<typeof ScopeSchema>;

export interface EventEndpoint {
  scope?: Scope;
  endpointId: string;
}

export interface StateProperty {
  namespace: string;
  name: string;
  value: unknown;
  timeOfSample: string;
  uncertaintyInMilliseconds: number;
}

export interface AlexaEvent {
  event: {
    header: {
      namespace: string;
      name: string;
      payloadVersion: '3';
      messageId: string;
      correlationToken?: string;
    };
    endpoint?: EventEndpoint;
    payload: Record<string, unknown>;
  };
  context?: { properties: StateProperty[] };
}

/** What a reply needs from the directive it answers; also recoverable from a malformed one. */
export interface ReplyTo {
  correlationToken?: string;
  endpoint?: EventEndpoint;
}

export function replyTo(directive: Directive): ReplyTo {
  const { header, endpoint } = directive.directive;
  return {
    ...(header.correlationToken !== undefined && { correlationToken: header.correlationToken }),
    ...(endpoint && { endpoint: { ...(endpoint.scope && { scope: endpoint.scope }), endpointId: endpoint.endpointId } }),
  };
}

export interface EventOptions {
  namespace: string;
  name: string;
  payload?: Record<string, unknown>;
  context?: { properties: StateProperty[] };
  /** Leave out the endpoint (Discover.Response has none). */
  withoutEndpoint?: boolean;
}

export function buildEvent(messageId: string, to: ReplyTo, options: EventOptions): AlexaEvent {
  const event: AlexaEvent = {
    event: {
      header: {
        namespace: options.namespace,
        name: options.name,
        payloadVersion: '3',
        messageId,
        ...(to.correlationToken !== undefined && { correlationToken: to.correlationToken }),
      },
      ...(to.endpoint && !options.withoutEndpoint && { endpoint: to.endpoint }),
      payload: options.payload ?? {},
    },
  };
  if (options.context) event.context = options.context;
  return event;
}

/**
 * An error a handler throws to answer with an ErrorResponse. `type` is Alexa's error type and
 * doubles as the stable code; `extra` carries type-specific payload fields (currentDeviceMode…).
 */
export class AlexaError extends Error {
  readonly type: string;
  readonly namespace: string;
  readonly extra: Record<string, unknown>;
  constructor(type: string, message: string, options: { namespace?: string; extra?: Record<string, unknown> } = {}) {
    super(message);
    this.name = 'AlexaError';
    this.type = type;
    this.namespace = options.namespace ?? 'Alexa';
    this.extra = options.extra ?? {};
  }
  get code(): string {
    return this.type;
  }
}

export function buildErrorResponse(messageId: string, to: ReplyTo, error: AlexaError): AlexaEvent {
  return buildEvent(messageId, to, {
    namespace: error.namespace,
    name: 'ErrorResponse',
    payload: { type: error.type, message: error.message, ...error.extra },
  });
}

/**
 * Recovers the correlation token and endpoint from a directive that failed validation, keeping
 * only values that would still make a valid reply.
 */
export function salvageReplyTo(body: unknown): ReplyTo {
  const directive = field(body, 'directive');
  const token = field(field(directive, 'header'), 'correlationToken');
  const endpoint = field(directive, 'endpoint');
  const endpointId = field(endpoint, 'endpointId');
  const scope = field(endpoint, 'scope');
  const scopeToken = field(scope, 'token');
  const validScope = field(scope, 'type') === 'BearerToken' && typeof scopeToken === 'string' && scopeToken.length > 0;
  return {
    ...(typeof token === 'string' && token.length > 0 && { correlationToken: token }),
    ...(typeof endpointId === 'string' &&
      new RegExp(ENDPOINT_ID_PATTERN).test(endpointId) && {
        endpoint: { ...(validScope && { scope: { type: 'BearerToken' as const, token: scopeToken } }), endpointId },
      }),
  };
}

function field(value: unknown, key: string): unknown {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>)[key] : undefined;
}

/** Alexa timestamps: ISO 8601 UTC; `wholeSeconds` drops the milliseconds (DoorbellPress). */
export function alexaTimestamp(date: Date, wholeSeconds = false): string {
  const iso = date.toISOString();
  return wholeSeconds ? `${iso.slice(0, 19)}Z` : iso;
}
