/**
 * `porchlight cameras add`: one camera into the configuration file, validated before it is
 * written (saveConfigEdit). A running bridge watches the file and applies it on its own. With
 * --onvif the camera is inspected first and the stream it chose, confirmed by DESCRIBE, is what
 * gets saved. The password is read from a file and never printed.
 */
import { ConfigSaveError, resolveConfigPath, saveConfigEdit, type CameraEntry } from '../config/config-file.ts';
import { loadConfigFile } from '../config/load.ts';
import { redactSecrets } from '../util/redact.ts';
import { passwordScrubber, readPasswordFile, type CamerasCliIo } from './cameras-cli.ts';
import { inspectOnvifDevice, InspectError } from './inspect.ts';

type Values = Record<string, string | boolean | undefined>;

const NAME = 'porchlight cameras add';

/** porchlight's config expects RTSP credentials inside the URL. Pure. */
export function withCredentials(rtspUrl: string, username: string | undefined, password: string | undefined): string {
  if (username === undefined) return rtspUrl;
  const url = new URL(rtspUrl);
  url.username = encodeURIComponent(username);
  if (password !== undefined) url.password = encodeURIComponent(password);
  return url.toString();
}

export async function camerasAdd(values: Values, io: CamerasCliIo): Promise<number> {
  const id = values.id as string | undefined;
  const name = values.name as string | undefined;
  const kind = (values.kind as string | undefined) ?? 'camera';
  const url = values.url as string | undefined;
  const onvifUrl = values.onvif as string | undefined;
  const username = values.user as string | undefined;
  const passwordFile = values['password-file'] as string | undefined;
  const talkback = values.talkback as string | undefined;
  if (!id || !name) return usage(io, 'give --id and --name');
  if (kind !== 'camera' && kind !== 'doorbell') return usage(io, '--kind must be camera or doorbell');
  if (talkback !== undefined && talkback !== 'onvif' && talkback !== 'none') return usage(io, '--talkback must be onvif or none');
  if ((url === undefined) === (onvifUrl === undefined)) return usage(io, 'give either --url rtsp://… or --onvif http://IP --user U --password-file F');
  if (passwordFile !== undefined && username === undefined) return usage(io, '--password-file needs --user');

  const password = passwordFile === undefined ? undefined : readPasswordFile(io, passwordFile, NAME);
  if (password === null) return 1;
  const scrub = passwordScrubber(password);

  const camera: CameraEntry = { id, name, kind };
  if (url !== undefined) {
    camera.url = url;
  } else {
    try {
      const inspection = await inspectOnvifDevice({ onvifUrl: onvifUrl!, ...(username !== undefined && { username }), ...(password !== undefined && { password }) });
      if (!inspection.confirmed) {
        io.stderr(scrub(`${NAME}: no stream of ${onvifUrl} answered DESCRIBE: run porchlight cameras inspect to see why\n`));
        return 1;
      }
      camera.url = withCredentials(inspection.confirmed.url, username, password);
      camera.onvif = { url: onvifUrl! };
    } catch (err) {
      if (!(err instanceof InspectError)) throw err;
      io.stderr(scrub(`${NAME}: ${err.step}: ${err.message}\n`));
      return 1;
    }
  }
  if (talkback !== undefined) camera.talkback = talkback;

  const configPath = resolveConfigPath(values.config as string | undefined, io.env);
  try {
    const { config } = loadConfigFile(configPath, io.env);
    const result = saveConfigEdit({ kind: 'upsert-camera', camera }, { configPath, dataDir: config.dataDir, env: io.env });
    if (values.json) {
      io.stdout(scrub(`${JSON.stringify({ path: result.path, created: result.created, camera: { ...camera, url: redactSecrets(String(camera.url)) } }, null, 2)}\n`));
    } else {
      io.stdout(scrub(`Saved camera ${id} ("${name}", ${kind}) to ${result.path}${result.created ? ' (a new file: start porchlight with it from now on)' : ''}.\n` +
        'A running bridge watches the file and applies it on its own; no restart needed.\n'));
    }
    return 0;
  } catch (err) {
    // ConfigSaveError's message says what to do; READ_ONLY's .yaml holds the password, so it is not printed.
    io.stderr(scrub(`${NAME}: ${err instanceof ConfigSaveError ? err.message : (err as Error).message}\n`));
    return 1;
  }
}

function usage(io: CamerasCliIo, message: string): number {
  io.stderr(`${NAME}: ${message}\n`);
  return 2;
}
