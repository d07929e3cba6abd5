import type { FastifyPluginAsync } from 'fastify';
import type { Logger } from 'pino';
import { AdminGate, adminAuth } from './admin-auth.ts';
import { cameraAdminRoutes, type CameraAdmin } from './camera-admin-routes.ts';

export type DoorbellOutcome = 'queued' | 'folded' | 'not-configured' | 'not-a-doorbell' | 'unknown-camera';

export type MotionOutcome = 'unknown-camera' | 'no-motion-sensor' | { detectionState: 'DETECTED' | 'NOT_DETECTED'; changed: boolean };

export interface ApiRoutesOptions {
  adminToken: string;
  /** Shared with the console's routes, so wrong tokens count together; made here when absent. */
  adminGate?: AdminGate;
  pressDoorbell: (cameraId: string) => DoorbellOutcome;
  reportMotion: (cameraId: string, detected: boolean) => MotionOutcome;
  /** Finding, inspecting, adding, editing and removing cameras; absent: those routes are not served. */
  cameraAdmin?: CameraAdmin;
}

const cameraParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,256}$' } },
} as const;

const motionBody = {
  type: 'object',
  required: ['detected'],
  additionalProperties: false,
  properties: { detected: { type: 'boolean' } },
} as const;

/** /api/*: the console's API, every route behind the admin token. */
export const apiRoutes: FastifyPluginAsync<ApiRoutesOptions> = async (app, options) => {
  app.addHook('onRequest', adminAuth(options.adminGate ?? new AdminGate(options.adminToken, { log: app.log as Logger })));

  app.post<{ Params: { id: string } }>('/api/cameras/:id/doorbell', { schema: { params: cameraParams } }, async (request, reply) => {
    const outcome = options.pressDoorbell(request.params.id);
    switch (outcome) {
      case 'unknown-camera':
        return reply.code(404).send({ error: 'not_found', reason: `no camera "${request.params.id}"` });
      case 'not-a-doorbell':
        return reply.code(400).send({ error: 'not_a_doorbell', reason: `camera "${request.params.id}" is not configured with kind: doorbell` });
      case 'not-configured':
        return reply.code(409).send({ error: 'alexa_not_configured', reason: 'set alexa.clientId and alexa.clientSecret to send doorbell presses to Alexa' });
      default:
        // Folded presses are still a success for the caller: Alexa hears about the ring once.
        return reply.code(202).send({ status: outcome });
    }
  });

  app.post<{ Params: { id: string }; Body: { detected: boolean } }>(
    '/api/cameras/:id/motion',
    { schema: { params: cameraParams, body: motionBody } },
    async (request, reply) => {
      const outcome = options.reportMotion(request.params.id, request.body.detected);
      if (outcome === 'unknown-camera') return reply.code(404).send({ error: 'not_found', reason: `no camera "${request.params.id}"` });
      if (outcome === 'no-motion-sensor') {
        return reply.code(400).send({ error: 'no_motion_sensor', reason: `camera "${request.params.id}" has no motion sensor: set motion: true in its config` });
      }
      return reply.code(202).send(outcome);
    },
  );

  if (options.cameraAdmin) cameraAdminRoutes(app, options.cameraAdmin);
};
