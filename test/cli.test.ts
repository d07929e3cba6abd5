/** The `porchlight` command as people run it: a real process, its output and exit code. */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEMO_CLIP } from '../src/config/load.ts';
import { startFakeDiscoverySessions } from './fixtures/fake-discovery-sessions.ts';

const BIN = fileURLToPath(new URL('../bin/porchlight', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'porchlight-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs bin/porchlight on this Node (PORCHLIGHT_NODE) with a deadline; `until` ends it early with SIGTERM. */
function run(args: string[], options: { env?: NodeJS.ProcessEnv; until?: RegExp; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(BIN, args, { env: { ...process.env, PORCHLIGHT_NODE: process.execPath, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const deadline = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`porchlight ${args.join(' ')} did not finish:\n${stdout}\n${stderr}`));
    }, options.timeoutMs ?? 15_000);
    let stopping = false;
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      // Once: a second SIGTERM during shutdown would kill it outright.
      if (!stopping && options.until?.test(stdout)) {
        stopping = true;
        child.kill('SIGTERM');
      }
    });
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('close', (code) => {
      clearTimeout(deadline);
      resolve({ code, stdout, stderr });
    });
  });
}

function configFile(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('porchlight CLI', () => {
  test('check-config: OK for a good file, every problem and exit 1 for a bad one', async () => {
    const good = await run(['check-config', '--config', configFile('good.yaml', `cameras:\n  - id: demo\n    name: Demo\n    url: file:${DEMO_CLIP}\n`)]);
    assert.equal(good.code, 0, good.stderr);
    assert.match(good.stdout, /^OK: .*good\.yaml: 1 camera\(s\): demo \(camera\)/);
    const bad = await run(['check-config', '--config', configFile('bad.yaml', 'cameras:\n  - id: a\n    name: A\n    url: http://cam/video\n  - id: a\n    name: B\n    url: rtsp://admin:secret123@cam/s\n')]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /cameras\[0\]\.url: must be rtsp:\/\/, rtsps:\/\/ or file:/);
    assert.doesNotMatch(bad.stderr, /secret123/);
  });

  test('PORCHLIGHT_CONFIG is read when --config is not given; unknown commands exit 2', async () => {
    const viaEnv = await run(['check-config'], { env: { PORCHLIGHT_CONFIG: configFile('env.yaml', `cameras:\n  - id: x\n    name: X\n    url: file:${DEMO_CLIP}\n`) } });
    assert.match(viaEnv.stdout, /env\.yaml: 1 camera\(s\): x/);
    const unknown = await run(['frobnicate']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command "frobnicate"/);
  });

  test('serve: starts on the embedded demo camera, announces generated secrets without printing them, stops on SIGTERM', async () => {
    const dataDir = join(dir, 'serve-data');
    const served = await run(['serve'], {
      env: { PORCHLIGHT_HOST: '127.0.0.1', PORCHLIGHT_PORT: '0', PORCHLIGHT_DATA_DIR: dataDir },
      until: /porchlight listening/,
    });
    assert.equal(served.code, 0, served.stderr);
    const lines = served.stdout.trim().split('\n').map((line) => JSON.parse(line));
    assert.ok(lines.some((l) => l.msg === 'configuration loaded' && l.config === 'embedded demo'));
    const announced = lines.filter((l) => /^generated (proxySecret|adminToken)/.test(l.msg));
    assert.equal(announced.length, 2);
    const { proxySecret } = JSON.parse((await import('node:fs')).readFileSync(join(dataDir, 'secrets.json'), 'utf8'));
    assert.ok(!served.stdout.includes(proxySecret), 'a generated secret was printed');
    assert.ok(lines.some((l) => l.msg === 'shutting down' && l.signal === 'SIGTERM'));
  });

  test('discovery-session: runs against the API until SUCCESS and never prints the token', async (t) => {
    const api = await startFakeDiscoverySessions();
    t.after(() => api.close());
    const result = await run(['discovery-session', '--unit', 'amzn1.alexa.unit.did.test', '--skill-id', 'amzn1.ask.skill.test', '--api-url', api.url, '--poll-interval', '0.05s'], {
      env: { ALEXA_ACCESS_TOKEN: 'Atza|secret-token-value' },
    });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /SUCCESS/);
    assert.ok(!`${result.stdout}${result.stderr}`.includes('secret-token-value'));
    const missing = await run(['discovery-session', '--skill-id', 'x'], { env: { ALEXA_ACCESS_TOKEN: '' } });
    assert.equal(missing.code, 2);
  });
});
