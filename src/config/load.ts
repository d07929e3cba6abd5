import { readFileSync } from 'node:fs';
import { loadRelayCredentials } from './relay-credentials.ts';
import { isIP, isIPv4 } from 'node:net';
import { dirname, isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Value } from '@sinclair/typebox/value';
import { ValueErrorType, type ValueError } from '@sinclair/typebox/errors';
import type { TSchema } from '@sinclair/typebox';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { fieldName } from '../util/field-name.ts';
import { ConfigSchema, customMessage, type ConfigFile } from './schema.ts';

/** Thrown when the configuration cannot be used; `problems` are `field: reason` lines. */
export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  readonly problems: string[];
  constructor(source: string, problems: string[]) {
    super(`invalid configuration (${source}):\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const DEMO_CLIP = resolve(PACKAGE_ROOT, 'media/demo.mp4');
export const EMBEDDED_SOURCE = 'embedded demo';

export interface LoadedConfigFile {
  config: ConfigFile;
  source: string;
}

export function embeddedDemoConfig(): Record<string, unknown> {
  return { cameras: [{ id: 'demo', name: 'Demo Camera', kind: 'camera', url: `file:${DEMO_CLIP}` }] };
}

/**
 * Reads, validates and normalises a configuration: the YAML file when `path` is given, else the
 * embedded demo; then env overrides. Relative paths in a file are relative to that file's folder.
 * Collects every problem before throwing, so one run of check-config shows them all.
 */
export function loadConfigFile(path: string | undefined, env: NodeJS.ProcessEnv = process.env): LoadedConfigFile {
  const source = path ? resolve(path) : EMBEDDED_SOURCE;
  const raw = path ? readYaml(source) : embeddedDemoConfig();
  return { config: validateConfig(raw, source, path ? dirname(source) : process.cwd(), env), source };
}

/**
 * Validates and normalises a configuration read from `source` (defaults, env overrides, paths
 * relative to `baseDir`): what start-up does, and what an edit is checked with before it is saved.
 */
export function validateConfig(raw: Record<string, unknown>, source: string, baseDir: string, env: NodeJS.ProcessEnv = process.env): ConfigFile {
  raw = structuredClone(raw);
  const problems: string[] = [];
  applyEnvOverrides(raw, env, problems);
  const withDefaults = Value.Default(ConfigSchema, structuredClone(raw)) as unknown;
  problems.push(...schemaProblems(withDefaults));
  if (problems.length > 0) throw new ConfigError(source, problems);
  const config = withDefaults as ConfigFile;
  problems.push(...semanticProblems(config));
  if (problems.length > 0) throw new ConfigError(source, problems);
  const resolved = resolvePaths(config, baseDir, env);
  // The relay's files are checked now, so check-config and start-up name a wrong one.
  if (resolved.relay) problems.push(...relayProblems(resolved.relay));
  if (problems.length > 0) throw new ConfigError(source, problems);
  return resolved;
}

function relayProblems(relay: NonNullable<ConfigFile['relay']>): string[] {
  if (!isUrl(relay.url)) return ['relay.url: is not a valid URL (expected mqtts://<endpoint>:8883)'];
  return loadRelayCredentials(relay).problems;
}

function readYaml(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(path, [`config: cannot read the file (${(err as NodeJS.ErrnoException).code ?? String(err)})`]);
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (err) {
    const where = err instanceof YAMLParseError && err.linePos ? ` at line ${err.linePos[0].line}` : '';
    throw new ConfigError(path, [`config: YAML syntax error${where}: ${(err as Error).message.split('\n')[0]}`]);
  }
  if (parsed === null || parsed === undefined) throw new ConfigError(path, ['config: the file is empty']);
  if (typeof parsed !== 'object' || Array.isArray(parsed)) throw new ConfigError(path, ['config: must be a YAML mapping (key: value)']);
  return parsed as Record<string, unknown>;
}

const ENV_OVERRIDES: ReadonlyArray<{ name: string; section?: 'server'; key: string; integer?: boolean }> = [
  { name: 'PORCHLIGHT_HOST', section: 'server', key: 'host' },
  { name: 'PORCHLIGHT_PORT', section: 'server', key: 'port', integer: true },
  { name: 'PORCHLIGHT_PROXY_SECRET', section: 'server', key: 'proxySecret' },
  { name: 'PORCHLIGHT_ADMIN_TOKEN', section: 'server', key: 'adminToken' },
  { name: 'PORCHLIGHT_DATA_DIR', key: 'dataDir' },
];

function applyEnvOverrides(raw: Record<string, unknown>, env: NodeJS.ProcessEnv, problems: string[]): void {
  for (const { name, section, key, integer } of ENV_OVERRIDES) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    if (integer && !/^\d{1,5}$/.test(value)) {
      problems.push(`${name}: must be a whole number from 0 to 65535`);
      continue;
    }
    const target = section ? objectAt(raw, section) : raw;
    target[key] = integer ? Number(value) : value;
  }
}

function objectAt(raw: Record<string, unknown>, key: string): Record<string, unknown> {
  const existing = raw[key];
  if (existing && typeof existing === 'object' && !Array.isArray(existing)) return existing as Record<string, unknown>;
  const created: Record<string, unknown> = {};
  raw[key] = created;
  return created;
}

/**
 * Schema errors; a union with a mapping branch (`onvif: true | { url, … }`) given a mapping
 * reports that branch's own errors, which name the field inside it.
 */
function* schemaErrors(schema: TSchema, value: unknown, basePath = ''): Generator<ValueError> {
  for (const error of Value.Errors(schema, value)) {
    const branch = (error.schema as { anyOf?: TSchema[] }).anyOf?.find((candidate) => candidate.type === 'object');
    if (error.type === ValueErrorType.Union && branch && error.value && typeof error.value === 'object' && !Array.isArray(error.value)) {
      yield* schemaErrors(branch, error.value, basePath + error.path);
    } else {
      yield { ...error, path: basePath + error.path };
    }
  }
}

function schemaProblems(value: unknown): string[] {
  const seen = new Map<string, string>();
  for (const error of schemaErrors(ConfigSchema, value)) {
    const field = fieldName(error.path);
    if (seen.has(field) || [...seen.keys()].some((parent) => parent !== 'config' && field.startsWith(`${parent}.`))) continue;
    let reason: string;
    if (error.type === ValueErrorType.ObjectRequiredProperty) reason = 'is required';
    else if (error.type === ValueErrorType.ObjectAdditionalProperties) reason = 'is not a known setting (check the spelling)';
    else if (error.type === ValueErrorType.Object) reason = 'must be a mapping (key: value)';
    else reason = customMessage(error.schema) ?? error.message.toLowerCase();
    seen.set(field, reason);
  }
  return [...seen].map(([field, reason]) => `${field}: ${reason}`);
}

function semanticProblems(config: ConfigFile): string[] {
  const problems: string[] = [];
  const firstIndex = new Map<string, number>();
  config.cameras.forEach((camera, i) => {
    const earlier = firstIndex.get(camera.id);
    if (earlier !== undefined) problems.push(`cameras[${i}].id: "${camera.id}" is already used by cameras[${earlier}]`);
    else firstIndex.set(camera.id, i);
    if (!camera.url.startsWith('file:')) {
      let host = '';
      try {
        host = new URL(camera.url).hostname;
      } catch {
        /* reported below */
      }
      if (!host) problems.push(`cameras[${i}].url: is not a valid rtsp URL (expected rtsp://[user:pass@]host[:port]/path)`);
    }
    const onvif = camera.onvif;
    if (onvif && camera.url.startsWith('file:') && (onvif === true || !onvif.url)) {
      problems.push(`cameras[${i}].onvif: the device address comes from an rtsp:// url; with a file: url give { url: http://host/onvif/device_service }`);
    }
    if (typeof onvif === 'object' && onvif.url && !isUrl(onvif.url)) problems.push(`cameras[${i}].onvif.url: is not a valid URL`);
    if (camera.mqtt && !config.mqtt) problems.push(`cameras[${i}].mqtt: needs the top-level mqtt: { url } broker setting`);
  });
  const [low, high] = portRange(config.webrtc.udpPorts);
  if (low < 1024 || high > 65535 || low > high) {
    problems.push('webrtc.udpPorts: must be a range within 1024-65535 whose first port is not above its last');
  }
  if (config.server.publicPort !== undefined && config.server.publicPort === config.server.port && config.server.publicHost === config.server.host) {
    problems.push('server.publicPort: must differ from server.port (the public listener serves /alexa and /healthz only)');
  }
  config.server.trustedProxies?.forEach((address, i) => {
    if (!isIP(address)) problems.push(`server.trustedProxies[${i}]: must be an IP address`);
  });
  config.webrtc.hostAddresses?.forEach((address, i) => {
    if (!isIPv4(address)) problems.push(`webrtc.hostAddresses[${i}]: must be an IPv4 address`);
  });
  for (const name of ['adminToken', 'proxySecret'] as const) {
    const secret = config.server[name];
    if (secret === undefined) continue;
    const { bits, ok } = secretStrength(secret);
    if (!ok) {
      problems.push(`server.${name}: too weak (about ${bits} bits, ${new Set(secret).size} distinct characters): use at least ${MIN_SECRET_BITS} bits of randomness, e.g. \`openssl rand -base64 24\`, or leave it out and porchlight generates one`);
    }
  }
  if (config.mqtt && !isUrl(config.mqtt.url)) problems.push('mqtt.url: is not a valid URL (expected mqtt://host:1883)');
  if (config.alexa.clientId && !config.alexa.clientSecret) problems.push('alexa.clientSecret: is required when alexa.clientId is set');
  return problems;
}

