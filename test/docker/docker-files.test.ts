/**
 * docker/Dockerfile, docker/compose.yaml and .dockerignore, without a Docker engine: what the files
 * say (parsed by ./docker-files.ts, the way Docker reads them), and that the image installs what
 * scripts/setup.sh installs. docker-commands.test.ts runs the image's commands on this machine.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { DEMO_CLIP, loadConfigFile } from '../../src/config/load.ts';
import {
  DOCKER_DIR, dockerfileText, durationMs, envOf, final, finalOf, healthcheck, ignored, instructions, invocation, lastOf,
  leadingFlags, packageJson, read, ROOT, runtimeCommand, setupScript, simpleCommands, stages, type Instruction,
} from './docker-files.ts';

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
    // --omit=optional leaves out ffmpeg-static (its install downloads from outside the npm
    // registry; the image has Debian's ffmpeg) and the static ffmpeg 4.1 the tests run against.
    // Another optional dependency would be left out too.
    assert.deepEqual(Object.keys(packageJson.optionalDependencies ?? {}).sort(), ['@ffmpeg-installer/linux-x64', 'ffmpeg-static'], 'a new optionalDependency: decide whether the image needs it');
    // patch-package (postinstall) finds nothing to apply without patches/: werift would ship unpatched.
    const copies = ciStage.instructions.filter((i) => i.keyword === 'COPY').map((i) => i.args);
    const ciLine = ciStage.instructions.findIndex((i) => i.keyword === 'RUN' && /npm ci/.test(i.args));
    const patchesLine = ciStage.instructions.findIndex((i) => i.keyword === 'COPY' && /^patches\s/.test(i.args));
    assert.ok(packageJson.scripts?.postinstall?.includes('patch-package'), 'werift is patched at install');
    assert.ok(patchesLine >= 0 && patchesLine < ciLine, `patches/ is copied before npm ci (COPY lines: ${copies.join('; ')})`);
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
          // Docker's rules: a directory's contents go to the destination; a file goes into a destination ending in /, else becomes it.
          const landing = statSync(join(ROOT, source)).isDirectory() ? destination.replace(/\/$/, '') : destination.endsWith('/') ? join(destination, basename(source)) : destination;
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
