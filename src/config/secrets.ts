import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config, ConfigFile } from './schema.ts';

const SECRET_NAMES = ['proxySecret', 'adminToken'] as const;
type SecretName = (typeof SECRET_NAMES)[number];

export function secretsFile(dataDir: string): string {
  return join(dataDir, 'secrets.json');
}

/**
 * Fills in the secrets the configuration leaves out: read from dataDir/secrets.json, or generated
 * once and stored there (mode 0600) so the Lambda's PROXY_SECRET keeps working across restarts.
 */
export function withSecrets(file: ConfigFile, source: string): Config {
  const path = secretsFile(file.dataDir);
  const stored = readStored(path);
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
  if (generated.length > 0) writeStored(file.dataDir, path, stored);
  return { ...file, server: { ...file.server, ...secrets }, source, generatedSecrets: generated };
}

function readStored(path: string): Partial<Record<SecretName, string>> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new Error(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code}`);
  }
  try {
    const parsed = JSON.parse(text) as Record<string, unknown>;
    return Object.fromEntries(SECRET_NAMES.filter((n) => typeof parsed[n] === 'string').map((n) => [n, parsed[n] as string]));
  } catch {
    throw new Error(`${path} is not valid JSON: fix or delete it (its secrets will be generated again)`);
  }
}

function writeStored(dataDir: string, path: string, secrets: Partial<Record<SecretName, string>>): void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  // Written aside and renamed, so a crash never leaves half a file; 0600 because these are keys.
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
  chmodSync(temporary, 0o600);
  renameSync(temporary, path);
}
