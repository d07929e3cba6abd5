import { after, describe, test } from 'node:test';
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

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('CameraStream', () => {
  test('ffmpeg that cannot start is retried with a doubling, capped backoff, viewers kept', async () => {
    const failuresAt: number[] = [];
    const broken = stream({ ffmpegPath: '/nonexistent/ffmpeg', restartInitialMs: 100, restartMaxMs: 400 });
    broken.on('failure', (failure) => {
      assert.equal(failure.code, 'SPAWN_FAILED');
      failuresAt.push(Date.now());
    });
    broken.addViewer(recordingViewer('v').viewer);
    await until('six attempts', () => failuresAt.length >= 6, 5000);
    const gaps = failuresAt.slice(1).map((t, i) => t - failuresAt[i]!);
    // 100, 200, 400, 400, 400 ms (timer jitter aside).
    const expected = [100, 200, 400, 400, 400];
    gaps.slice(0, 5).forEach((gap, i) => assert.ok(gap >= expected[i]! - 5 && gap < expected[i]! + 150, `gap ${i}: ${gap} ms, expected ~${expected[i]}`));
    assert.equal(broken.viewerCount, 1);
    assert.equal(broken.status().state, 'restarting');
    assert.match(broken.status().lastFailure!.message, /cannot run ffmpeg/);
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
  test('a camera that flips between a copy and a transcode stream does not restart ffmpeg every second', async () => {
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
      const flipping = stream({ url: 'rtsp://127.0.0.1:9/cam', ffmpegPath: script, preload: true, restartInitialMs: 1000 });
      await new Promise((resolve) => setTimeout(resolve, 4000));
      const { starts } = flipping.status();
      // Unbounded, this is dozens; with backoff: the first flip at once, then 1 s, then 2 s.
      assert.ok(starts >= 3 && starts <= 5, `${starts} ffmpeg starts in 4 s`);
      await flipping.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
