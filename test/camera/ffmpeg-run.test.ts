import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { buildFfmpegArgs, type FfmpegInput } from '../../src/camera/ffmpeg-args.ts';
import { ffmpegVersion, ffmpegVersionInfo, parseFfmpegVersion, resolveFfmpegPath } from '../../src/camera/ffmpeg-path.ts';
import { initialStderrState, inputStreams, reduceStderr, splitLines, type StderrState } from '../../src/camera/ffmpeg-stderr.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const VIDEO_PT = 96;
const AUDIO_PT = 111;
const VIDEO_SSRC = 0xdeadbeef; // above 2^31: exercises the signed -ssrc conversion
const AUDIO_SSRC = 0x1234abcd;
const DEADLINE_MS = 5000;

const found = await resolveFfmpegPath();
const skip = found === null ? 'no ffmpeg found (FFMPEG_PATH, ffmpeg-static, PATH)' : false;
// As the bridge does: FFMPEG_PATH may be a 4.x, which needs other flags.
const release = found === null ? null : (await ffmpegVersionInfo(found.path)).version;

interface Capture {
  video: number;
  audio: number;
  wrongVideo: number;
  wrongAudio: number;
  sps: boolean;
  videoTicks: number; // RTP timestamp span covered, 90 kHz
}

/** NAL unit types an H.264 RTP payload starts (single NAL), aggregates (STAP-A) or begins (FU-A). */
function nalTypes(packet: Buffer): number[] {
  const cc = packet[0]! & 0x0f;
  let offset = 12 + cc * 4;
  if (packet[0]! & 0x10) offset += 4 + packet.readUInt16BE(offset + 2) * 4; // header extension
  if (offset >= packet.length) return [];
  const type = packet[offset]! & 0x1f;
  if (type >= 1 && type <= 23) return [type];
  if (type === 24) {
    const types: number[] = [];
    let at = offset + 1;
    for (let n = 0; n < 64 && at + 2 < packet.length; n++) {
      const size = packet.readUInt16BE(at);
      types.push(packet[at + 2]! & 0x1f);
      at += 2 + size;
    }
    return types;
  }
  if (type === 28 && packet[offset + 1]! & 0x80) return [packet[offset + 1]! & 0x1f];
  return [];
}

async function udpSocket(): Promise<Socket> {
  const socket = createSocket('udp4');
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  return socket;
}

/** Runs ffmpeg with buildFfmpegArgs' output until `done(capture)` or the deadline. */
class Run {
  readonly capture: Capture = { video: 0, audio: 0, wrongVideo: 0, wrongAudio: 0, sps: false, videoTicks: 0 };
  lastTimestamp = -1;
  stderr: StderrState = initialStderrState();
  child: ChildProcess | undefined;
  sockets: Socket[] = [];
  startedAt = 0;
  firstVideoMs = -1;

  async start(overrides: Partial<FfmpegInput>): Promise<void> {
    const [video, audio] = [await udpSocket(), await udpSocket()];
    this.sockets = [video, audio];
    video.on('message', (packet) => {
      if ((packet[1]! & 0x7f) !== VIDEO_PT || packet.readUInt32BE(8) !== VIDEO_SSRC) return void this.capture.wrongVideo++;
      if (this.capture.video++ === 0) this.firstVideoMs = Date.now() - this.startedAt;
      if (nalTypes(packet).includes(7)) this.capture.sps = true;
      const timestamp = packet.readUInt32BE(4);
      if (this.lastTimestamp >= 0) {
        const delta = (timestamp - this.lastTimestamp) >>> 0;
        if (delta < 0x80000000) this.capture.videoTicks += delta;
      }
      this.lastTimestamp = timestamp;
    });
    audio.on('message', (packet) => {
      if ((packet[1]! & 0x7f) !== AUDIO_PT || packet.readUInt32BE(8) !== AUDIO_SSRC) return void this.capture.wrongAudio++;
      this.capture.audio++;
    });
    const args = buildFfmpegArgs({
      url: 'file:media/demo.mp4',
      transcode: 'auto',
      videoRtp: { port: video.address().port, payloadType: VIDEO_PT, ssrc: VIDEO_SSRC },
      audioRtp: { port: audio.address().port, payloadType: AUDIO_PT, ssrc: AUDIO_SSRC },
      ...(release && { ffmpegVersion: release }),
      ...overrides,
    });
    this.startedAt = Date.now();
    const child = spawn(found!.path, args, { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    let pending = '';
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      const split = splitLines(pending, chunk);
      pending = split.pending;
      for (const line of split.lines) this.stderr = reduceStderr(this.stderr, line);
    });
  }

