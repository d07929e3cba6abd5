import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import type { Logger } from 'pino';
import type { AlexaEvent } from '../alexa/messages.ts';
import { handleSignedDirective } from '../signing/signed-directive.ts';
import { ReplayGuard, REPLY_SIGNATURE_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER } from '../signing/signature.ts';
import { SampledLog } from '../util/sampled-log.ts';

export const ALEXA_BODY_LIMIT = 64 * 1024;

export interface AlexaRouteOptions {
  proxySecret: string;
  dispatch: (directive: unknown) => Promise<AlexaEvent>;
  nowSec?: () => number;
  /** Seen signatures, shared by every listener (kept across restarts by its ledger); made here when absent. */
  replays?: ReplayGuard;
}

/**
 * POST /alexa: the Lambda proxy's signed directive → the Alexa event to return
 * (signing/signed-directive.ts, shared with the relay). Checks in order: size (413), signature
 * (401, before anything else looks at the body), JSON (400). Past those, every answer is HTTP 200
 * with a valid Alexa message.
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
    const outcome = await handleSignedDirective(
      { proxySecret: options.proxySecret, replays, dispatch: options.dispatch, log: request.log as Logger },
      { timestamp: header(request.headers[TIMESTAMP_HEADER]), signature: header(request.headers[SIGNATURE_HEADER]), body },
      nowSec(),
    );
    switch (outcome.kind) {
      case 'refused':
        refusals.warn(outcome.reason, { reason: outcome.reason }, 'refused an unsigned or badly signed /alexa request');
        return reply.code(401).send({ error: 'unauthorized', reason: outcome.reason });
      case 'not-json':
        return reply.code(400).send({ error: 'bad_request', reason: 'the body is not JSON' });
      case 'answered':
        return reply.type('application/json; charset=utf-8').header(REPLY_SIGNATURE_HEADER, outcome.reply.signature).send(outcome.reply.text);
    }
  });
};

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
