/**
 * Podman for image.test.ts: docker/Dockerfile built and run without a Docker engine or Docker Hub.
 * Debian's podman, rootful, with runc and cgroupfs (crun refuses this machine's hybrid cgroup
 * layout) and explicit rlimits (podman's defaults are refused here); node:24-bookworm-slim stood in
 * by scripts/base-image.sh. Everything made through here is removed by `cleanup()`, except the base.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { ROOT } from './docker-files.ts';

export const BASE_IMAGE = 'docker.io/library/node:24-bookworm-slim';
const GLOBAL = ['--runtime', 'runc', '--cgroup-manager', 'cgroupfs'];

/** Hard limit of `ulimit -H<flag>`, capped: podman passes explicit rlimits through, within them. */
function hardLimit(flag: 'n' | 'u', cap: number): number {
  const out = spawnSync('/bin/sh', ['-c', `ulimit -H${flag}`], { encoding: 'utf8' }).stdout?.trim() ?? '';
  return out === 'unlimited' || !/^\d+$/.test(out) ? cap : Math.min(Number(out), cap);
}
export const ULIMITS = ['--ulimit', `nofile=${hardLimit('n', 65536)}:${hardLimit('n', 65536)}`,
  '--ulimit', `nproc=${hardLimit('u', 8192)}:${hardLimit('u', 8192)}`];

export interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `podman …`; SIGKILLs the client after `timeoutMs`. Rejects on a non-zero exit unless `allowFail`. */
export function podman(args: string[], options: { timeoutMs?: number; allowFail?: boolean } = {}): Promise<Result> {
  const { timeoutMs = 30_000, allowFail = false } = options;
  return new Promise((resolve, reject) => {
    const child = spawn('podman', [...GLOBAL, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const result = { code, stdout, stderr };
      if (allowFail || code === 0) resolve(result);
      else reject(new Error(`podman ${args.slice(0, 3).join(' ')} …: ${signal ? `killed after ${timeoutMs} ms` : `exit ${code}`}\n${tail(stdout)}\n${tail(stderr)}`));
    });
  });
}

const tail = (text: string, lines = 40) => text.trimEnd().split('\n').slice(-lines).join('\n');

/** Why podman cannot run here (the test is then skipped), or undefined. */
export function podmanUnavailable(): string | undefined {
  const info = spawnSync('podman', [...GLOBAL, 'info', '--format', '{{.Host.OCIRuntime.Name}}'], { encoding: 'utf8', timeout: 30_000 });
  if (info.error) return `podman is not installed (scripts/setup.sh --test installs podman, runc, catatonit, debootstrap): ${info.error.message}`;
  if (info.status !== 0) return `podman cannot run here: ${info.stderr.trim().split('\n').at(-1)}`;
  // debootstrap (the stand-in base) and host networking with fixed rlimits need rootful podman.
  if (process.getuid?.() !== 0) return 'podman runs here only as root (debootstrap for the stand-in base image, rootful host networking)';
  return undefined;
}

/** Makes the stand-in node:24-bookworm-slim unless podman already has it (kept between runs). */
export async function ensureBaseImage(timeoutMs: number): Promise<void> {
  if ((await podman(['image', 'exists', BASE_IMAGE], { allowFail: true })).code === 0) return;
  await new Promise<void>((resolve, reject) => {
    const child = spawn('bash', [`${ROOT}scripts/base-image.sh`, BASE_IMAGE], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`scripts/base-image.sh failed (${code ?? 'timed out'}):\n${tail(output)}`));
    });
  });
}

/** Image IDs in podman's store (intermediate ones too), to remove exactly what a build added. */
export async function imageIds(): Promise<Set<string>> {
  const { stdout } = await podman(['images', '--all', '--no-trunc', '--quiet']);
  return new Set(stdout.split('\n').map((line) => line.trim()).filter(Boolean));
}

/** A free TCP port on 127.0.0.1 (the container, on the host's network, binds it next). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** What one test run made: containers, volumes and images, removed by cleanup() in after(). */
export class PodmanScratch {
  readonly containers = new Set<string>();
  readonly volumes = new Set<string>();
  readonly images = new Set<string>();
  readonly tag: string;
  readonly prefix = `porchlight-test-${process.pid}`;

