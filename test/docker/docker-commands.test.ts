/**
 * The image's own commands, run on this machine without a Docker engine: its ENTRYPOINT/CMD (from
 * docker/Dockerfile, read by ./docker-files.ts) starts the bridge and its HEALTHCHECK passes against
 * it, then fails once it has stopped on SIGTERM; and the same over HTTPS with a mounted config.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEMO_CLIP } from '../../src/config/load.ts';
import { durationMs, envOf, final, healthcheck, ROOT, runtimeCommand } from './docker-files.ts';

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
