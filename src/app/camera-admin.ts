/**
 * What the camera onboarding API (http/camera-admin-routes.ts) does: discovery and inspection
 * from onboarding/, edits saved to the configuration file (saveConfigEdit, validated first) and
 * then applied to the running bridge (App.reloadConfig). Passwords stay out of every answer.
 */
import { ConfigSaveError, saveConfigEdit, type ConfigEdit } from '../config/config-file.ts';
import { EMBEDDED_SOURCE } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import type { CameraAdmin, CameraSaveOutcome, InspectRequest } from '../http/camera-admin-routes.ts';
import { configuredHosts } from '../onboarding/cameras-cli.ts';
import { discoverOnvifDevices, discoveryAddresses } from '../onboarding/discovery.ts';
import { inspectOnvifDevice, InspectError } from '../onboarding/inspect.ts';
import { findRtspPath } from '../onboarding/rtsp-paths.ts';
import { redactSecrets } from '../util/redact.ts';
import type { ReloadResult } from './config-reloader.ts';

export interface CameraAdminDeps {
  /** The running configuration (it changes on every reload). */
  config: () => Config;
  reload: () => Promise<ReloadResult>;
}

export function cameraAdmin(deps: CameraAdminDeps): CameraAdmin {
  return {
    discover: (seconds) => {
      const config = deps.config();
      return discoverOnvifDevices({ listenMs: seconds * 1000, interfaceAddresses: discoveryAddresses(config.webrtc.hostAddresses), configured: configuredHosts(config.cameras) });
    },
    inspect: (request) => inspect(request),
    save: (edit, adding) => save(deps, edit, adding ?? false),
  };
}

/** The camera's password out of a text (and any user:password@ in URLs). */
function scrubber(password: string | undefined): (text: string) => string {
  return (text) => redactSecrets(password ? text.split(password).join('***') : text);
}

async function inspect(request: InspectRequest): Promise<unknown> {
  const credentials = { ...(request.username !== undefined && { username: request.username }), ...(request.password !== undefined && { password: request.password }) };
  const scrub = scrubber(request.password);
  if (request.onvifUrl !== undefined) {
    try {
      return await inspectOnvifDevice({ onvifUrl: request.onvifUrl, ...credentials });
    } catch (err) {
      if (err instanceof InspectError) return { failed: { code: err.code, step: err.step, reason: scrub(err.message) } };
      // A URL that does not parse, and the like: the caller's mistake, said without the password.
      return { failed: { code: 'BAD_REQUEST', step: 'request', reason: scrub((err as Error).message) } };
    }
  }
  const { host, port } = hostAndPort(request.rtspHost ?? '');
  return findRtspPath({ host, ...(port !== undefined && { port }), ...credentials });
}

/** IP, IP:port, [v6]:port or a bare IPv6 address. */
function hostAndPort(value: string): { host: string; port?: number } {
  const bracketed = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(value);
  if (bracketed) return { host: bracketed[1]!, ...(bracketed[2] && { port: Number(bracketed[2]) }) };
  const match = value.split(':').length === 2 ? /^(.+):(\d{1,5})$/.exec(value) : null;
  return match ? { host: match[1]!, port: Number(match[2]) } : { host: value };
}

async function save(deps: CameraAdminDeps, edit: ConfigEdit, adding: boolean): Promise<CameraSaveOutcome> {
  const config = deps.config();
  if (adding && edit.kind === 'upsert-camera' && config.cameras.some((c) => c.id === edit.camera.id)) {
    return { ok: false, status: 409, body: { error: 'exists', reason: `a camera "${edit.camera.id}" exists: edit it with PUT /api/cameras/${edit.camera.id}` } };
  }
  let saved;
  try {
    saved = saveConfigEdit(edit, { configPath: config.source === EMBEDDED_SOURCE ? undefined : config.source, dataDir: config.dataDir });
  } catch (err) {
    if (!(err instanceof ConfigSaveError)) throw err;
    switch (err.code) {
      case 'INVALID':
        return { ok: false, status: 400, body: { error: 'invalid', problems: err.problems.length > 0 ? err.problems : [err.message] } };
      case 'READ_ONLY':
        return { ok: false, status: 409, body: { error: 'read_only', reason: err.message, yaml: err.yaml ?? '' } };
      case 'NOT_FOUND':
        return { ok: false, status: 404, body: { error: 'not_found', reason: err.message } };
      default:
        return { ok: false, status: 422, body: { error: 'unreadable', reason: err.message } };
    }
  }
  const applied = await deps.reload();
  if (!applied.ok) return { ok: false, status: 500, body: { error: 'reload_failed', problems: applied.problems } };
  return { ok: true, path: saved.path, created: saved.created, changes: applied.changes };
}
