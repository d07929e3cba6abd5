// CameraStreams taking a new camera list while running (issue 27): real ffmpeg on the demo clip.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { CameraStream } from '../../src/camera/camera-stream.ts';
import { CAMERA_REMOVED_REASON, CameraStreams } from '../../src/camera/camera-streams.ts';
import type { MediaPacket, StreamViewer } from '../../src/camera/viewer.ts';
import { DEMO_CLIP } from '../../src/config/load.ts';
import type { CameraConfig } from '../../src/config/schema.ts';
import { createLogger } from '../../src/log.ts';
import { until } from '../helpers/until.ts';

const log = createLogger({ level: 'silent' });

function camera(id: string, settings: Partial<CameraConfig> = {}): CameraConfig {
  return { id, name: id, kind: 'camera', url: `file:${DEMO_CLIP}`, talkback: 'none', transcode: 'auto', preload: false, ...settings };
}

function cameraStreams(cameras: CameraConfig[]): CameraStreams {
  return new CameraStreams({ cameras, defaultLingerSec: 0, ffmpegPath: () => 'ffmpeg', log });
}

function countingViewer(id: string) {
  const packets: MediaPacket[] = [];
  const viewer: StreamViewer = { id, ready: true, deliver: (packet) => packets.push(packet), sourceChanged: () => {} };
  return { viewer, packets };
}

function downReasons(stream: CameraStream): string[] {
  const reasons: string[] = [];
  stream.on('down', (reason) => reasons.push(reason));
  return reasons;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('CameraStreams.setCameras', () => {
  test('keeps unchanged streams and their viewers, closes removed and changed ones, makes new ones lazily', async () => {
    const streams = cameraStreams([camera('kept'), camera('gone'), camera('moved')]);
    try {
      const viewers = new Map(['kept', 'gone', 'moved'].map((id) => [id, countingViewer(`${id}-viewer`)]));
      const running = new Map<string, CameraStream>();
      for (const [id, { viewer }] of viewers) {
        const stream = streams.get(id)!;
        stream.addViewer(viewer);
        running.set(id, stream);
      }
      await until('all three streaming', () => [...running.values()].every((stream) => stream.state === 'streaming'), 15_000);
      const pids = new Map([...running].map(([id, stream]) => [id, stream.status().pid!]));
      const goneDown = downReasons(running.get('gone')!);
      const movedDown = downReasons(running.get('moved')!);
      const keptDown = downReasons(running.get('kept')!);

      const next = [camera('kept', { name: 'Kept, renamed' }), camera('moved', { lingerSec: 5 }), camera('fresh')];
      assert.deepEqual(streams.setCameras(next), { removed: ['gone'], changed: ['moved'], added: ['fresh'] });

      // Removed and changed: closed at once, saying why; their ffmpeg goes.
      assert.deepEqual(goneDown, [CAMERA_REMOVED_REASON]);
      assert.match(movedDown[0] ?? '', /configuration changed \(lingerMs\)/);
      assert.equal(running.get('gone')!.state, 'closed');
      assert.equal(running.get('moved')!.state, 'closed');
      await until('the removed and changed cameras’ ffmpeg to exit', () => !alive(pids.get('gone')!) && !alive(pids.get('moved')!), 5000);
      assert.equal(streams.get('gone'), undefined, 'a removed camera has no stream any more');

      // A changed camera gets a new stream on next use; an added one too, neither started before.
      assert.equal(streams.peek('moved'), undefined);
      assert.equal(streams.peek('fresh'), undefined);
      const moved = streams.get('moved')!;
      assert.notEqual(moved, running.get('moved'));
      assert.equal(moved.state, 'idle');
      assert.equal(streams.get('fresh')!.state, 'idle');

      // Unchanged (a new name is not a stream setting): the same stream, its viewer still served.
      const kept = running.get('kept')!;
      assert.equal(streams.get('kept'), kept);
      assert.equal(kept.viewerCount, 1);
      assert.deepEqual(keptDown, []);
      assert.equal(kept.status().pid, pids.get('kept'));
      const before = viewers.get('kept')!.packets.length;
      await until('video still reaching the kept viewer', () => viewers.get('kept')!.packets.length > before + 10, 5000);

      // Idempotent.
      assert.deepEqual(streams.setCameras(next), { removed: [], changed: [], added: [] });
      assert.equal(streams.get('moved'), moved);
      assert.equal(streams.get('kept'), kept);
    } finally {
      await streams.close();
    }
  });

  test('a preload camera added or changed starts at once once the streams are started; close() waits for closing ones', async () => {
    const streams = cameraStreams([camera('porch')]);
    try {
      streams.setCameras([camera('porch'), camera('early', { preload: true })]);
      assert.equal(streams.peek('early'), undefined, 'nothing starts before startPreloaded()');
      streams.startPreloaded();
      const early = streams.peek('early');
      assert.ok(early, 'startPreloaded() starts a preload camera added before it');

      const changes = streams.setCameras([camera('porch', { preload: true }), camera('early', { preload: true }), camera('late', { preload: true })]);
      assert.deepEqual(changes, { removed: [], changed: ['porch'], added: ['late'] });
      const [porch, late] = [streams.peek('porch'), streams.peek('late')];
      assert.ok(porch && late, 'changed and added preload cameras start at once');
      assert.equal(streams.peek('early'), early);
      await until('the preloaded streams running', () => [porch, late, early].every((stream) => stream.state === 'streaming'), 15_000);
      const pids = [porch, late, early].map((stream) => stream.status().pid!);

      streams.setCameras([camera('early', { preload: true })]);
      assert.equal(porch.state, 'closed');
      assert.equal(late.state, 'closed');
      // Their ffmpeg may still be exiting: close() resolves only once it has.
      await streams.close();
      assert.deepEqual(pids.map(alive), [false, false, false], 'no ffmpeg left');
    } finally {
      await streams.close();
    }
  });
});
