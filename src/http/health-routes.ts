import type { FastifyPluginAsync } from 'fastify';
import { bearerToken, type AdminGate } from './admin-auth.ts';

export interface ReadinessReport {
  ready: boolean;
  /** Named checks, each with `ok` and whatever detail helps someone fix it. */
  checks: Record<string, { ok: boolean } & Record<string, unknown>>;
}

export interface HealthRoutesOptions {
  readiness: () => ReadinessReport;
  /** The admin token check: its holder gets the detail. */
  adminGate?: AdminGate;
}

const readinessSchema = {
  type: 'object',
  properties: {
    ready: { type: 'boolean' },
    checks: { type: 'object', additionalProperties: { type: 'object', additionalProperties: true } },
  },
} as const;

/**
 * GET /healthz (the process answers) and GET /readyz (it can do its job). /readyz says ready or
 * not to anyone; its detail (config path, ffmpeg build, per-camera reasons, Alexa link state)
 * only with the admin token.
 */
export const healthRoutes: FastifyPluginAsync<HealthRoutesOptions> = async (app, options) => {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: { response: { 200: readinessSchema, 503: readinessSchema } } }, async (request, reply) => {
    const report = options.readiness();
    const given = bearerToken(request.headers.authorization);
    const detail = given !== undefined && options.adminGate?.check(request.ip, given).ok === true;
    return reply.code(report.ready ? 200 : 503).send(detail ? report : { ready: report.ready });
  });
};
