/**
 * The API the console's "Add camera" panel will use, behind the admin token (registered inside
 * apiRoutes): find and inspect cameras, and add, edit or remove one in the configuration file.
 * What the routes do is given to them (src/app/camera-admin.ts): http/ knows no App. Bodies are
 * never logged: they carry camera passwords.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { CameraEntry, ConfigEdit } from '../config/config-file.ts';

export interface InspectRequest {
  onvifUrl?: string;
  rtspHost?: string;
  username?: string;
  password?: string;
}

/** An inspection that failed: 422 with these (the reason never holds the password). */
export interface InspectFailure {
  failed: { code: string; step: string; reason: string };
}

export type CameraSaveOutcome =
  | { ok: true; path: string; created: boolean; changes: unknown }
  | { ok: false; status: 400; body: { error: 'invalid'; problems: string[] } }
  | { ok: false; status: 404; body: { error: 'not_found'; reason: string } }
  | { ok: false; status: 409; body: { error: 'read_only'; reason: string; yaml: string } | { error: 'exists'; reason: string } }
  | { ok: false; status: 422; body: { error: 'unreadable'; reason: string } }
  | { ok: false; status: 500; body: { error: 'reload_failed'; problems: string[] } };

export interface CameraAdmin {
  /** WS-Discovery for this long; devices at a configured camera's host are marked configured. */
  discover: (seconds: number) => Promise<unknown>;
  inspect: (request: InspectRequest) => Promise<unknown | InspectFailure>;
  /** Saves the edit to the configuration file, then applies it to the running bridge; `adding`: refused when the id is taken. */
  save: (edit: ConfigEdit, adding?: boolean) => Promise<CameraSaveOutcome>;
}

const cameraId = { type: 'string', pattern: '^[A-Za-z0-9_-]{1,256}$' } as const;

const discoverBody = {
  type: ['object', 'null'],
  additionalProperties: false,
  properties: { seconds: { type: 'number', minimum: 1, maximum: 60 } },
} as const;

const inspectBody = {
  type: 'object',
  additionalProperties: false,
  anyOf: [{ required: ['onvifUrl'] }, { required: ['rtspHost'] }],
  properties: {
    onvifUrl: { type: 'string', minLength: 1, maxLength: 2048 },
    rtspHost: { type: 'string', minLength: 1, maxLength: 300 },
    username: { type: 'string', maxLength: 256 },
    password: { type: 'string', maxLength: 256 },
  },
} as const;

/** The camera config keys, lightly: the configuration's own validation does the rest (and names the field). */
const cameraBody = {
  type: 'object',
  required: ['id', 'name'],
  properties: {
    id: cameraId,
    name: { type: 'string', minLength: 1, maxLength: 256 },
    kind: { type: 'string', enum: ['camera', 'doorbell'] },
    url: { type: 'string', minLength: 1, maxLength: 2048 },
    onvif: {},
    talkback: {},
    motion: {},
    mqtt: { type: 'object' },
  },
} as const;

const cameraParams = { type: 'object', required: ['id'], properties: { id: cameraId } } as const;

const DEFAULT_SECONDS = 3;

export function cameraAdminRoutes(app: FastifyInstance, admin: CameraAdmin): void {
  app.post<{ Body: { seconds?: number } | null }>('/api/onboarding/discover', { schema: { body: discoverBody } }, async (request) =>
    admin.discover(request.body?.seconds ?? DEFAULT_SECONDS));

  app.post<{ Body: InspectRequest }>('/api/onboarding/inspect', { schema: { body: inspectBody } }, async (request, reply) => {
    const result = await admin.inspect(request.body);
    if (result && typeof result === 'object' && 'failed' in result) {
      const { code, step, reason } = (result as InspectFailure).failed;
      return reply.code(422).send({ error: code, step, reason });
    }
    return result;
  });

  const answer = async (outcome: CameraSaveOutcome, success: number, reply: FastifyReply) => {
    if (!outcome.ok) return reply.code(outcome.status).send(outcome.body);
    if (success === 204) return reply.code(204).send();
    return reply.code(success).send({ path: outcome.path, created: outcome.created, changes: outcome.changes });
  };

  app.post<{ Body: CameraEntry }>('/api/cameras', { schema: { body: cameraBody } }, async (request, reply) =>
    answer(await admin.save({ kind: 'upsert-camera', camera: request.body }, true), 201, reply));

  app.put<{ Params: { id: string }; Body: CameraEntry }>('/api/cameras/:id', { schema: { params: cameraParams, body: cameraBody } }, async (request, reply) =>
    answer(await admin.save({ kind: 'upsert-camera', camera: request.body, replaces: request.params.id }), 200, reply));

  app.delete<{ Params: { id: string } }>('/api/cameras/:id', { schema: { params: cameraParams } }, async (request, reply) =>
    answer(await admin.save({ kind: 'remove-camera', id: request.params.id }), 204, reply));
}
