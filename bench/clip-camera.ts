/**
 * The whole-house benchmark's cameras: a clip encoded once by ffmpeg, looped to every client of
 * bench/fake-camera-clip.py's mount points (/cam0…/camN-1) with no encoding per camera.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { watchOutput } from './child-output.ts';

const SCRIPT = fileURLToPath(new URL('./fake-camera-clip.py', import.meta.url));
const READY_TIMEOUT_MS = 15_000;

export interface ClipSpec {
  width: number;
  height: number;
  fps: number;
  /** Keyframe interval, s; the clip is a whole number of GOPs so it loops onto a keyframe. */
  gop: number;
  gops: number;
  kbps: number;
}

/** ffmpeg's arguments for the clip: moving test pattern with grain (so it costs its bitrate), H.264 with AUDs. */
export function clipArgs(spec: ClipSpec, out: string): string[] {
  const frames = spec.fps * spec.gop;
  return [
    '-hide_banner', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', `testsrc2=size=${spec.width}x${spec.height}:rate=${spec.fps}`,
    '-frames:v', String(frames * spec.gops),
    '-vf', 'noise=alls=12:allf=t',
    '-c:v', 'libx264', '-preset', 'veryfast', '-profile:v', 'main', '-pix_fmt', 'yuv420p',
    '-b:v', `${spec.kbps}k`, '-maxrate', `${Math.round(spec.kbps * 1.2)}k`, '-bufsize', `${spec.kbps * 2}k`,
    '-g', String(frames), '-keyint_min', String(frames), '-sc_threshold', '0',
    '-x264-params', 'aud=1',
    '-f', 'h264', out,
  ];
}

export interface ClipCamera {
  readonly pid: number;
  /** rtsp://127.0.0.1:<port>/cam<index> */
  url(index: number): string;
  /** Idempotent: stops the server and removes the clip. */
  close(): Promise<void>;
}

export async function startClipCamera(spec: ClipSpec, cameras: number): Promise<ClipCamera> {
  const dir = mkdtempSync(join(tmpdir(), 'porchlight-clip-'));
  const clip = join(dir, 'clip.h264');
  try {
    await promisify(execFile)('ffmpeg', clipArgs(spec, clip), { timeout: 120_000 });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`encoding the benchmark clip failed: ${(err as Error).message}`);
  }
  const child = spawn('/usr/bin/python3', [SCRIPT, '--clip', clip, '--fps', String(spec.fps), '--cameras', String(cameras)], { stdio: ['pipe', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let closing: Promise<void> | undefined;
  const close = () => (closing ??= (async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.stdin!.end();
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  })());
  const output = watchOutput(child, 4096);
  try {
    const base = await output.ready(/READY (rtsp:\/\/\S+)/, READY_TIMEOUT_MS, 'fake-camera-clip.py');
    return { pid: child.pid ?? -1, url: (index) => `${base}${index}`, close };
  } catch (err) {
    await close();
    throw err;
  }
}
