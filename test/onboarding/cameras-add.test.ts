/** `porchlight cameras add --url` through the CLI function with an io: the file on disk gets the camera, comments kept. */
import { after, test } from 'node:test';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEMO_CLIP, loadConfigFile } from '../../src/config/load.ts';
import { camerasAdd, withCredentials } from '../../src/onboarding/cameras-add.ts';

const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'porchlight-cameras-add-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function io(env: NodeJS.ProcessEnv = {}) {
  const out = { stdout: '', stderr: '' };
  return { out, io: { env: { PORCHLIGHT_DATA_DIR: join(dir, 'data'), ...env }, stdout: (t: string) => { out.stdout += t; }, stderr: (t: string) => { out.stderr += t; } } };
}

test('cameras add --url writes the camera into the file, comments kept, and says a running bridge applies it', async () => {
  const path = join(dir, 'porchlight.yaml');
  writeFileSync(path, `# Keep this comment\ncameras:\n  - id: yard  # the yard\n    name: Yard\n    url: file:${DEMO_CLIP}\n`);
  const { out, io: cli } = io();
  const code = await camerasAdd({ id: 'porch', name: 'Porch', kind: 'doorbell', url: `file:${DEMO_CLIP}`, config: path }, cli);
  assert.equal(code, 0, out.stderr);
  assert.match(out.stdout, /Saved camera porch/);
  assert.match(out.stdout, /applies it on its own/);
  const text = readFileSync(path, 'utf8');
  assert.match(text, /# Keep this comment/);
  assert.match(text, /# the yard/);
  const { config } = loadConfigFile(path, {});
  assert.deepEqual(config.cameras.map((c) => [c.id, c.kind]), [['yard', 'camera'], ['porch', 'doorbell']]);
});

test('cameras add refuses what the configuration would refuse, and wrong usage, leaving the file alone', async () => {
  const path = join(dir, 'bad.yaml');
  const original = `cameras:\n  - id: yard\n    name: Yard\n    url: file:${DEMO_CLIP}\n`;
  writeFileSync(path, original);
  const bad = io();
  assert.equal(await camerasAdd({ id: 'x', name: 'X', url: 'not a url', config: path }, bad.io), 1);
  assert.match(bad.out.stderr, /invalid/);
  const usage = io();
  assert.equal(await camerasAdd({ id: 'x', name: 'X', config: path }, usage.io), 2);
  assert.match(usage.out.stderr, /--url/);
  assert.equal(readFileSync(path, 'utf8'), original);
});

test('credentials go into the RTSP URL, encoded', () => {
  assert.equal(withCredentials('rtsp://10.0.0.5:554/s1', 'admin', 'p@ss:w/rd'), 'rtsp://admin:p%40ss%3Aw%2Frd@10.0.0.5:554/s1');
  assert.equal(withCredentials('rtsp://10.0.0.5/s1', undefined, undefined), 'rtsp://10.0.0.5/s1');
});

test('cameras add --onvif: inspects, saves the DESCRIBE-confirmed stream with the credentials and onvif.url, never prints the password', async (t) => {
  const { startFakeCamera } = await import('../fixtures/fake-camera.ts');
  const { startFakeOnvifCamera } = await import('../fixtures/fake-onvif-camera.ts');
  const password = 'onvif-secret';
  const stream = await startFakeCamera({ path: '/live/main', width: 1280, height: 720, fps: 10, bitrate: 1500, user: 'admin', password });
  t.after(() => stream.close());
  const cam = await startFakeOnvifCamera({ password, media: { profiles: [{ token: 'main', name: 'mainStream', encoding: 'H264', width: 1280, height: 720, fps: 10, bitrateKbps: 1500, streamUri: stream.url }] } });
  t.after(() => cam.close());
  const path = join(dir, 'onvif.yaml');
  writeFileSync(path, `cameras:\n  - id: yard\n    name: Yard\n    url: file:${DEMO_CLIP}\n`);
  const passwordFile = join(dir, 'password');
  writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
  const onvifUrl = `http://127.0.0.1:${cam.port}`;
  const { out, io: cli } = io();
  const code = await camerasAdd({ id: 'porch', name: 'Porch', onvif: onvifUrl, user: 'admin', 'password-file': passwordFile, config: path }, cli);
  assert.equal(code, 0, out.stderr);
  assert.ok(!`${out.stdout}${out.stderr}`.includes(password), 'no password in the output');
  const porch = loadConfigFile(path, {}).config.cameras.find((c) => c.id === 'porch')!;
  assert.equal(porch.url, stream.urlWithCredentials);
  assert.deepEqual(porch.onvif && typeof porch.onvif === 'object' ? (porch.onvif as { url?: string }).url : porch.onvif, onvifUrl);
});

test('`porchlight cameras add` as a command: the table parses it, main runs it', () => {
  const path = join(dir, 'command.yaml');
  writeFileSync(path, `cameras:\n  - id: yard\n    name: Yard\n    url: file:${DEMO_CLIP}\n`);
  const run = spawnSync(process.execPath, [MAIN, 'cameras', 'add', '--id', 'garage', '--name', 'Garage', '--url', `file:${DEMO_CLIP}`, '--config', path],
    { encoding: 'utf8', timeout: 60_000, env: { ...process.env, PORCHLIGHT_CONFIG: '' } });
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /Saved camera garage/);
  assert.deepEqual(loadConfigFile(path, {}).config.cameras.map((c) => c.id), ['yard', 'garage']);
});
