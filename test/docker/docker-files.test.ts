/**
 * docker/Dockerfile, docker/compose.yaml and .dockerignore, without a Docker engine: what the files
 * say (parsed here, the way Docker reads them), that the image installs what scripts/setup.sh installs,
 * and that the image's own commands work on this machine: its ENTRYPOINT/CMD starts the bridge and
 * its HEALTHCHECK passes against it, then fails once it has stopped on SIGTERM.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { DEMO_CLIP, loadConfigFile } from '../../src/config/load.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DOCKER_DIR = join(ROOT, 'docker');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

// --- a Dockerfile reader ------------------------------------------------------------------------------

interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

interface Stage {
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
function leadingFlags(args: string): { flags: Map<string, string>; rest: string } {
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
function envOf(stage: Stage): Map<string, string> {
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
function simpleCommands(script: string): string[][] {
  return script.split(/&&|\|\||;/).map((part) => part.trim().split(/\s+/).filter(Boolean)).filter((words) => words.length > 0);
}

/** The arguments after `program sub` in a command, skipping `env` and VAR=value in front. */
function invocation(words: string[], program: string, sub: string): string[] | null {
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

const dockerfileText = read('docker/Dockerfile');
const instructions = parseDockerfile(dockerfileText);
const stages = splitStages(instructions);
const final = stages.at(-1)!;
const finalOf = (keyword: string) => final.instructions.filter((i) => i.keyword === keyword);
const lastOf = (keyword: string) => finalOf(keyword).at(-1);
const ignored = dockerignore(read('.dockerignore'));
const setupScript = read('scripts/setup.sh');
const packageJson = JSON.parse(read('package.json')) as {
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
};

/** ENTRYPOINT then CMD of the final stage: what `docker run` runs. */
const runtimeCommand = [...commandOf(lastOf('ENTRYPOINT')?.args ?? '[]'), ...commandOf(lastOf('CMD')?.args ?? '[]')];

function healthcheck(): { flags: Map<string, string>; command: string[] } {
  const instruction = lastOf('HEALTHCHECK');
  assert.ok(instruction, 'no HEALTHCHECK in the final stage');
  const { flags, rest } = leadingFlags(instruction.args);
  assert.match(rest, /^CMD\s/, 'HEALTHCHECK must run a command (not NONE)');
  return { flags, command: commandOf(rest.replace(/^CMD\s+/, '')) };
}

/** Docker duration (`30s`, `1m30s`, `500ms`) in milliseconds. */
function durationMs(text: string): number {
  let total = 0;
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const rest = text.replace(/(\d+(?:\.\d+)?)(ms|s|m|h)/g, (_, n: string, unit: string) => {
    total += Number(n) * units[unit]!;
    return '';
  });
  assert.equal(rest, '', `not a duration: ${text}`);
  return total;
}

describe('docker/Dockerfile', () => {
  test('multi-stage on node:24-bookworm-slim, every stage', () => {
    assert.ok(stages.length >= 2, 'expected a build stage and a runtime stage');
    assert.equal(final.image, 'node:24-bookworm-slim');
    const names = new Set<string>();
    for (const stage of stages) {
      assert.ok(stage.image === 'node:24-bookworm-slim' || names.has(stage.image), `FROM ${stage.image}: build on node:24-bookworm-slim`);
      if (stage.name) names.add(stage.name);
    }
  });

  test('installs scripts/setup.sh\'s runtime packages, the way setup.sh does, in the runtime image', () => {
    const setupPackages = /^packages=\(([^)]*)\)/m.exec(setupScript)?.[1]?.trim().split(/\s+/);
    assert.ok(setupPackages && setupPackages.length > 0, 'scripts/setup.sh: no packages=(…) line');
    const setupInstall = setupScript.split('\n').map((line) => invocation(line.trim().split(/\s+/), 'apt-get', 'install')).find(Boolean);
    assert.ok(setupInstall, 'scripts/setup.sh: no apt-get install');
    const setupFlags = setupInstall.filter((word) => word.startsWith('-')).sort();

    const commands = finalOf('RUN').flatMap((run) => simpleCommands(run.args));
    const installs = commands.map((words) => invocation(words, 'apt-get', 'install')).filter((words) => words !== null);
    assert.equal(installs.length, 1, 'one apt-get install in the runtime stage');
    const install = installs[0]!;
    assert.deepEqual(install.filter((word) => !word.startsWith('-')).sort(), [...setupPackages].sort(), 'apt packages differ from scripts/setup.sh');
    assert.deepEqual(install.filter((word) => word.startsWith('-')).sort(), setupFlags, 'apt-get install options differ from scripts/setup.sh');
    const update = commands.findIndex((words) => invocation(words, 'apt-get', 'update'));
    const installAt = commands.findIndex((words) => invocation(words, 'apt-get', 'install'));
    assert.ok(update >= 0 && update < installAt, 'apt-get update before apt-get install');
    for (const words of commands.filter((w) => invocation(w, 'apt-get', 'update') || invocation(w, 'apt-get', 'install'))) {
      assert.ok(words.includes('DEBIAN_FRONTEND=noninteractive'), `${words.join(' ')}: DEBIAN_FRONTEND=noninteractive, as setup.sh`);
    }
    const cleanup = finalOf('RUN').find((run) => /apt-get install/.test(run.args));
    assert.match(cleanup!.args, /rm -rf \/var\/lib\/apt\/lists/, 'apt lists removed in the same layer');
  });

  test('npm packages: setup.sh\'s npm ci, less devDependencies and the optional ffmpeg-static, copied into the runtime image', () => {
    const setupCi = setupScript.split('\n').map((line) => invocation(line.trim().split(/\s+/), 'npm', 'ci')).find(Boolean);
    assert.ok(setupCi, 'scripts/setup.sh: no npm ci');
    const builders = stages.slice(0, -1);
    const ciStage = builders.find((stage) => stage.instructions.some((i) => i.keyword === 'RUN' && simpleCommands(i.args).some((w) => invocation(w, 'npm', 'ci'))));
    assert.ok(ciStage?.name, 'a named build stage runs npm ci');
    const ci = ciStage.instructions.flatMap((i) => (i.keyword === 'RUN' ? simpleCommands(i.args) : [])).map((w) => invocation(w, 'npm', 'ci')).find(Boolean)!;
    for (const flag of setupCi) assert.ok(ci.includes(flag), `npm ci in the image lacks setup.sh's ${flag}`);
    assert.deepEqual(ci.filter((flag) => !setupCi.includes(flag)).sort(), ['--omit=dev', '--omit=optional']);
    // --omit=optional is there for ffmpeg-static alone (its install downloads from outside the npm
    // registry; the image has Debian's ffmpeg). Another optional dependency would be left out too.
    assert.deepEqual(Object.keys(packageJson.optionalDependencies ?? {}), ['ffmpeg-static'], 'a new optionalDependency: decide whether the image needs it');
    const ciWorkdir = ciStage.instructions.filter((i) => i.keyword === 'WORKDIR').at(-1)?.args;
    const copied = finalOf('COPY').find((copy) => leadingFlags(copy.args).flags.get('from') === ciStage.name);
    assert.ok(copied, `the runtime stage copies from ${ciStage.name}`);
    assert.deepEqual(leadingFlags(copied.args).rest.split(/\s+/), [`${ciWorkdir}/node_modules`, './node_modules']);
  });

  test('every COPY source exists, is in the build context, and lands where the repository has it', () => {
    const workdir = lastOf('WORKDIR')?.args ?? '';
    assert.ok(workdir.startsWith('/'), 'an absolute WORKDIR in the runtime stage');
    const copiedToFinal: string[] = [];
    for (const stage of stages) {
      for (const copy of stage.instructions.filter((i) => i.keyword === 'COPY' || i.keyword === 'ADD')) {
        assert.equal(copy.keyword, 'COPY', `line ${copy.line}: ADD fetches URLs and unpacks archives; use COPY`);
        const { flags, rest } = leadingFlags(copy.args);
        if (flags.has('from')) continue;
        const words = rest.split(/\s+/);
        const destination = words.pop()!;
        for (const source of words) {
          assert.ok(existsSync(join(ROOT, source)), `line ${copy.line}: COPY ${source}: not in the repository`);
          assert.ok(!ignored(source), `line ${copy.line}: COPY ${source}: excluded by .dockerignore`);
          if (stage !== final) continue;
          copiedToFinal.push(source);
          // The repository's layout under WORKDIR: what the test below runs from the repository root.
          const landing = statSync(join(ROOT, source)).isDirectory() ? destination.replace(/\/$/, '') : join(destination, source);
          assert.equal(resolve(workdir, landing), resolve(workdir, source), `line ${copy.line}: COPY ${source} ${destination}`);
        }
      }
    }
    const inImage = (path: string) => copiedToFinal.some((source) => path === source || path.startsWith(`${source}/`));
    for (const needed of ['package.json', 'src/main.ts', relative(ROOT, DEMO_CLIP), 'bin/porchlight', 'scripts/node.sh']) {
      assert.ok(inImage(needed), `${needed} is not copied into the image`);
    }
  });

  test('what src/ imports at run time is in the image: node built-ins, dependencies, optional ones loaded with a fallback', () => {
    const runtimePackages = new Set([...Object.keys(packageJson.dependencies ?? {}), ...Object.keys(packageJson.optionalDependencies ?? {})]);
    const files = readdirSync(join(ROOT, 'src'), { recursive: true, encoding: 'utf8' }).filter((file) => file.endsWith('.ts'));
    assert.ok(files.includes('main.ts'));
    const missing: string[] = [];
    for (const file of files) {
      const text = readFileSync(join(ROOT, 'src', file), 'utf8');
      for (const [statement, specifier] of text.matchAll(/^\s*(?:(?:import|export)\b[^;'"]*?\bfrom|import)\s*['"]([^'"]+)['"]/gm)) {
        if (/^\s*(?:import|export)\s+type\b/.test(statement) || specifier!.startsWith('node:')) continue;
        if (specifier!.startsWith('.')) {
          const target = relative(ROOT, resolve(ROOT, 'src', dirname(file), specifier!));
          if (!target.startsWith(`src/`)) missing.push(`src/${file}: ${specifier} (outside src/)`);
          continue;
        }
        const name = specifier!.split('/').slice(0, specifier!.startsWith('@') ? 2 : 1).join('/');
        if (!runtimePackages.has(name)) missing.push(`src/${file}: ${specifier} (not in dependencies: npm ci --omit=dev leaves it out)`);
      }
    }
    assert.deepEqual(missing, []);
  });

  test('runs as a non-root user, with /data its own and a volume', () => {
    const user = lastOf('USER');
    assert.ok(user, 'no USER in the runtime stage');
    assert.ok(!/^(root|0)(:|$)/.test(user.args), `USER ${user.args} is root`);
    const runAs = user.args.split(':')[0]!;
    const at = (i: Instruction) => final.instructions.indexOf(i);
    for (const keyword of ['ENTRYPOINT', 'CMD', 'HEALTHCHECK']) {
      assert.ok(at(user) < at(lastOf(keyword)!), `USER comes before ${keyword}`);
    }
    const volumePaths = (args: string): string[] => (args.startsWith('[') ? (JSON.parse(args) as string[]) : args.split(/\s+/));
    const volume = finalOf('VOLUME').find((v) => volumePaths(v.args).includes('/data'));
    assert.ok(volume, 'VOLUME /data');
    // Changes to a volume's folder after VOLUME are discarded: it must be made and owned before.
    const chown = finalOf('RUN').find((run) => new RegExp(`chown\\s+(-\\S+\\s+)*${runAs}(:\\S+)?\\s+(\\S+\\s+)*/data\\b`).test(run.args));
    assert.ok(chown && at(chown) < at(volume), `/data chowned to ${runAs} before VOLUME`);
    assert.equal(envOf(final).get('PORCHLIGHT_DATA_DIR'), '/data');
    assert.equal(envOf(final).get('PORCHLIGHT_CONFIG'), undefined, 'no default config: without one mounted the demo camera runs');
  });

  test('runs src/main.ts with node; exposes the HTTP port and the default WebRTC UDP range; stops on SIGTERM', () => {
    assert.deepEqual(runtimeCommand.slice(0, 2), ['node', 'src/main.ts']);
    assert.ok(['serve', undefined].includes(runtimeCommand[2]));
    const exposed = finalOf('EXPOSE').flatMap((e) => e.args.split(/\s+/));
    const { config } = loadConfigFile(undefined, {});
    assert.ok(exposed.includes(`${config.server.port}/tcp`) || exposed.includes(String(config.server.port)), `EXPOSE ${config.server.port}`);
    assert.ok(exposed.includes(`${config.webrtc.udpPorts}/udp`), `EXPOSE ${config.webrtc.udpPorts}/udp (webrtc.udpPorts' default)`);
    assert.equal(lastOf('STOPSIGNAL')?.args, 'SIGTERM');
  });

  test('HEALTHCHECK asks GET /healthz with node (no curl in a slim image), within sane limits', () => {
    const { flags, command } = healthcheck();
    assert.equal(command[0], 'node');
    assert.match(command.join(' '), /\/healthz/);
    for (const name of ['interval', 'timeout', 'start-period']) assert.ok(flags.has(name), `HEALTHCHECK --${name}`);
    assert.ok(durationMs(flags.get('timeout')!) >= 7_000, 'timeout covers an HTTP then an HTTPS try of 3 s each');
    assert.ok(durationMs(flags.get('timeout')!) < durationMs(flags.get('interval')!));
  });

  test('fetches nothing but Debian and npm packages', () => {
    for (const { keyword, args, line } of instructions) {
      assert.doesNotMatch(args, /\b(curl|wget|git\s+clone)\b/, `line ${line}: ${keyword} downloads`);
      if (keyword === 'RUN') assert.doesNotMatch(args, /https?:\/\//, `line ${line}: a URL in RUN`);
    }
    assert.doesNotMatch(dockerfileText, /^#\s*syntax\s*=/m, 'a syntax directive pulls a frontend image');
  });
});

describe('.dockerignore', () => {
  test('keeps local installs, state and secrets out of the build context', () => {
    for (const path of ['node_modules', '.node', '.git', 'data/secrets.json', 'test-artifacts/x', 'skill/dist/index.mjs',
      'docker/config/porchlight.yaml', 'porchlight.yaml', 'some/dir/key.pem', 'data/porchlight.db', 'x.log']) {
      assert.ok(ignored(path), `${path} is sent to the builder`);
    }
    for (const path of ['src/main.ts', 'package-lock.json', 'media/demo.mp4', 'docker/Dockerfile']) assert.ok(!ignored(path), path);
  });
});

describe('docker/compose.yaml', () => {
  const compose = parseYaml(read('docker/compose.yaml')) as {
    services: Record<string, Record<string, any>>;
    volumes?: Record<string, unknown>;
  };
  const service = compose.services.porchlight!;

  test('builds docker/Dockerfile from the repository root', () => {
    assert.ok(service, 'service porchlight');
    assert.equal(resolve(DOCKER_DIR, service.build.context), resolve(ROOT));
    assert.equal(resolve(DOCKER_DIR, service.build.context, service.build.dockerfile), join(DOCKER_DIR, 'Dockerfile'));
  });

  test('host networking for WebRTC, an init, restarts, time to shut down', () => {
    assert.equal(service.network_mode, 'host');
    assert.equal(service.ports, undefined, 'ports: does not apply with host networking');
    assert.equal(service.init, true);
    assert.equal(service.restart, 'unless-stopped');
    assert.ok(durationMs(service.stop_grace_period) > 10_000, 'longer than main.ts\'s 10 s shutdown deadline');
    assert.equal(service.healthcheck, undefined, 'the image\'s HEALTHCHECK applies');
  });

  test('the config mounted read-only and named by PORCHLIGHT_CONFIG; the data in a named volume at /data', () => {
    const mounts = (service.volumes as string[]).map((spec) => {
      const [source, target, mode] = spec.split(':');
      return { source, target, mode };
    });
    const config = mounts.find((m) => m.target === '/config');
    assert.deepEqual(config, { source: './config', target: '/config', mode: 'ro' });
    const data = mounts.find((m) => m.target === envOf(final).get('PORCHLIGHT_DATA_DIR'));
    assert.ok(data, 'a mount at the image\'s PORCHLIGHT_DATA_DIR');
    assert.ok(compose.volumes && data.source! in compose.volumes, `${data.source} is a named volume`);
    const environment: Record<string, string> = Array.isArray(service.environment)
      ? Object.fromEntries((service.environment as string[]).map((entry) => entry.split(/=(.*)/s).slice(0, 2)))
      : service.environment;
    assert.equal(environment.PORCHLIGHT_CONFIG, '/config/porchlight.yaml');
  });
});

// --- the image's commands, run here ---------------------------------------------------------------

const scratch = mkdtempSync(join(tmpdir(), 'porchlight-docker-'));
const children = new Set<ChildProcess>();
after(() => {
  for (const child of children) child.kill('SIGKILL');
  rmSync(scratch, { recursive: true, force: true });
});

/** The container's environment: this machine's, less any PORCHLIGHT_*, plus the image's ENV, plus `extra`. */
function containerEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('PORCHLIGHT_')));
  for (const [name, value] of envOf(final)) env[name] = value;
  return { ...env, ...extra };
}

/** `node` in an image command is this machine's Node; the repository root stands in for WORKDIR. */
function spawnImageCommand(command: string[], env: NodeJS.ProcessEnv): ChildProcess {
  assert.equal(command[0], 'node');
  const child = spawn(process.execPath, command.slice(1), { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

/** The bridge's complete JSON log lines so far (stdout; anything else is skipped). */
function logLines(output: string): Array<Record<string, unknown>> {
  return output.split('\n').flatMap((line) => {
    try {
      const parsed: unknown = JSON.parse(line);
      return parsed && typeof parsed === 'object' ? [parsed as Record<string, unknown>] : [];
    } catch {
      return [];
    }
  });
}

interface Running {
  port: number;
  output: () => string;
  exited: Promise<number | null>;
  child: ChildProcess;
}

async function startContainerCommand(env: NodeJS.ProcessEnv): Promise<Running> {
  const child = spawnImageCommand(runtimeCommand, env);
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    const deadline = setTimeout(() => reject(new Error(`the bridge did not start:\n${output}`)), 8_000);
    const onData = (chunk: Buffer) => {
      output += chunk;
      const listening = logLines(output).find((line) => line.msg === 'porchlight listening');
      if (listening) {
        clearTimeout(deadline);
        resolve(Number(new URL(String(listening.address)).port));
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk));
    void exited.then((code) => {
      clearTimeout(deadline);
      reject(new Error(`the bridge exited (${code}):\n${output}`));
    });
  });
  return { port, output: () => output, exited, child };
}

async function runHealthcheck(env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  const child = spawnImageCommand(healthcheck().command, env);
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk));
  const deadline = setTimeout(() => child.kill('SIGKILL'), durationMs(healthcheck().flags.get('timeout')!));
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  clearTimeout(deadline);
  return { code, output };
}

