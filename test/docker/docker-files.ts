/**
 * The repository's docker/Dockerfile, .dockerignore, scripts/setup.sh and package.json, read the way
 * Docker (and setup.sh) would read them, for docker-files.test.ts (what the files say) and
 * docker-commands.test.ts (the image's commands, run on this machine). No Docker engine needed.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const DOCKER_DIR = join(ROOT, 'docker');
export const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

// --- a Dockerfile reader ------------------------------------------------------------------------------

export interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

export interface Stage {
  image: string;
  name: string | undefined;
  instructions: Instruction[];
}

/**
 * Instructions as Docker's parser sees them (default escape character): comment and blank lines
 * skipped, also inside a continuation; a line ending in `\` continues on the next, joined with the
 * backslash (and any blanks after it) removed and nothing else changed.
 */
export function parseDockerfile(text: string): Instruction[] {
  assert.doesNotMatch(text, /^#\s*escape\s*=/im, 'this reader only knows the default escape character');
  const instructions: Instruction[] = [];
  let current: string | null = null;
  let start = 0;
  text.split(/\r?\n/).forEach((raw, index) => {
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    if (current === null) {
      current = '';
      start = index + 1;
    }
    const continued = /\\[ \t]*$/.test(raw);
    current += continued ? raw.replace(/\\[ \t]*$/, '') : raw;
    if (continued) return;
    const match = /^\s*(\S+)\s*([\s\S]*?)\s*$/.exec(current)!;
    instructions.push({ keyword: match[1]!.toUpperCase(), args: match[2]!, line: start });
    current = null;
  });
  assert.equal(current, null, 'the Dockerfile ends inside a continued line');
  return instructions;
}

function splitStages(instructions: Instruction[]): Stage[] {
  const stages: Stage[] = [];
  for (const instruction of instructions) {
    if (instruction.keyword === 'FROM') {
      const { rest } = leadingFlags(instruction.args);
      const [image, as, name] = rest.split(/\s+/);
      assert.ok(image, `line ${instruction.line}: FROM without an image`);
      assert.ok(as === undefined || (as.toUpperCase() === 'AS' && name), `line ${instruction.line}: FROM ${instruction.args}`);
      stages.push({ image, name, instructions: [] });
    } else {
      assert.ok(stages.length > 0, `line ${instruction.line}: ${instruction.keyword} before the first FROM`);
      stages.at(-1)!.instructions.push(instruction);
    }
  }
  return stages;
}

/** `--name=value` options in front of an instruction's arguments (COPY --from=…, HEALTHCHECK --interval=…). */
export function leadingFlags(args: string): { flags: Map<string, string>; rest: string } {
  const flags = new Map<string, string>();
  let rest = args.trim();
  for (let match; (match = /^--([\w-]+)(?:=(\S*))?\s*/.exec(rest)); rest = rest.slice(match[0].length)) {
    flags.set(match[1]!, match[2] ?? 'true');
  }
  return { flags, rest };
}

/** The command of CMD, ENTRYPOINT or HEALTHCHECK CMD: the JSON exec form as it is, a shell form through sh -c. */
function commandOf(args: string): string[] {
  if (args.trimStart().startsWith('[')) {
    const parsed: unknown = JSON.parse(args);
    assert.ok(Array.isArray(parsed) && parsed.every((word) => typeof word === 'string'), `not an exec form: ${args}`);
    return parsed as string[];
  }
  return ['/bin/sh', '-c', args];
}

/** `ENV A=1 B="2"` (and the old `ENV A 1`) as a map. */
export function envOf(stage: Stage): Map<string, string> {
  const env = new Map<string, string>();
  for (const { args } of stage.instructions.filter((i) => i.keyword === 'ENV')) {
    if (!/^[\w.-]+=/.test(args)) {
      const [, name, value] = /^(\S+)\s+(.*)$/.exec(args)!;
      env.set(name!, value!);
      continue;
    }
    for (const [, name, quoted, plain] of args.matchAll(/([\w.-]+)=(?:"((?:[^"\\]|\\.)*)"|(\S*))/g)) {
      env.set(name!, quoted ?? plain ?? '');
    }
  }
  return env;
}

