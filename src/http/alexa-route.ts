import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { AlexaError, buildErrorResponse, salvageReplyTo, type AlexaEvent } from '../alexa/messages.ts';
import type { Logger } from 'pino';
import { SampledLog } from '../util/sampled-log.ts';
import { ReplayGuard, REPLY_SIGNATURE_HEADER, SIGNATURE_HEADER, signReply, TIMESTAMP_HEADER, verifySignature } from './signature.ts';

export const ALEXA_BODY_LIMIT = 64 * 1024;

export interface AlexaRouteOptions {
  proxySecret: string;
  dispatch: (directive: unknown) => Promise<AlexaEvent>;
  nowSec?: () => number;
  /** Seen signatures, shared by every listener (kept across restarts by its ledger); made here when absent. */
  replays?: ReplayGuard;
}

/**
 * POST /alexa: the Lambda proxy's signed directive → the Alexa event to return. Checks in order:
 * size (413), signature (401, before anything else looks at the body), JSON (400). Past those,
 * every answer is HTTP 200 with a valid Alexa message.
 */
export const alexaRoute: FastifyPluginAsync<AlexaRouteOptions> = async (app: FastifyInstance, options) => {
  const nowSec = options.nowSec ?? (() => Math.floor(Date.now() / 1000));
  const replays = options.replays ?? new ReplayGuard(undefined, undefined, nowSec());
  // Anyone on the internet can post here: one line per reason per minute, with a count.
  const refusals = new SampledLog(app.log as Logger);

  // The signature covers the raw bytes, so this route takes every body unparsed.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: ALEXA_BODY_LIMIT }, (_request, body, done) => done(null, body));

  app.post('/alexa', { bodyLimit: ALEXA_BODY_LIMIT }, async (request, reply) => {
    const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    const now = nowSec();
    const check = verifySignature(
      options.proxySecret,
      { timestamp: header(request.headers[TIMESTAMP_HEADER]), signature: header(request.headers[SIGNATURE_HEADER]), body },
      now,
    );
    if (!check.ok || !replays.accept(check.mac, check.timestamp, now)) {
      const reason = check.ok ? 'replay' : check.reason;
      refusals.warn(reason, { reason }, 'refused an unsigned or badly signed /alexa request');
      return reply.code(401).send({ error: 'unauthorized', reason });
    }
    let directive: unknown;
    try {
      directive = JSON.parse(body.toString('utf8'));
    } catch {
      return reply.code(400).send({ error: 'bad_request', reason: 'the body is not JSON' });
    }
    let event: AlexaEvent;
    try {
      event = await options.dispatch(directive);
    } catch (err) {
      // The dispatcher answers its own failures; this is the last line that keeps the 200 promise.
      request.log.error({ err }, 'dispatch failed');
      event = buildErrorResponse(crypto.randomUUID(), salvageReplyTo(directive), new AlexaError('INTERNAL_ERROR', 'porchlight failed to handle this directive'));
    }
    // Signed over the exact bytes sent, bound to this request's signature.
    const text = JSON.stringify(event);
    return reply.type('application/json; charset=utf-8').header(REPLY_SIGNATURE_HEADER, signReply(options.proxySecret, check.mac, text)).send(text);
  });
};

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
