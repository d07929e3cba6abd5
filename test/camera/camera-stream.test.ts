import { after, describe, test } from 'node:test';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { CameraStream } from '../../src/camera/camera-stream.ts';
import type { MediaPacket, StreamViewer } from '../../src/camera/viewer.ts';
import { DEMO_CLIP } from '../../src/config/load.ts';
import { createLogger } from '../../src/log.ts';
import { until } from '../helpers/until.ts';

const log = createLogger({ level: 'silent' });
const streams: CameraStream[] = [];
after(() => Promise.all(streams.map((s) => s.close())));

function stream(options: Partial<ConstructorParameters<typeof CameraStream>[0]> = {}): CameraStream {
  const created = new CameraStream({ id: 'cam', url: `file:${DEMO_CLIP}`, transcode: 'auto', preload: false, lingerMs: 0, ffmpegPath: 'ffmpeg', log, ...options });
  streams.push(created);
  return created;
}

/** A viewer that records what reaches it; it is "ready" from the start. */
function recordingViewer(id: string) {
  const packets: MediaPacket[] = [];
  let sourceChanges = 0;
  const viewer: StreamViewer = {
    id,
    ready: true,
    deliver: (packet) => packets.push(packet),
    sourceChanged: () => (sourceChanges += 1),
  };
  return { viewer, packets, sourceChanges: () => sourceChanges };
}

