import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HealthMonitor, type CameraHealth } from '../../src/camera/health.ts';
import { createLogger } from '../../src/log.ts';

const dir = mkdtempSync(join(tmpdir(), 'porchlight-health-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('connectivity is debounced: two failures to go UNREACHABLE, one success to come back', async () => {
  const clip = join(dir, 'clip.mp4');
  writeFileSync(clip, 'not really a clip');
  const monitor = new HealthMonitor({ cameras: [{ id: 'cam', url: `file:${clip}` }], intervalMs: 60_000, log: createLogger({ level: 'silent' }) });
  const changes: Array<[string, CameraHealth['value'], string | undefined]> = [];
  monitor.on('change', (id, health, previous) => changes.push([id, health.value, previous?.value]));
  try {
    assert.equal((await monitor.connectivity('cam')).value, 'OK'); // the first reading is taken as is
    unlinkSync(clip);
    assert.equal((await monitor.probe('cam')).value, 'OK', 'one failed probe is not enough');
    const down = await monitor.probe('cam');
    assert.equal(down.value, 'UNREACHABLE');
    assert.match(down.reason!, /cannot read/);
    writeFileSync(clip, 'back');
    assert.equal((await monitor.probe('cam')).value, 'OK');
    monitor.noteStreamFailure('cam', 'STALLED', 'no video');
    assert.equal(monitor.health('cam')!.value, 'OK', 'a stream failure counts as one failure');
    assert.deepEqual(changes, [['cam', 'OK', undefined], ['cam', 'UNREACHABLE', 'OK'], ['cam', 'OK', 'UNREACHABLE']]);
  } finally {
    monitor.close();
  }
});

test('concurrent probes share one; close() cancels and is idempotent', async () => {
  const monitor = new HealthMonitor({ cameras: [{ id: 'cam', url: 'rtsp://127.0.0.1:9/none' }], intervalMs: 60_000, log: createLogger({ level: 'silent' }) });
  const [a, b] = [monitor.probe('cam'), monitor.probe('cam')];
  assert.equal(a, b);
  await a;
  monitor.close();
  monitor.close();
  await assert.rejects(monitor.probe('nope'), /unknown camera/);
});
