import type { FastifyPluginAsync } from 'fastify';

export interface ReadinessReport {
  ready: boolean;
  /** Named checks, each with `ok` and whatever detail helps someone fix it. */
  checks: Record<string, { ok: boolean } & Record<string, unknown>>;
}

export interface HealthRoutesOptions {
  readiness: () => ReadinessReport;
}

const readinessSchema = {
  type: 'object',
  properties: {
    ready: { type: 'boolean' },
    checks: { type: 'object', additionalProperties: { type: 'object', additionalProperties: true } },
  },
} as const;

/** GET /healthz (the process answers) and GET /readyz (it can do its job). No auth: no secrets here. */
export const healthRoutes: FastifyPluginAsync<HealthRoutesOptions> = async (app, options) => {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: { response: { 200: readinessSchema, 503: readinessSchema } } }, async (_request, reply) => {
    const report = options.readiness();
    return reply.code(report.ready ? 200 : 503).send(report);
  });
};
