import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { parse as parseYaml } from 'yaml';
import { join } from 'node:path';
import { editConfigText } from '../../src/config/camera-yaml.ts';
import { ConfigSaveError, resolveConfigPath, saveConfigEdit } from '../../src/config/config-file.ts';
import { DEMO_CLIP, loadConfigFile } from '../../src/config/load.ts';

const dir = mkdtempSync(join(tmpdir(), 'porchlight-config-file-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const ORIGINAL = `# My porchlight.  Keep this comment!
server:
  port: 8080   # the LAN port

cameras:
  # the one at the door
  - id: front-door
    name: Front Door     # what Alexa calls it
    kind: doorbell
    url: file:${DEMO_CLIP}
  - id: yard
    name: Yard
    url: file:${DEMO_CLIP}

lingerSec: 10 # after the last viewer
`;

/** Lines of `after` that are not in `before`, and lines of `before` missing from `after` (in order). */
function lineChanges(before: string, after: string): { added: string[]; removed: string[] } {
  const a = before.split('\n');
  const b = after.split('\n');
  // Longest common subsequence, small inputs.
  const lcs = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) for (let j = b.length - 1; j >= 0; j--) lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
  const added: string[] = [];
  const removed: string[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) { i++; j++; } else if (j < b.length && (i === a.length || lcs[i]![j + 1]! >= lcs[i + 1]![j]!)) added.push(b[j++]!); else removed.push(a[i++]!);
  }
  return { added, removed };
}

test('an added camera adds its lines and nothing else changes, comments and order included', () => {
  const next = editConfigText(ORIGINAL, { kind: 'upsert-camera', camera: { id: 'garage', name: 'Garage', url: 'rtsp://admin:pw@192.168.1.30/stream1' } });
  const { added, removed } = lineChanges(ORIGINAL, next);
  assert.deepEqual(removed, []);
  assert.deepEqual(added, ['  - id: garage', '    name: Garage', '    url: rtsp://admin:pw@192.168.1.30/stream1']);
});

test('an edited camera changes only the lines of the keys that changed; a removed one loses only its lines', () => {
  const renamed = editConfigText(ORIGINAL, { kind: 'upsert-camera', camera: { id: 'front-door', name: 'Porch', kind: 'doorbell' } });
  assert.deepEqual(lineChanges(ORIGINAL, renamed), { added: ['    name: Porch     # what Alexa calls it'], removed: ['    name: Front Door     # what Alexa calls it'] });
  const removed = editConfigText(ORIGINAL, { kind: 'remove-camera', id: 'yard' });
  assert.deepEqual(lineChanges(ORIGINAL, removed), { added: [], removed: ['  - id: yard', '    name: Yard', `    url: file:${DEMO_CLIP}`] });
  const newId = editConfigText(ORIGINAL, { kind: 'upsert-camera', camera: { id: 'garden', name: 'Garden' }, replaces: 'yard' });
  assert.deepEqual(lineChanges(ORIGINAL, newId), { added: ['  - id: garden', '    name: Garden'], removed: ['  - id: yard', '    name: Yard'] });
  assert.throws(() => editConfigText(ORIGINAL, { kind: 'remove-camera', id: 'gate' }), { code: 'NOT_FOUND' });
});

test('saving: validated first (a bad edit names the field and writes nothing), then atomic with a .bak, 0600 once a password is in it', () => {
  const path = join(dir, 'porchlight.yaml');
  writeFileSync(path, ORIGINAL, { mode: 0o644 });
  assert.throws(() => saveConfigEdit({ kind: 'upsert-camera', camera: { id: 'bad id', name: 'Bad', url: 'rtsp://x/' } }, { configPath: path, dataDir: dir, env: {} }), (err: ConfigSaveError) => {
    assert.equal(err.code, 'INVALID');
    assert.match(err.problems.join('\n'), /^cameras\[2\]\.id: /m);
    return true;
  });
  assert.equal(readFileSync(path, 'utf8'), ORIGINAL, 'nothing written');
  const saved = saveConfigEdit({ kind: 'upsert-camera', camera: { id: 'garage', name: 'Garage', url: 'rtsp://admin:pw@192.168.1.30/stream1' } }, { configPath: path, dataDir: dir, env: {} });
  assert.equal(saved.created, false);
  assert.deepEqual(saved.config.cameras.map((c) => c.id), ['front-door', 'yard', 'garage']);
  assert.equal(readFileSync(`${path}.bak`, 'utf8'), ORIGINAL);
  assert.equal(statSync(path).mode & 0o777, 0o600, 'it holds a password now');
  assert.deepEqual(loadConfigFile(path, {}).config.cameras.map((c) => c.id), ['front-door', 'yard', 'garage'], 'start-up reads it');
});

test('with no config file (the embedded demo) the first save creates <dataDir>/porchlight.yaml, which start-up then uses', () => {
  const dataDir = join(dir, 'data');
  const env = { PORCHLIGHT_DATA_DIR: dataDir };
  assert.equal(resolveConfigPath(undefined, env), undefined, 'the demo');
  const saved = saveConfigEdit({ kind: 'upsert-camera', camera: { id: 'door', name: 'Door', url: `file:${DEMO_CLIP}` } }, { configPath: undefined, dataDir, env: {} });
  assert.equal(saved.created, true);
  assert.equal(saved.path, join(dataDir, 'porchlight.yaml'));
  assert.equal(resolveConfigPath(undefined, env), saved.path);
  assert.deepEqual(loadConfigFile(saved.path, {}).config.cameras.map((c) => c.id), ['demo', 'door']);
  assert.equal(resolveConfigPath('/etc/other.yaml', env), '/etc/other.yaml', '--config still wins');
});

test('a configuration mounted read-only: a clear error and the YAML to paste, the file untouched', (t) => {
  if (process.getuid?.() !== 0) return t.skip('needs root to mount a read-only tmpfs');
  const mount = join(dir, 'ro');
  mkdirSync(mount);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mount]);
  try {
    const path = join(mount, 'porchlight.yaml');
    writeFileSync(path, ORIGINAL);
    execFileSync('mount', ['-o', 'remount,ro', mount]);
    assert.throws(() => saveConfigEdit({ kind: 'upsert-camera', camera: { id: 'garage', name: 'Garage', url: 'rtsp://192.168.1.30/s' } }, { configPath: path, dataDir: dir, env: {} }), (err: ConfigSaveError) => {
      assert.equal(err.code, 'READ_ONLY');
      assert.match(err.message, /cannot be written \(EROFS: mounted read-only\?\)/);
      assert.equal(err.yaml, '- id: garage\n  name: Garage\n  url: rtsp://192.168.1.30/s\n');
      return true;
    });
    assert.equal(readFileSync(path, 'utf8'), ORIGINAL);
  } finally {
    execFileSync('umount', [mount]);
  }
});

test('a key added to or taken from a camera is one line; a file without cameras gets the list; what cannot be spliced is still right', () => {
  const withMotion = editConfigText(ORIGINAL, { kind: 'upsert-camera', camera: { id: 'yard', motion: true, name: undefined } });
  assert.deepEqual(lineChanges(ORIGINAL, withMotion), { added: ['    motion: true'], removed: ['    name: Yard'] });
  const bare = '# nothing yet\nlingerSec: 5\n';
  assert.equal(editConfigText(bare, { kind: 'upsert-camera', camera: { id: 'door', name: 'Door', url: 'rtsp://cam/s' } }),
    '# nothing yet\nlingerSec: 5\ncameras:\n  - id: door\n    name: Door\n    url: rtsp://cam/s\n');
  // A nested mapping value and a flow-style list are re-printed whole: the data is what matters then.
  const nested = editConfigText(ORIGINAL, { kind: 'upsert-camera', camera: { id: 'yard', onvif: { url: 'http://10.0.0.2/onvif/device_service', username: 'events' } } });
  assert.deepEqual((parseYaml(nested) as any).cameras[1], { id: 'yard', name: 'Yard', url: `file:${DEMO_CLIP}`, onvif: { url: 'http://10.0.0.2/onvif/device_service', username: 'events' } });
  const flow = editConfigText('cameras: [{ id: a, url: "rtsp://a/s" }]\n', { kind: 'upsert-camera', camera: { id: 'b', url: 'rtsp://b/s' } });
  assert.deepEqual((parseYaml(flow) as any).cameras.map((c: { id: string }) => c.id), ['a', 'b']);
});
