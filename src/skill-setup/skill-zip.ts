/**
 * The Lambda's code: skill/dist/porchlight-skill.zip as `npm run skill:build` makes it, built on
 * the fly when it is missing or older than any file of skill/src/ (the bundler is a development
 * dependency: an install without it uses the zip that is there).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CodedError } from '../util/coded-error.ts';

const SKILL_DIR = fileURLToPath(new URL('../../skill/', import.meta.url));
export const SKILL_ZIP = join(SKILL_DIR, 'dist', 'porchlight-skill.zip');

export class SkillZipError extends CodedError<'NO_ZIP'> {}

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSource(path) : statSync(path).mtimeMs);
  }
  return newest;
}

export async function skillZip(say: (line: string) => void): Promise<Buffer> {
  const sources = join(SKILL_DIR, 'src');
  const stale = !existsSync(SKILL_ZIP) || (existsSync(sources) && newestSource(sources) > statSync(SKILL_ZIP).mtimeMs);
  if (stale) {
    let buildSkill: (() => Promise<{ zip: string; zipBytes: number }>) | undefined;
    try {
      ({ buildSkill } = await import('../../skill/build.ts'));
    } catch {
      if (!existsSync(SKILL_ZIP)) throw new SkillZipError('NO_ZIP', `${SKILL_ZIP} is missing and cannot be built here (esbuild is not installed): run npm run skill:build in a full checkout`);
    }
    if (buildSkill) {
      const built = await buildSkill();
      say(`✔ skill Lambda built: ${built.zip} (${built.zipBytes} bytes)`);
    }
  }
  return readFileSync(SKILL_ZIP);
}