/** The simple commands of a shell script line (split at &&, || and ;), each as words. */
export function simpleCommands(script: string): string[][] {
  return script.split(/&&|\|\||;/).map((part) => part.trim().split(/\s+/).filter(Boolean)).filter((words) => words.length > 0);
}

/** The arguments after `program sub` in a command, skipping `env` and VAR=value in front. */
export function invocation(words: string[], program: string, sub: string): string[] | null {
  let i = 0;
  while (i < words.length && (words[i] === 'env' || words[i] === 'sudo' || words[i] === '$sudo' || /^\w+=/.test(words[i]!))) i++;
  return words[i] === program && words[i + 1] === sub ? words.slice(i + 2) : null;
}

// --- a .dockerignore reader ---------------------------------------------------------------------------

function globToRegExp(pattern: string): RegExp {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*' && pattern[i + 1] === '*') {
      i++;
      if (pattern[i + 1] === '/') {
        i++;
        source += '(?:.*/)?';
      } else {
        source += '.*';
      }
    } else if (c === '*') source += '[^/]*';
    else if (c === '?') source += '[^/]';
    else source += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

/** Whether .dockerignore keeps a context path out: the last pattern matching it or a folder above it decides. */
function dockerignore(text: string): (path: string) => boolean {
  const rules = text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => {
      const negate = line.startsWith('!');
      const pattern = (negate ? line.slice(1) : line).trim().replace(/^\/+|\/+$/g, '').replace(/^\.\//, '');
      return { negate, re: globToRegExp(pattern) };
    });
  return (path) => {
    const parts = path.replace(/^\.\//, '').replace(/\/+$/, '').split('/');
    let excluded = false;
    for (const { negate, re } of rules) {
      if (parts.some((_, i) => re.test(parts.slice(0, i + 1).join('/')))) excluded = !negate;
    }
    return excluded;
  };
}

// --- the files ----------------------------------------------------------------------------------------

export const dockerfileText = read('docker/Dockerfile');
export const instructions = parseDockerfile(dockerfileText);
export const stages = splitStages(instructions);
export const final = stages.at(-1)!;
export const finalOf = (keyword: string) => final.instructions.filter((i) => i.keyword === keyword);
export const lastOf = (keyword: string) => finalOf(keyword).at(-1);
export const ignored = dockerignore(read('.dockerignore'));
export const setupScript = read('scripts/setup.sh');
export const packageJson = JSON.parse(read('package.json')) as {
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  scripts?: Record<string, string>;
};

/** ENTRYPOINT then CMD of the final stage: what `docker run` runs. */
export const runtimeCommand = [...commandOf(lastOf('ENTRYPOINT')?.args ?? '[]'), ...commandOf(lastOf('CMD')?.args ?? '[]')];

export function healthcheck(): { flags: Map<string, string>; command: string[] } {
  const instruction = lastOf('HEALTHCHECK');
  assert.ok(instruction, 'no HEALTHCHECK in the final stage');
  const { flags, rest } = leadingFlags(instruction.args);
  assert.match(rest, /^CMD\s/, 'HEALTHCHECK must run a command (not NONE)');
  return { flags, command: commandOf(rest.replace(/^CMD\s+/, '')) };
}

/** Docker duration (`30s`, `1m30s`, `500ms`) in milliseconds. */
export function durationMs(text: string): number {
  let total = 0;
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const rest = text.replace(/(\d+(?:\.\d+)?)(ms|s|m|h)/g, (_, n: string, unit: string) => {
    total += Number(n) * units[unit]!;
    return '';
  });
  assert.equal(rest, '', `not a duration: ${text}`);
  return total;
}
