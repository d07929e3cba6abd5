/**
 * dataDir/alexa-skill.json (0600): what `porchlight skill setup` knows between runs — the Login
 * with Amazon refresh token (so status, a second setup and `npm run simulate` need no new login),
 * the vendor and skill ids, the function, and what setup made itself (only that is removed).
 */
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface StoredLogin {
  /** The security profile the tokens belong to: refreshing needs its id and secret. */
  clientId: string;
  clientSecret: string;
  refreshToken: string;
  accessToken?: string;
  /** ms since the epoch. */
  expiresAt?: number;
}

export interface SkillState {
  lwa?: StoredLogin;
  vendorId?: string;
  skillId?: string;
  /** The AWS region the function is in. */
  region?: string;
  functionName?: string;
  functionArn?: string;
  transport?: 'relay' | 'bridge-url';
  /** sha256 of the client secret last given to account linking (SMAPI never shows it back). */
  accountLinkingSecret?: string;
  /** What setup created (not what it found): `skill remove` deletes these only. */
  created?: { skill?: string; function?: string; role?: string; relayBridgeId?: string };
}

export function skillStateFile(dataDir: string): string {
  return join(dataDir, 'alexa-skill.json');
}

export function readSkillState(dataDir: string): SkillState {
  const path = skillStateFile(dataDir);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new Error(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code}`);
  }
  try {
    return JSON.parse(text) as SkillState;
  } catch {
    throw new Error(`${path} is not valid JSON: fix or delete it (porchlight skill setup then logs in again and finds nothing it made)`);
  }
}

export function writeSkillState(dataDir: string, state: SkillState): void {
  const path = skillStateFile(dataDir);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  chmodSync(temporary, 0o600);
  renameSync(temporary, path);
}