/** About 128 bits: a guessable admin token or proxy secret opens the console or lets anyone forge directives. */
export const MIN_SECRET_BITS = 128;
const MIN_DISTINCT_CHARACTERS = 10;

/**
 * A configured secret's strength, estimated from its length and the character classes it uses
 * (lower, upper, digits, others), with too few distinct characters counting as weak whatever
 * the length ("aaaa…"). Pure.
 */
export function secretStrength(secret: string): { bits: number; ok: boolean } {
  const pool = (/[a-z]/.test(secret) ? 26 : 0) + (/[A-Z]/.test(secret) ? 26 : 0) + (/[0-9]/.test(secret) ? 10 : 0) + (/[^a-zA-Z0-9]/.test(secret) ? 32 : 0);
  const bits = Math.floor(secret.length * Math.log2(Math.max(pool, 1)));
  return { bits, ok: bits >= MIN_SECRET_BITS && new Set(secret).size >= MIN_DISTINCT_CHARACTERS };
}

function isUrl(text: string): boolean {
  try {
    return new URL(text).hostname !== '';
  } catch {
    return false;
  }
}

function resolvePaths(config: ConfigFile, baseDir: string, env: NodeJS.ProcessEnv): ConfigFile {
  // An env override is relative to where the bridge was started, like any command-line path.
  const dataDirBase = env.PORCHLIGHT_DATA_DIR ? process.cwd() : baseDir;
  return {
    ...config,
    dataDir: resolve(dataDirBase, config.dataDir),
    server: {
      ...config.server,
      ...(config.server.tls && {
        tls: { cert: resolve(baseDir, config.server.tls.cert), key: resolve(baseDir, config.server.tls.key) },
      }),
    },
    ...(config.relay && {
      relay: {
        ...config.relay,
        cert: resolve(baseDir, config.relay.cert),
        key: resolve(baseDir, config.relay.key),
        ...(config.relay.ca && { ca: resolve(baseDir, config.relay.ca) }),
      },
    }),
    cameras: config.cameras.map((camera) =>
      camera.url.startsWith('file:') ? { ...camera, url: `file:${resolveFileUrl(camera.url, baseDir)}` } : camera,
    ),
  };
}

/** `webrtc.udpPorts` ("40000-40100") as numbers; the schema has checked its shape. */
export function portRange(range: string): [number, number] {
  return range.split('-').map(Number) as [number, number];
}

/** `file:rel/clip.mp4`, `file:/abs/clip.mp4` and `file:///abs/clip.mp4` → an absolute path. */
export function resolveFileUrl(url: string, baseDir: string): string {
  if (url.startsWith('file://')) return fileURLToPath(url);
  const path = url.slice('file:'.length);
  return isAbsolute(path) ? path : resolve(baseDir, path);
}
