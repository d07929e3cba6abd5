import { randomUUID } from 'node:crypto';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import type { Logger } from 'pino';
import { fieldName } from '../util/field-name.ts';
import {
  AlexaError,
  buildErrorResponse,
  DirectiveSchema,
  replyTo,
  salvageReplyTo,
  type AlexaEvent,
  type Directive,
} from './messages.ts';
import type { EndpointDirectory } from './ports.ts';

export interface HandlerContext {
  /** A child logger carrying messageId (and endpointId when there is one). */
  log: Logger;
  newMessageId: () => string;
  now: () => Date;
}

export type Handler = (directive: Directive, context: HandlerContext) => AlexaEvent | Promise<AlexaEvent>;

export interface HandlerOptions {
  /** The directive names an endpoint that must exist (all but Discovery and Authorization). */
  endpoint: boolean;
}

export interface DispatcherOptions {
  endpoints: EndpointDirectory;
  log: Logger;
  newMessageId?: () => string;
  now?: () => Date;
}

const directiveCheck = TypeCompiler.Compile(DirectiveSchema);

/**
 * Validates a directive envelope, finds its handler by namespace and name, and turns every
 * failure into an ErrorResponse: the caller always gets a valid Alexa message back.
 */
export class AlexaDispatcher {
  readonly #handlers = new Map<string, { handler: Handler; options: HandlerOptions }>();
  readonly #endpoints: EndpointDirectory;
  readonly #log: Logger;
  readonly #newMessageId: () => string;
  readonly #now: () => Date;

  constructor(options: DispatcherOptions) {
    this.#endpoints = options.endpoints;
    this.#log = options.log;
    this.#newMessageId = options.newMessageId ?? (() => randomUUID());
    this.#now = options.now ?? (() => new Date());
  }

  register(namespace: string, name: string, handler: Handler, options: HandlerOptions): this {
    const key = `${namespace}.${name}`;
    if (this.#handlers.has(key)) throw new Error(`a handler for ${key} is already registered`);
    this.#handlers.set(key, { handler, options });
    return this;
  }

  async dispatch(body: unknown): Promise<AlexaEvent> {
    if (!directiveCheck.Check(body)) {
      const first = directiveCheck.Errors(body).First();
      const where = first ? `${fieldName(first.path, 'body')}: ${first.message.toLowerCase()}` : 'unknown problem';
      this.#log.warn({ problem: where }, 'malformed directive');
      return buildErrorResponse(this.#newMessageId(), salvageReplyTo(body), new AlexaError('INVALID_DIRECTIVE', `malformed directive (${where})`));
    }
    const { header, endpoint } = body.directive;
    const log = this.#log.child({ messageId: header.messageId, ...(endpoint && { endpointId: endpoint.endpointId }) });
    const to = replyTo(body);
    const context: HandlerContext = { log, newMessageId: this.#newMessageId, now: this.#now };
    try {
      const registered = this.#handlers.get(`${header.namespace}.${header.name}`);
      if (!registered) {
        throw new AlexaError('INVALID_DIRECTIVE', `porchlight does not support ${header.namespace}.${header.name}`);
      }
      if (registered.options.endpoint) {
        if (!endpoint) throw new AlexaError('INVALID_DIRECTIVE', `${header.namespace}.${header.name} needs directive.endpoint`);
        if (!this.#endpoints.has(endpoint.endpointId)) {
          throw new AlexaError('NO_SUCH_ENDPOINT', `no camera with endpointId "${endpoint.endpointId}" is configured`);
        }
      }
      log.debug({ namespace: header.namespace, name: header.name }, 'directive');
      return await registered.handler(body, context);
    } catch (err) {
      if (err instanceof AlexaError) {
        log.info({ type: err.type, reason: err.message }, 'directive answered with an error');
        return buildErrorResponse(this.#newMessageId(), to, err);
      }
      log.error({ err }, 'directive handler failed');
      return buildErrorResponse(this.#newMessageId(), to, new AlexaError('INTERNAL_ERROR', 'porchlight failed to handle this directive; see its log'));
    }
  }
}
