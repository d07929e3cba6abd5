import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Files that hold keys and tokens (secrets.json, alexa-skill.json): written aside and renamed, so
 * a crash never leaves half a file, mode 0600 in a 0700 folder.
 */
export function writePrivateJson(path: string, value: unknown): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
  chmodSync(temporary, 0o600); // an existing file keeps its mode otherwise
  renameSync(temporary, path);
}

/** The file's JSON; undefined when there is no file; an error saying what to do when it is not JSON. */
export function readPrivateJson(path: string, whenBroken: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code}`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`${path} is not valid JSON: ${whenBroken}`);
  }
}
