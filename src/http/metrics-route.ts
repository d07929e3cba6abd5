import type { FastifyPluginAsync } from 'fastify';

export interface MetricsRouteOptions {
  metrics: { text(): Promise<string>; readonly contentType: string };
}

/** GET /metrics: Prometheus text. Unauthenticated like /healthz: counts and states, no secrets. */
export const metricsRoute: FastifyPluginAsync<MetricsRouteOptions> = async (app, options) => {
  app.get('/metrics', async (_request, reply) => reply.type(options.metrics.contentType).header('cache-control', 'no-store').send(await options.metrics.text()));
};
