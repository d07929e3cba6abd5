import { chmodSync, closeSync, copyFileSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parse as parseYaml, stringify } from 'yaml';
import { CodedError } from '../util/coded-error.ts';
import { CameraYamlError, editConfigText, type ConfigEdit } from './camera-yaml.ts';
import { ConfigError, embeddedDemoConfig, validateConfig } from './load.ts';
import type { ConfigFile } from './schema.ts';

/**
 * Edits of the configuration file made by porchlight itself (the console's Add camera panel,
 * `porchlight cameras add`): the YAML is edited as a document, so the user's comments, order and
 * other keys stay; the result is validated like start-up before anything is written; the write
 * is atomic (a temp file renamed over it) and the previous version is kept as `<file>.bak`.
 */

export type { CameraEntry, ConfigEdit } from './camera-yaml.ts';

export type ConfigSaveErrorCode = 'READ_ONLY' | 'INVALID' | 'NOT_FOUND' | 'UNREADABLE';

export class ConfigSaveError extends CodedError<ConfigSaveErrorCode> {
  /** INVALID: `field: reason` lines, as start-up would print them. */
  readonly problems: string[];
  /** READ_ONLY: the YAML to paste by hand. Holds the camera's password: never log it. */
  readonly yaml: string | undefined;

  constructor(code: ConfigSaveErrorCode, message: string, extra: { problems?: string[]; yaml?: string } = {}) {
    super(code, message);
    this.problems = extra.problems ?? [];
    this.yaml = extra.yaml;
  }
}

/** Where an edit is saved: the file the bridge was started with, else `<dataDir>/porchlight.yaml`. */
export function editableConfigPath(configPath: string | undefined, dataDir: string): string {
  return configPath ? resolve(configPath) : join(resolve(dataDir), 'porchlight.yaml');
}

/** The embedded demo's data folder (PORCHLIGHT_DATA_DIR, else the schema's default, from the working directory). */
function defaultDataDir(env: NodeJS.ProcessEnv): string {
  return env.PORCHLIGHT_DATA_DIR || './data';
}

/**
 * The configuration file to use: `--config`, else PORCHLIGHT_CONFIG, else the file an earlier
 * save created in the data folder (the bridge ran the embedded demo then); undefined: the demo.
 */
export function resolveConfigPath(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (flag) return flag;
  if (env.PORCHLIGHT_CONFIG) return env.PORCHLIGHT_CONFIG;
  const saved = editableConfigPath(undefined, defaultDataDir(env));
  return existsSync(saved) ? saved : undefined;
}

export interface SaveOptions {
  /** The file the bridge was started with; undefined when it runs the embedded demo. */
  configPath: string | undefined;
  dataDir: string;
  env?: NodeJS.ProcessEnv;
}

export interface SaveResult {
  path: string;
  /** The file did not exist: the bridge ran the embedded demo, and start-up reads this file from now on. */
  created: boolean;
  config: ConfigFile;
}

/** Makes the edit in the file, validated first; throws ConfigSaveError saying what to do. */
export function saveConfigEdit(edit: ConfigEdit, options: SaveOptions): SaveResult {
  const path = editableConfigPath(options.configPath, options.dataDir);
  const created = !existsSync(path);
  let text: string;
  try {
    text = created ? `# Written by porchlight; edit freely (comments and order are kept).\n${stringify(embeddedDemoConfig())}` : readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigSaveError('UNREADABLE', `cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  let next: string;
  try {
    next = editConfigText(text, edit);
  } catch (err) {
    if (err instanceof CameraYamlError) throw new ConfigSaveError(err.code, err.message);
    throw err;
  }
  let config: ConfigFile;
  try {
    config = validateConfig(parseYaml(next) as Record<string, unknown>, path, dirname(path), options.env);
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigSaveError('INVALID', `the change would make the configuration invalid:\n  ${err.problems.join('\n  ')}`, { problems: err.problems });
    throw err;
  }
  try {
    writeAtomically(path, next, holdsPassword(next) ? 0o600 : created ? 0o644 : statSync(path).mode & 0o777);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EROFS' || code === 'EACCES' || code === 'EPERM') {
      const yaml = edit.kind === 'remove-camera' ? `(remove the camera with id: ${edit.id})` : stringify([edit.camera]);
      throw new ConfigSaveError('READ_ONLY', `${path} cannot be written (${code}: mounted read-only?): make the change by hand and restart, or send SIGHUP`, { yaml });
    }
    throw err;
  }
  return { path, created, config };
}

/** A camera URL with a password in it, or a password/secret key: the file must be private. */
function holdsPassword(text: string): boolean {
  return /:\/\/[^/\s:@]+:[^/\s@]+@/.test(text) || /^\s*(password|proxySecret|adminToken|clientSecret)\s*:/m.test(text);
}

/** Temp file, fsync, previous version to `<file>.bak`, rename: a crash leaves the old file or the new, never half of one. */
function writeAtomically(path: string, text: string, mode: number): void {
  mkdirSync(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.tmp`;
  try {
    const fd = openSync(temporary, 'w', mode);
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    chmodSync(temporary, mode);
    if (existsSync(path)) {
      copyFileSync(path, `${path}.bak`);
      chmodSync(`${path}.bak`, mode & 0o600);
    }
    renameSync(temporary, path);
  } catch (err) {
    rmSync(temporary, { force: true });
    throw err;
  }
}
