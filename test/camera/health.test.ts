import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { HealthMonitor, type CameraHealth } from '../../src/camera/health.ts';
import { createLogger } from '../../src/log.ts';
import { until } from '../helpers/until.ts';

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

test('setCameras: a new camera is probed at once, a removed one forgotten, a re-pointed one probed afresh', async () => {
  const clip = join(dir, 'set-cameras.mp4');
  writeFileSync(clip, 'a clip');
  const missing = join(dir, 'not-there.mp4');
  const monitor = new HealthMonitor({
    cameras: [{ id: 'kept', url: `file:${clip}` }, { id: 'gone', url: `file:${clip}` }, { id: 'moved', url: `file:${clip}` }],
    intervalMs: 60_000,
    log: createLogger({ level: 'silent' }),
  });
  try {
    monitor.start();
    await until('the first readings', () => monitor.health('kept') && monitor.health('gone') && monitor.health('moved'), 5000);
    const kept = monitor.health('kept');
    const changes: Array<[string, CameraHealth['value'], string | undefined]> = [];
    monitor.on('change', (id, health, previous) => changes.push([id, health.value, previous?.value]));

    const next = [{ id: 'kept', url: `file:${clip}` }, { id: 'moved', url: `file:${missing}` }, { id: 'fresh', url: `file:${clip}` }];
    monitor.setCameras(next);
    assert.equal(monitor.health('gone'), undefined, 'a removed camera is forgotten');
    assert.equal(monitor.health('moved'), undefined, 'a re-pointed camera starts over');
    await until('the new cameras probed', () => monitor.health('fresh') && monitor.health('moved'), 5000);
    // A forgotten camera's first reading is taken as is: no debounce against the old URL's OK.
    assert.deepEqual(changes.sort(), [['fresh', 'OK', undefined], ['moved', 'UNREACHABLE', undefined]]);
    assert.equal(monitor.health('kept'), kept, 'an unchanged camera is not probed again');
    await assert.rejects(monitor.probe('gone'), /unknown camera/);
    monitor.noteStreamFailure('gone', 'STALLED', 'no video');
    monitor.noteStreamHealthy('gone');
    assert.equal(monitor.health('gone'), undefined, "a removed camera's stream reports nothing");

    const fresh = monitor.health('fresh');
    monitor.setCameras(next);
    await sleep(50);
    assert.equal(monitor.health('fresh'), fresh, 'the same list again changes nothing');
    assert.equal(changes.length, 2);
  } finally {
    monitor.close();
  }
});

test('setCameras: a probe under way is aborted and ignored for a removed camera, redone for a re-pointed one', async () => {
  const clip = join(dir, 'repointed.mp4');
  writeFileSync(clip, 'a clip');
  // A camera that accepts the connection and never answers: its probes stay under way.
  const held = new Set<Socket>();
  let closedByProbe = 0;
  const silent = createServer((socket) => {
    held.add(socket);
    socket.resume(); // read and ignore the OPTIONS, so the probe's hang-up is seen
    socket.on('close', () => {
      held.delete(socket);
      closedByProbe += 1;
    });
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const url = `rtsp://127.0.0.1:${(silent.address() as AddressInfo).port}/stream`;
  const monitor = new HealthMonitor({
    cameras: [{ id: 'removed', url }, { id: 'moved', url }],
    intervalMs: 60_000,
    probeTimeoutMs: 30_000,
    log: createLogger({ level: 'silent' }),
  });
  const changes: Array<[string, CameraHealth['value']]> = [];
  monitor.on('change', (id, health) => changes.push([id, health.value]));
  try {
    monitor.start();
    await until('both probes connected', () => held.size === 2, 5000);
    const removedProbe = monitor.probe('removed');
    const movedProbe = monitor.probe('moved');
    monitor.setCameras([{ id: 'moved', url: `file:${clip}` }]);
    await assert.rejects(removedProbe, /removed while being probed/);
    assert.equal((await movedProbe).value, 'OK', "a re-pointed camera's waiters get its fresh probe");
    await until('the aborted probes to hang up', () => closedByProbe === 2, 5000);
    assert.equal(monitor.health('removed'), undefined);
    assert.deepEqual(changes, [['moved', 'OK']], 'nothing is said about the removed camera, nor the old URL');
  } finally {
    monitor.close();
    for (const socket of held) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  }
});
