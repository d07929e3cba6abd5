import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { loadRelayCredentials, type RelayConfig } from './relay-credentials.ts';
import { ConfigError } from './load.ts';
import type { Config, ConfigFile } from './schema.ts';
import { readPrivateJson, writePrivateJson } from '../util/private-file.ts';

const SECRET_NAMES = ['proxySecret', 'adminToken'] as const;
type SecretName = (typeof SECRET_NAMES)[number];

/** The skill's messaging credentials, written by `porchlight skill setup`. */
export interface StoredAlexa {
  clientId: string;
  clientSecret: string;
  region: 'NA' | 'EU' | 'FE';
}

/**
 * dataDir/secrets.json: generated secrets, and what the setup commands obtained for the bridge
 * (the skill's Alexa messaging credentials; the relay's endpoint and certificate files). The
 * YAML always wins over it, and is never rewritten by a command.
 */
export interface StoredSecrets extends Partial<Record<SecretName, string>> {
  alexa?: StoredAlexa;
  relay?: RelayConfig;
}

export function secretsFile(dataDir: string): string {
  return join(dataDir, 'secrets.json');
}

/**
 * Fills in what the configuration leaves out from dataDir/secrets.json: secrets generated once
 * and stored there (mode 0600) so the Lambda's PROXY_SECRET keeps working across restarts, and
 * the Alexa credentials and relay a setup command stored.
 */
export function withSecrets(file: ConfigFile, source: string): Config {
  const stored = readStoredSecrets(file.dataDir);
  const generated: SecretName[] = [];
  const secrets = {} as Record<SecretName, string>;
  for (const name of SECRET_NAMES) {
    const given = file.server[name];
    if (given) {
      secrets[name] = given;
    } else if (stored[name]) {
      secrets[name] = stored[name];
    } else {
      secrets[name] = randomBytes(32).toString('base64url');
      stored[name] = secrets[name];
      generated.push(name);
    }
  }
  if (generated.length > 0) writeStoredSecrets(file.dataDir, stored);
  const alexa = !file.alexa.clientId && !file.alexa.clientSecret && stored.alexa ? { ...file.alexa, ...stored.alexa } : file.alexa;
  let relay = file.relay;
  if (!relay && stored.relay) {
    const { problems } = loadRelayCredentials(stored.relay);
    if (problems.length > 0) throw new ConfigError(`${secretsFile(file.dataDir)} (written by porchlight skill setup)`, problems);
    relay = stored.relay;
  }
  return { ...file, alexa, ...(relay && { relay }), server: { ...file.server, ...secrets }, source, generatedSecrets: generated };
}

export function readStoredSecrets(dataDir: string): StoredSecrets {
  const parsed = (readPrivateJson(secretsFile(dataDir), 'fix or delete it (its secrets will be generated again)') ?? {}) as Record<string, unknown>;
  const stored: StoredSecrets = Object.fromEntries(SECRET_NAMES.filter((n) => typeof parsed[n] === 'string').map((n) => [n, parsed[n] as string]));
  const alexa = parsed.alexa as Partial<StoredAlexa> | undefined;
  if (typeof alexa?.clientId === 'string' && typeof alexa.clientSecret === 'string' && ['NA', 'EU', 'FE'].includes(alexa.region ?? '')) {
    stored.alexa = { clientId: alexa.clientId, clientSecret: alexa.clientSecret, region: alexa.region! };
  }
  const relay = parsed.relay as Partial<RelayConfig> | undefined;
  if (typeof relay?.url === 'string' && typeof relay.bridgeId === 'string' && typeof relay.cert === 'string' && typeof relay.key === 'string') {
    stored.relay = { url: relay.url, bridgeId: relay.bridgeId, cert: relay.cert, key: relay.key, ...(typeof relay.ca === 'string' && { ca: relay.ca }) };
  }
  return stored;
}

/** Merges `changes` into secrets.json; true when the file changed. Written aside and renamed, 0600. */
export function updateStoredSecrets(dataDir: string, changes: Partial<StoredSecrets>): boolean {
  const stored = readStoredSecrets(dataDir);
  const next = { ...stored, ...changes };
  if (JSON.stringify(next) === JSON.stringify(stored)) return false;
  writeStoredSecrets(dataDir, next);
  return true;
}

function writeStoredSecrets(dataDir: string, secrets: StoredSecrets): void {
  writePrivateJson(secretsFile(dataDir), secrets);
}