/** Resolves at the stream's next `state` event equal to `wanted`. */
function nextState(stream: CameraStream, wanted: string): Promise<void> {
  return new Promise((resolve) => {
    const onState = (state: string) => {
      if (state !== wanted) return;
      stream.off('state', onState);
      resolve();
    };
    stream.on('state', onState);
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('CameraStream', () => {
  test('ffmpeg that cannot start is retried with a doubling, capped backoff, viewers kept', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
    const broken = stream({ ffmpegPath: '/nonexistent/ffmpeg', restart: { initialMs: 100, maxMs: 400 } });
    const failures: string[] = [];
    broken.on('failure', (failure) => failures.push(failure.code));
    const failed = () => once(broken, 'failure');
    let next = failed();
    broken.addViewer(recordingViewer('v').viewer);
    await next;
    // The spawn fails on its own (no timer involved); each retry waits exactly its backoff.
    for (const delayMs of [100, 200, 400, 400, 400]) {
      assert.equal(broken.status().state, 'restarting');
      t.mock.timers.tick(delayMs - 1);
      assert.equal(broken.status().state, 'restarting', `not before ${delayMs} ms`);
      next = failed();
      t.mock.timers.tick(1);
      await next;
    }
    assert.equal(broken.status().starts, 6);
    assert.equal(broken.status().restarts, 5);
    assert.deepEqual(new Set(failures), new Set(['SPAWN_FAILED']));
    assert.equal(broken.viewerCount, 1);
    assert.equal(broken.status().state, 'restarting');
    assert.match(broken.status().lastFailure!.message, /cannot run ffmpeg/);
    await broken.close();
  });

  test('fans the clip out to every viewer, marks keyframes, and replays the cache to a late viewer', async () => {
    const clip = stream();
    const first = recordingViewer('first');
    clip.addViewer(first.viewer);
    await until('video and audio', () => first.packets.some((p) => p.kind === 'audio') && first.packets.filter((p) => p.keyframe).length >= 2, 5000);
    assert.equal(clip.state, 'streaming');

    const late = recordingViewer('late');
    clip.addViewer(late.viewer);
    const before = late.packets.length;
    clip.viewerReady('late');
    const replayed = late.packets.slice(before);
    assert.ok(replayed.length > 0, 'the keyframe cache was replayed');
    assert.ok(replayed.every((p) => p.kind === 'video'));
    // The replay starts at the cached keyframe: same timestamp as the last keyframe the first viewer saw.
    const lastKeyframe = first.packets.filter((p) => p.keyframe).at(-1)!;
    assert.equal(replayed[0]!.header.timestamp, lastKeyframe.header.timestamp);
  });

  test('stops ffmpeg after the linger once the last viewer leaves, and starts again for the next', async () => {
    const clip = stream({ lingerMs: 200 });
    const viewer = recordingViewer('v');
    clip.addViewer(viewer.viewer);
    await until('streaming', () => clip.state === 'streaming', 5000);
    const firstPid = clip.status().pid;
    clip.removeViewer('v');
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(clip.state, 'streaming', 'still lingering');
    await until('idle', () => clip.state === 'idle', 2000);
    assert.equal(clip.status().pid, undefined);
    await until('the stopped ffmpeg to exit', () => !alive(firstPid!), 3000);
    clip.addViewer(viewer.viewer);
    await until('streaming again', () => clip.state === 'streaming', 5000);
  });

  test('close() is idempotent and leaves no ffmpeg', async () => {
    const clip = stream({ preload: true });
    await until('preloaded stream running', () => clip.state === 'streaming', 5000);
    const pid = clip.status().pid!;
    await Promise.all([clip.close(), clip.close()]);
    assert.equal(clip.state, 'closed');
    assert.equal(alive(pid), false, 'close() resolves once ffmpeg has exited');
    assert.throws(() => clip.addViewer(recordingViewer('x').viewer), /closed/);
  });
});

describe('CameraStream re-planning', () => {
  test('a camera that flips between a copy and a transcode stream does not restart ffmpeg every second', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'porchlight-flip-'));
    try {
      // A stand-in ffmpeg whose camera alternates 1920x1080 (transcode) and 640x360 (copy) at every start.
      const script = join(dir, 'flipping-ffmpeg');
      writeFileSync(script, [
        '#!/bin/sh',
        `f=${join(dir, 'count')}; n=$(cat "$f" 2>/dev/null || echo 0); echo $((n + 1)) > "$f"`,
        'if [ $((n % 2)) -eq 0 ]; then size=1920x1080; else size=640x360; fi',
        'echo "Input #0, rtsp, from \'rtsp://cam/\':" >&2',
        'echo "  Stream #0:0: Video: h264 (High), yuv420p, $size" >&2',
        'echo "Stream mapping:" >&2',
        'exec sleep 30',
      ].join('\n'), { mode: 0o755 });
      t.mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
      const flipping = stream({ url: 'rtsp://127.0.0.1:9/cam', ffmpegPath: script, preload: true, restart: { initialMs: 1000, maxMs: 30_000 } });
      // Unbounded, this is a restart per flip; with backoff: the first flip at once, then 1 s, 2 s, 4 s.
      await nextState(flipping, 'restarting');
      assert.equal(flipping.status().starts, 2, 'the first flip re-plans at once');
      for (const delayMs of [1000, 2000, 4000]) {
        const starts = flipping.status().starts;
        t.mock.timers.tick(delayMs - 1);
        assert.equal(flipping.status().starts, starts, `no start before ${delayMs} ms`);
        const restarting = nextState(flipping, 'restarting');
        t.mock.timers.tick(1);
        await restarting;
        assert.equal(flipping.status().starts, starts + 1);
      }
      await flipping.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('CameraStream down', () => {
  test('is down once restarting has not brought video back within downMs, and when it closes', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
    const broken = stream({ ffmpegPath: '/nonexistent/ffmpeg', restart: { initialMs: 300, maxMs: 300 }, downMs: 1000 });
    const downs: string[] = [];
    broken.on('down', (reason) => downs.push(reason));
    let failed = once(broken, 'failure');
    broken.addViewer(recordingViewer('v').viewer);
    await failed;
    // Restarts at 300, 600 and 900 ms fail too: still within the bound.
    for (let i = 0; i < 3; i++) {
      failed = once(broken, 'failure');
      t.mock.timers.tick(300);
      await failed;
    }
    assert.deepEqual(downs, []);
    t.mock.timers.tick(100);
    assert.deepEqual(downs, ['no video from the camera for 1 s']);
    await broken.close();
    assert.deepEqual(downs, ['no video from the camera for 1 s', 'its stream closed']);
  });

  test('is down when it fails for good, with the failure as the reason', async () => {
    const unusable = stream({ url: 'http://camera/stream' });
    const down = once(unusable, 'down');
    unusable.addViewer(recordingViewer('v').viewer);
    const [reason] = await down;
    assert.equal(unusable.state, 'failed');
    assert.equal(reason, `its stream failed: ${unusable.status().lastFailure!.message}`);
  });
});