async function stop(running: Running): Promise<number | null> {
  running.child.kill('SIGTERM');
  const deadline = setTimeout(() => running.child.kill('SIGKILL'), 8_000);
  const code = await running.exited;
  clearTimeout(deadline);
  return code;
}

describe('the image\'s commands on this machine', () => {
  test('ENTRYPOINT/CMD serves the demo camera with state in the data dir; HEALTHCHECK passes, then fails once SIGTERM stopped it', async () => {
    const dataDir = join(scratch, 'data');
    const env = containerEnv({ PORCHLIGHT_DATA_DIR: dataDir, PORCHLIGHT_HOST: '127.0.0.1', PORCHLIGHT_PORT: '0' });
    const running = await startContainerCommand(env);
    assert.ok(logLines(running.output()).some((line) => line.msg === 'configuration loaded' && line.config === 'embedded demo'));
    assert.ok(existsSync(join(dataDir, 'secrets.json')), 'secrets.json in the data dir (README: docker compose exec … cat /data/secrets.json)');
    const healthEnv = { ...env, PORCHLIGHT_PORT: String(running.port) };
    const healthy = await runHealthcheck(healthEnv);
    assert.equal(healthy.code, 0, healthy.output);
    assert.equal(await stop(running), 0, running.output());
    assert.ok(logLines(running.output()).some((line) => line.msg === 'shutting down' && line.signal === 'SIGTERM'));
    const down = await runHealthcheck(healthEnv);
    assert.equal(down.code, 1, down.output);
  });

  test('with server.tls from the mounted config (PORCHLIGHT_CONFIG), HEALTHCHECK passes over HTTPS', async (t) => {
    const config = join(scratch, 'porchlight.yaml');
    const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-subj', '/CN=porchlight.local', '-days', '1', '-keyout', join(scratch, 'key.pem'), '-out', join(scratch, 'cert.pem')], { stdio: 'ignore' });
    if (made.error || made.status !== 0) {
      t.skip('openssl is not available to make a certificate');
      return;
    }
    writeFileSync(config, `server:\n  tls: { cert: cert.pem, key: key.pem }\ncameras:\n  - id: demo\n    name: Demo\n    url: file:${DEMO_CLIP}\n`);
    const env = containerEnv({ PORCHLIGHT_CONFIG: config, PORCHLIGHT_DATA_DIR: join(scratch, 'tls-data'), PORCHLIGHT_HOST: '127.0.0.1', PORCHLIGHT_PORT: '0' });
    const running = await startContainerCommand(env);
    assert.ok(logLines(running.output()).some((line) => line.msg === 'porchlight listening' && String(line.address).startsWith('https:')));
    const healthy = await runHealthcheck({ ...env, PORCHLIGHT_PORT: String(running.port) });
    assert.equal(healthy.code, 0, healthy.output);
    assert.equal(await stop(running), 0, running.output());
  });
});