  async waitFor(done: (c: Capture) => boolean, deadlineMs = DEADLINE_MS): Promise<void> {
    const deadline = Date.now() + deadlineMs;
    while (!done(this.capture)) {
      if (this.child?.exitCode !== null) assert.fail(`ffmpeg exited early: ${this.stderr.recent.join(' | ')}`);
      if (Date.now() > deadline) assert.fail(`not enough RTP within ${deadlineMs} ms: ${JSON.stringify(this.capture)}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  async close(): Promise<void> {
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
      await exited;
      clearTimeout(timer);
    }
    for (const socket of this.sockets) socket.close();
    this.sockets = [];
  }
}

describe('ffmpeg → RTP on loopback (media/demo.mp4)', { skip }, () => {
  const runs: Run[] = [];
  const run = (): Run => {
    const r = new Run();
    runs.push(r);
    return r;
  };
  let videoOnly = '';
  let scratch = '';

  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'porchlight-ffmpeg-'));
    videoOnly = join(scratch, 'video-only.mp4');
    execFileSync(found!.path, ['-v', 'error', '-i', join(ROOT, 'media/demo.mp4'), '-map', '0:v:0', '-c', 'copy', '-t', '3', videoOnly], { timeout: 10_000 });
  });

  after(async () => {
    await Promise.all(runs.map((r) => r.close()));
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it('copy: H.264 with SPS and Opus arrive with the expected PT and SSRC', async () => {
    const r = run();
    await r.start({});
    await r.waitFor((c) => c.video >= 20 && c.audio >= 10 && c.sps);
    assert.equal(r.capture.wrongVideo, 0);
    assert.equal(r.capture.wrongAudio, 0);
    const { video, audio } = inputStreams(r.stderr);
    assert.deepEqual([video?.codec, video?.profile, video?.width, video?.height], ['h264', 'Constrained Baseline', 1280, 720]);
    assert.deepEqual([audio?.codec, audio?.sampleRate], ['aac', 48000]);
    assert.equal(r.stderr.failure, null);
    // ~100 ms here; `-fflags nobuffer` made it ~1.1 s (a whole GOP of the clip)
    assert.ok(r.firstVideoMs < 1000, `first video packet after ${r.firstVideoMs} ms`);
    await r.close();
  });

  it('transcode always: libx264 baseline output carries SPS too', async () => {
    const r = run();
    await r.start({ transcode: 'always' });
    await r.waitFor((c) => c.video >= 20 && c.audio >= 10 && c.sps);
    assert.equal(r.stderr.failure, null);
    await r.close();
  });

  it('file: keeps streaming across the -stream_loop wrap (3 s clip, 4.5 s of video)', async () => {
    const r = run();
    await r.start({ url: `file:${videoOnly}`, audio: { present: false }, audioRtp: undefined });
    await r.waitFor((c) => c.videoTicks >= 4.5 * 90_000, 8000);
    assert.equal(r.stderr.failure, null);
    assert.deepEqual(r.stderr.recent.filter((line) => /error|EOF/i.test(line)), []);
    await r.close();
  });

  it('audio unknown but absent: video flows, nothing reaches the audio port', async () => {
    const r = run();
    await r.start({ url: `file:${videoOnly}` });
    await r.waitFor((c) => c.video >= 20 && c.sps);
    await new Promise((resolveWait) => setTimeout(resolveWait, 300));
    assert.equal(r.capture.audio + r.capture.wrongAudio, 0, 'the audio port got packets (video re-encoded to the audio output?)');
    assert.equal(r.stderr.failure, null);
    await r.close();
  });
});

describe('ffmpeg-path', () => {
  let dir = '';
  let fake = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'porchlight-ffmpeg-path-'));
    fake = join(dir, 'ffmpeg');
    await writeFile(fake, '#!/bin/sh\necho "ffmpeg version 6.1.1-fake Copyright (c)"\n');
    await chmod(fake, 0o755);
    await writeFile(join(dir, 'slow'), '#!/bin/sh\nexec sleep 10\n');
    await chmod(join(dir, 'slow'), 0o755);
    await writeFile(join(dir, 'notexec'), 'x');
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  const none = async (): Promise<unknown> => { throw new Error("Cannot find package 'ffmpeg-static'"); };

  it('FFMPEG_PATH wins, and a wrong one is an error rather than a silent fallback', async () => {
    assert.deepEqual(await resolveFfmpegPath({ FFMPEG_PATH: fake, PATH: '/usr/bin' }, { loadStatic: async () => '/usr/bin/ffmpeg' }), { path: fake, source: 'FFMPEG_PATH' });
    await assert.rejects(resolveFfmpegPath({ FFMPEG_PATH: join(dir, 'notexec') }), /not an executable file/);
    await assert.rejects(resolveFfmpegPath({ FFMPEG_PATH: dir }), /not an executable file/);
  });

  it('then ffmpeg-static when installed and its binary exists', async () => {
    assert.deepEqual(await resolveFfmpegPath({ PATH: '' }, { loadStatic: async () => fake }), { path: fake, source: 'ffmpeg-static' });
    // installed but the binary download failed, or an unsupported platform (exports null)
    assert.equal(await resolveFfmpegPath({ PATH: '' }, { loadStatic: async () => join(dir, 'missing') }), null);
    assert.equal(await resolveFfmpegPath({ PATH: '' }, { loadStatic: async () => null }), null);
  });

  it('then PATH, skipping relative and empty entries', async () => {
    assert.deepEqual(await resolveFfmpegPath({ PATH: `:relative:/nonexistent:${dir}` }, { loadStatic: none }), { path: fake, source: 'PATH' });
    assert.equal(await resolveFfmpegPath({ PATH: '/nonexistent' }, { loadStatic: none }), null);
    assert.equal(await resolveFfmpegPath({}, { loadStatic: none }), null);
  });

  it('the real default import of ffmpeg-static fails soft when it is not installed', async () => {
    const result = await resolveFfmpegPath({ PATH: dir });
    assert.ok(result !== null && ['ffmpeg-static', 'PATH'].includes(result.source));
  });

  it('ffmpegVersion reads the first line, and times out', async () => {
    assert.equal(await ffmpegVersion(fake), 'ffmpeg version 6.1.1-fake Copyright (c)');
    const started = Date.now();
    await assert.rejects(ffmpegVersion(join(dir, 'slow'), 300), /no answer within 300 ms/);
    assert.ok(Date.now() - started < 3000);
    await assert.rejects(ffmpegVersion(join(dir, 'missing')), /-version failed/);
  });

  it('ffmpegVersion on the ffmpeg found here', { skip }, async () => {
    const line = await ffmpegVersion(found!.path);
    assert.match(line, /^ffmpeg version /);
    assert.ok(parseFfmpegVersion(line) === null || parseFfmpegVersion(line)!.major >= 4);
  });

  const snapshot = (libavutil: string): string =>
    `ffmpeg version N-47683-g0e8eb07980-static https://johnvansickle.com/ffmpeg/  Copyright (c) 2000-2018\nbuilt with gcc 6.3.0\nlibavutil      ${libavutil} / ${libavutil}\nlibavcodec     58. 42.100 / 58. 42.100\n`;
  const versions: Array<[string, { major: number; minor: number } | null]> = [
    ['ffmpeg version 5.1.9-0+deb12u1 Copyright (c) 2000-2026 the FFmpeg developers', { major: 5, minor: 1 }],
    ['ffmpeg version 4.4.2-0ubuntu0.22.04.1 Copyright (c) 2000-2021', { major: 4, minor: 4 }],
    ['ffmpeg version n6.1.1 Copyright (c) 2000-2023', { major: 6, minor: 1 }],
    ['ffmpeg version 6.0-static https://johnvansickle.com/ffmpeg/  Copyright (c) 2000-2023', { major: 6, minor: 0 }],
    ['ffmpeg version N-113000-g0123456789 Copyright (c) 2000-2024', null],
    ['ffprobe version 5.1', null],
    ['ffmpeg version 7.1.1-1+b1 Copyright (c) 2000-2025', { major: 7, minor: 1 }],
    // Git snapshots: the release their libavutil grew from (@ffmpeg-installer/linux-x64's "4.1" is the first).
    [snapshot('56. 24.101'), { major: 4, minor: 1 }],
    [snapshot('57. 20.100'), { major: 5, minor: 0 }],
    [snapshot('58. 35.100'), { major: 6, minor: 1 }],
    [snapshot('61.  3.100'), { major: 8, minor: 0 }],
    [snapshot('55. 78.100'), null], // 3.4: older than anything known
  ];
  for (const [line, expected] of versions) it(`parseFfmpegVersion: ${line.slice(0, 40)}${/ … libavutil[^/]*/.exec(line.replace(/\n(?=libavutil)/, ' … '))?.[0] ?? ''}`, () => assert.deepEqual(parseFfmpegVersion(line), expected));
});