  constructor(tag: string) {
    this.tag = tag;
  }

  /** docker/Dockerfile from the repository root, as Docker would (docker format keeps HEALTHCHECK). */
  async build(timeoutMs: number): Promise<void> {
    const before = await imageIds();
    try {
      await podman(['build', '--format', 'docker', '--pull=never', '--network', 'host', ...ULIMITS,
        '-f', `${ROOT}docker/Dockerfile`, '-t', this.tag, ROOT], { timeoutMs });
    } finally {
      for (const id of await imageIds()) if (!before.has(id)) this.images.add(id);
    }
  }

  async volume(name: string): Promise<string> {
    const full = `${this.prefix}-${name}`;
    this.volumes.add(full);
    await podman(['volume', 'create', full]);
    return full;
  }

  /** `podman run -d` on the host's network, with `--init` as compose.yaml has; returns the name. */
  async run(name: string, args: string[], command: string[] = []): Promise<string> {
    const full = `${this.prefix}-${name}`;
    this.containers.add(full);
    // No systemd here for podman's periodic healthcheck timer: the test runs the check itself.
    await podman(['run', '-d', '--name', full, '--init', '--network', 'host', ...ULIMITS,
      '--health-interval', 'disable', ...args, this.tag, ...command]);
    return full;
  }

  exec(name: string, command: string[], timeoutMs = 15_000): Promise<Result> {
    return podman(['exec', name, ...command], { timeoutMs, allowFail: true });
  }

  async logs(name: string): Promise<string> {
    const { stdout, stderr } = await podman(['logs', name], { allowFail: true });
    return stdout + stderr;
  }

  async inspect(name: string, format: string): Promise<string> {
    return (await podman(['inspect', name, '--format', format])).stdout.trim();
  }

  /** Container processes as host PIDs with their command names (`podman top`). */
  async processes(name: string): Promise<Array<{ hpid: number; comm: string }>> {
    const { stdout } = await podman(['top', name, 'hpid', 'comm']);
    return stdout.trim().split('\n').slice(1).map((line) => {
      const [hpid, comm] = line.trim().split(/\s+/);
      assert.ok(hpid && comm, `podman top: ${line}`);
      return { hpid: Number(hpid), comm };
    });
  }

  /** Removes containers and volumes an earlier run left behind when it was killed before its after(). */
  async removeStale(): Promise<void> {
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch (err) {
        return (err as NodeJS.ErrnoException).code === 'EPERM';
      }
    };
    const stale = (names: string) => names.split('\n').filter((name) => {
      const pid = /^porchlight-test-(\d+)-/.exec(name)?.[1];
      return pid !== undefined && !alive(Number(pid));
    });
    const containers = stale((await podman(['ps', '--all', '--format', '{{.Names}}'])).stdout);
    if (containers.length > 0) await podman(['rm', '--force', '--ignore', '--time', '0', ...containers], { timeoutMs: 60_000 });
    const volumes = stale((await podman(['volume', 'ls', '--format', '{{.Name}}'])).stdout);
    if (volumes.length > 0) await podman(['volume', 'rm', '--force', ...volumes], { timeoutMs: 60_000 });
  }

  /** Removes what this run made (force: a test that failed midway may have left one running). */
  async cleanup(): Promise<void> {
    const errors: string[] = [];
    const attempt = async (args: string[]) => {
      const { code, stderr } = await podman(args, { timeoutMs: 60_000, allowFail: true });
      if (code !== 0) errors.push(`podman ${args.join(' ')}: ${stderr.trim()}`);
    };
    if (this.containers.size > 0) await attempt(['rm', '--force', '--ignore', '--time', '0', ...this.containers]);
    if (this.volumes.size > 0) await attempt(['volume', 'rm', '--force', ...this.volumes]);
    if (this.images.size > 0) await attempt(['rmi', '--force', '--ignore', ...this.images]);
    assert.deepEqual(errors, [], 'podman cleanup');
  }
}
