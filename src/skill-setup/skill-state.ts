/**
 * dataDir/alexa-skill.json (0600): what `porchlight skill setup` knows between runs — the Login
 * with Amazon refresh token (so status, a second setup and `npm run simulate` need no new login),
 * the vendor and skill ids, the function, and what setup made itself (only that is removed).
 */
import { join } from 'node:path';
import { readPrivateJson, writePrivateJson } from '../util/private-file.ts';

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
  /** sha256 of the client secret last given to account linking (SMAPI never shows it back). */
  accountLinkingSecret?: string;
  /** What setup created (not what it found): `skill remove` deletes these only. */
  created?: { skill?: string; function?: string; role?: string; relayBridgeId?: string };
}

export function skillStateFile(dataDir: string): string {
  return join(dataDir, 'alexa-skill.json');
}

export function readSkillState(dataDir: string): SkillState {
  return (readPrivateJson(skillStateFile(dataDir), 'fix or delete it (porchlight skill setup then logs in again and finds nothing it made)') ?? {}) as SkillState;
}

export function writeSkillState(dataDir: string, state: SkillState): void {
  writePrivateJson(skillStateFile(dataDir), state);
}
