import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { buildFfmpegArgs } from '../../src/camera/ffmpeg-args.ts';
import { resolveFfmpegPath } from '../../src/camera/ffmpeg-path.ts';
import { FfmpegProcess, type FfmpegExit, type FfmpegStreams } from '../../src/camera/ffmpeg-process.ts';
import { RtpIntake } from '../../src/camera/rtp-intake.ts';
import { createLogger } from '../../src/log.ts';
import { startFakeCamera, type FakeCamera } from '../fixtures/fake-camera.ts';

const found = await resolveFfmpegPath();
const skip = found === null ? 'no ffmpeg found (FFMPEG_PATH, ffmpeg-static, PATH)' : false;

const USER = 'admin';
const PASSWORD = 'Right-pw@42'; // '@' gets percent-encoded in the URL: check both spellings
const WRONG = 'Wr0ng-pw-9x7';
const SECRETS = [PASSWORD, encodeURIComponent(PASSWORD), WRONG];

const processes: FfmpegProcess[] = [];
const intakes: RtpIntake[] = [];
const cameras: FakeCamera[] = [];
let scratch = '';

after(async () => {
  await Promise.all(processes.map((p) => p.close()));
  for (const intake of intakes) intake.close();
  await Promise.all(cameras.map((c) => c.close()));
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

/** A debug-level logger whose every line is kept, to check what reaches the log. */
function capturingLogger(): { log: ReturnType<typeof createLogger>; lines: string[] } {
  const lines: string[] = [];
  const destination = new Writable({ write: (chunk, _encoding, done) => (lines.push(String(chunk)), done()) });
  return { log: createLogger({ level: 'debug', destination }), lines };
}

function ffmpeg(options: { ffmpegPath?: string; args: string[]; killAfterMs?: number }) {
  const { log, lines } = capturingLogger();
  const proc = new FfmpegProcess({ ffmpegPath: options.ffmpegPath ?? found!.path, args: options.args, log, killAfterMs: options.killAfterMs });
  processes.push(proc);
  const exited = new Promise<FfmpegExit>((resolve) => proc.once('exit', resolve));
  return { proc, lines, exited };
}

async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function openIntake(): Promise<RtpIntake> {
  const intake = await RtpIntake.open();
  intakes.push(intake);
  return intake;
}

function cameraArgs(url: string, intake: RtpIntake): string[] {
  return buildFfmpegArgs({
    url,
    transcode: 'auto',
    videoRtp: { port: intake.videoPort, payloadType: 96, ssrc: 0x1111 },
    audioRtp: { port: intake.audioPort, payloadType: 111, ssrc: 0x2222 },
    timeoutMs: 3000,
  });
}

function assertNoSecrets(texts: readonly string[]): void {
  for (const text of texts) {
    for (const secret of SECRETS) assert.ok(!text.includes(secret), `a secret leaked: ${text}`);
  }
}

function pidGone(pid: number): boolean {
  try {
    return !process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

describe('FfmpegProcess with a real ffmpeg', { skip }, () => {
  let camera: FakeCamera;
  before(async () => {
    camera = await startFakeCamera({ width: 640, height: 360, fps: 15, gop: 1, audio: 'pcmu', user: USER, password: PASSWORD, auth: 'digest' });
    cameras.push(camera);
  });

  it('streams a camera to the intake, reports its streams, stops on close()', async () => {
    const intake = await openIntake();
    const { proc, lines, exited } = ffmpeg({ args: cameraArgs(camera.urlWithCredentials, intake) });
    const streams = new Promise<FfmpegStreams>((resolve) => proc.once('streams', resolve));
    const firstVideo = new Promise<void>((resolve) => intake.on('packet', (kind) => kind === 'video' && resolve()));
    proc.start();
    assert.equal(proc.running, true);
    const pid = proc.pid!;
    assert.ok(pid > 0);

    await within(firstVideo, 5000, 'video RTP');
    const { video, audio } = await within(streams, 1000, "'streams' event");
    assert.equal(video?.codec, 'h264');
    assert.equal(video?.width, 640);
    assert.equal(video?.height, 360);
    assert.equal(audio?.codec, 'pcm_mulaw');

    await within(proc.close(), 3000, 'close()');
    const exit = await exited;
    assert.equal(exit.requested, true);
    assert.equal(exit.failure, undefined);
    assert.equal(proc.running, false);
    assert.ok(pidGone(pid), `pid ${pid} still exists`);
    assert.ok(lines.some((line) => line.includes(`${USER}:***@`)), 'the args are logged, redacted');
    assertNoSecrets(lines);
  });

  it('reports a wrong password as AUTH_FAILED without leaking it', async () => {
    const intake = await openIntake();
    const url = camera.url.replace('rtsp://', `rtsp://${USER}:${WRONG}@`);
    const { proc, lines, exited } = ffmpeg({ args: cameraArgs(url, intake) });
    proc.start();
    const exit = await within(exited, 5000, 'exit');
    assert.equal(exit.failure?.code, 'AUTH_FAILED');
    assert.equal(exit.requested, false);
    assert.ok(exit.recent.length > 0);
    assertNoSecrets([...lines, ...exit.recent, exit.failure.line, exit.failure.message]);
    const warnings = lines.map((line) => JSON.parse(line) as { level: string; failure?: string }).filter((l) => l.level === 'warn');
    assert.deepEqual(warnings.map((w) => w.failure), ['AUTH_FAILED'], 'one warning per process');
  });

  it('reports CONNECTION_REFUSED quickly for a closed port', async () => {
    const server = createServer().listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as { port: number }).port;
    await new Promise((resolve) => server.close(resolve));
    const intake = await openIntake();
    const { proc, exited } = ffmpeg({ args: cameraArgs(`rtsp://127.0.0.1:${port}/stream`, intake) });
    proc.start();
    const exit = await within(exited, 3000, 'exit');
    assert.equal(exit.failure?.code, 'CONNECTION_REFUSED');
    assert.ok(exit.runtimeMs < 2000, `took ${exit.runtimeMs} ms`);
  });

  it('reports an external SIGKILL as an unrequested exit', async () => {
    const intake = await openIntake();
    const { proc, exited } = ffmpeg({ args: cameraArgs(camera.urlWithCredentials, intake) });
    const firstVideo = new Promise<void>((resolve) => intake.on('packet', (kind) => kind === 'video' && resolve()));
    proc.start();
    await within(firstVideo, 5000, 'video RTP');
    process.kill(proc.pid!, 'SIGKILL');
    const exit = await within(exited, 3000, 'exit');
    assert.equal(exit.requested, false);
    assert.equal(exit.signal, 'SIGKILL');
    assert.equal(exit.code, null);
    await within(proc.close(), 100, 'close() after exit'); // already gone: resolves at once
  });
});

describe('FfmpegProcess without a camera', () => {
  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'porchlight-ffproc-'));
  });

  it('turns a missing binary into an exit event, not a throw', async () => {
    const { proc, lines, exited } = ffmpeg({ ffmpegPath: join(scratch, 'no-such-ffmpeg'), args: ['-i', `rtsp://${USER}:${WRONG}@127.0.0.1/x`] });
    proc.start();
    const exit = await within(exited, 2000, 'exit');
    assert.equal(exit.failure?.code, 'SPAWN_FAILED');
    assert.match(exit.failure.message, /no-such-ffmpeg \(no such file\)/);
    assert.deepEqual([exit.code, exit.signal, exit.requested], [null, null, false]);
    assert.equal(proc.running, false);
    await within(proc.close(), 100, 'close()');
    assertNoSecrets(lines); // Node's spawn error carries the args (spawnargs)
  });

  it('ffmpeg runs with a minimal environment: no admin token or proxy secret reaches it', async () => {
    const path = join(scratch, 'print-env');
    const out = join(scratch, 'env.txt');
    await writeFile(path, '#!/bin/sh\nenv > "$1"\n');
    await chmod(path, 0o755);
    const saved = { admin: process.env.PORCHLIGHT_ADMIN_TOKEN, proxy: process.env.PORCHLIGHT_PROXY_SECRET };
    process.env.PORCHLIGHT_ADMIN_TOKEN = 'admin-token-must-not-leak';
    process.env.PORCHLIGHT_PROXY_SECRET = 'proxy-secret-must-not-leak';
    try {
      const { proc, exited } = ffmpeg({ ffmpegPath: path, args: [out] });
      proc.start();
      await within(exited, 3000, 'exit');
    } finally {
      for (const [key, value] of [['PORCHLIGHT_ADMIN_TOKEN', saved.admin], ['PORCHLIGHT_PROXY_SECRET', saved.proxy]] as const) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
    }
    const env = await readFile(out, 'utf8');
    assert.doesNotMatch(env, /must-not-leak|PORCHLIGHT_/);
    assert.match(env, /^PATH=/m);
  });

  it('reports a binary that is not executable', async () => {
    const path = join(scratch, 'not-executable');
    await writeFile(path, '#!/bin/sh\n');
    await chmod(path, 0o644);
    const { proc, exited } = ffmpeg({ ffmpegPath: path, args: [] });
    proc.start();
    const exit = await within(exited, 2000, 'exit');
    assert.equal(exit.failure?.code, 'SPAWN_FAILED');
    assert.match(exit.failure.message, /not executable/);
  });

  it('close() before start, twice, and start() after close()', async () => {
    const { proc } = ffmpeg({ args: [] });
    let exits = 0;
    proc.on('exit', () => exits++);
    await within(proc.close(), 100, 'close()');
    await within(proc.close(), 100, 'second close()');
    assert.throws(() => proc.start(), /closed/);
    assert.equal(exits, 0);
    assert.equal(proc.pid, undefined);
  });

  it('concurrent close() calls share one stop; SIGKILL after killAfterMs when SIGTERM is ignored', async () => {
    // Node stands in for an ffmpeg that hangs on SIGTERM.
    const { proc, lines, exited } = ffmpeg({
      ffmpegPath: process.execPath,
      args: ['-e', "process.on('SIGTERM', () => {}); setTimeout(() => {}, 30000); process.stderr.write('ready\\n')"],
      killAfterMs: 200,
    });
    let exits = 0;
    proc.on('exit', () => exits++);
    proc.start();
    // Its stderr line, logged at debug, says the SIGTERM handler is in place.
    for (let i = 0; i < 100 && !lines.some((line) => line.includes('"msg":"ready"')); i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(lines.some((line) => line.includes('"msg":"ready"')), 'the stand-in never got ready');
    const started = performance.now();
    await within(Promise.all([proc.close(), proc.close()]), 3000, 'close()');
    const exit = await exited;
    assert.equal(exit.signal, 'SIGKILL');
    assert.equal(exit.requested, true);
    assert.ok(performance.now() - started >= 190);
    assert.equal(exits, 1);
  });

  it('parses stream info and failures from stderr, redacted, as lines arrive in pieces', async () => {
    const stderr = [
      `[info] Input #0, rtsp, from 'rtsp://${USER}:${WRONG}@cam/':`,
      '[info]   Stream #0:0: Video: hevc (Main), yuv420p(tv), 2560x1440, 20 fps, 20 tbr, 90k tbn',
      '[info]   Stream #0:1: Audio: aac (LC), 16000 Hz, mono, fltp',
      '[info] Stream mapping:',
      `[tcp @ 0x5555] [error] rtsp://${USER}:${WRONG}@cam/: Connection timed out`,
    ].join('\n');
    const script = `const s = ${JSON.stringify(stderr)}; let i = 0;
      const t = setInterval(() => { process.stderr.write(s.slice(i, i + 7)); i += 7; if (i >= s.length) { clearInterval(t); process.exitCode = 1; } }, 1);`;
    const { proc, lines, exited } = ffmpeg({ ffmpegPath: process.execPath, args: ['-e', script] });
    const streams = new Promise<FfmpegStreams>((resolve) => proc.once('streams', resolve));
    proc.start();
    const exit = await within(exited, 3000, 'exit');
    const { video, audio } = await within(streams, 100, "'streams'");
    assert.deepEqual([video?.codec, video?.width, video?.height, audio?.codec], ['hevc', 2560, 1440, 'aac']);
    assert.equal(exit.code, 1);
    assert.equal(exit.failure?.code, 'TIMEOUT');
    assert.deepEqual(exit.recent, [`rtsp://${USER}:***@cam/: Connection timed out`]);
    assertNoSecrets([...lines, ...exit.recent]);
  });
});
