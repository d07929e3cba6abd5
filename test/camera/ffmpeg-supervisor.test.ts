/**
 * FfmpegSupervisor's logic with stand-in processes and fake timers (restart backoff, re-plans,
 * stall, stop and close at every state), then once with the real ffmpeg and the demo clip.
 */
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { FfmpegExit, FfmpegProcessEvents } from '../../src/camera/ffmpeg-process.ts';
import { FfmpegSupervisor, type FfmpegSupervisorOptions, type RtpPorts, type StreamFailure } from '../../src/camera/ffmpeg-supervisor.ts';
import { RtpIntake } from '../../src/camera/rtp-intake.ts';
import { DEMO_CLIP } from '../../src/config/load.ts';
import { createLogger } from '../../src/log.ts';
import { until } from '../helpers/until.ts';

const log = createLogger({ level: 'silent' });
const PORTS: RtpPorts = { video: 40_000, audio: 40_002, g711: 40_004 };

/** A stand-in ffmpeg: the test says when it reveals the stream, dies, or finishes exiting. */
class FakeProcess extends EventEmitter<FfmpegProcessEvents> {
  static #nextPid = 1000;
  readonly pid = FakeProcess.#nextPid++;
  readonly args: string[];
  started = false;
  closeRequested = false;
  exited = false;
  /** Off: close() waits for exit() (a process slow to stop). */
  exitsOnClose = true;
  readonly #gone = Promise.withResolvers<void>();

  constructor(args: string[]) {
    super();
    this.args = args;
  }

  start(): void {
    this.started = true;
  }

  close(): Promise<void> {
    this.closeRequested = true;
    if (this.exitsOnClose) this.exit({ requested: true });
    return this.#gone.promise;
  }

  reveal(width: number, height: number, codec = 'h264'): void {
    this.emit('streams', { video: { type: 'video', codec, width, height } as never });
  }

  exit(overrides: Partial<FfmpegExit> = {}): void {
    if (this.exited) return;
    this.exited = true;
    this.#gone.resolve();
    this.emit('exit', { code: 1, signal: null, recent: [], requested: false, runtimeMs: 500, ...overrides });
  }
}

/** Lets the supervisor's awaits (previous exit, RTP ports) run: setImmediate is not mocked. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

function supervised(t: TestContext, options: Partial<FfmpegSupervisorOptions> = {}) {
  t.mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'] });
  const processes: FakeProcess[] = [];
  const failures: Array<{ failure: StreamFailure; retryInMs: number | undefined }> = [];
  const states: string[] = [];
  const supervisor = new FfmpegSupervisor({
    url: 'rtsp://127.0.0.1:9/cam',
    transcode: 'auto',
    ffmpegPath: 'ffmpeg',
    rtpPorts: async () => PORTS,
    newProcess: (args) => {
      const ffmpeg = new FakeProcess(args);
      processes.push(ffmpeg);
      return ffmpeg;
    },
    log,
    ...options,
  });
  supervisor.on('failure', (failure, retryInMs) => failures.push({ failure, retryInMs }));
  supervisor.on('state', (state) => states.push(state));
  t.after(() => supervisor.close());
  const current = () => processes.at(-1)!;
  return { supervisor, processes, failures, states, current };
}

describe('FfmpegSupervisor restarts', () => {
  test('restarts a dying ffmpeg after 1 s, 2 s, 4 s … up to 30 s', async (t) => {
    const { supervisor, processes, failures, current } = supervised(t);
    supervisor.start();
    assert.equal(supervisor.state, 'starting');
    await settle();
    assert.equal(supervisor.state, 'running');
    assert.equal(processes.length, 1);
    assert.equal(supervisor.pid, current().pid);
    for (const delayMs of [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000]) {
      current().exit();
      assert.equal(supervisor.state, 'waiting');
      assert.equal(failures.at(-1)!.retryInMs, delayMs);
      assert.equal(failures.at(-1)!.failure.code, 'FFMPEG_EXITED');
      const before: number = processes.length;
      t.mock.timers.tick(delayMs - 1);
      await settle();
      assert.equal(processes.length, before, `no restart before ${delayMs} ms`);
      t.mock.timers.tick(1);
      await settle();
      assert.equal(processes.length, before + 1, `a restart at ${delayMs} ms`);
      assert.equal(supervisor.state, 'running');
    }
    assert.equal(supervisor.starts, 8);
    assert.equal(supervisor.restarts, 7);
  });

  test('honours the restart option, and a run that lasted starts the backoff over', async (t) => {
    const { supervisor, failures, current } = supervised(t, { restart: { initialMs: 100, maxMs: 400 } });
    supervisor.start();
    await settle();
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      current().exit();
      delays.push(failures.at(-1)!.retryInMs!);
      t.mock.timers.tick(delays.at(-1)!);
      await settle();
    }
    assert.deepEqual(delays, [100, 200, 400, 400]);
    current().exit({ runtimeMs: 30_000 });
    assert.equal(failures.at(-1)!.retryInMs, 100, 'a healthy run resets the backoff');
  });

  test('an ffmpeg that sends no video is stopped as stalled and restarted', async (t) => {
    const { supervisor, failures, current } = supervised(t, { stallTimeoutMs: 5000 });
    supervisor.start();
    await settle();
    const stalled = current();
    t.mock.timers.tick(3000);
    supervisor.videoArrived();
    t.mock.timers.tick(4000);
    assert.equal(supervisor.state, 'running', 'video 4 s ago is no stall');
    t.mock.timers.tick(1000);
    assert.equal(supervisor.state, 'waiting');
    assert.equal(failures.at(-1)!.failure.code, 'STALLED');
    assert.equal(stalled.closeRequested, true);
  });

  test('a restart nobody wants any more goes idle; start() begins afresh', async (t) => {
    let wanted = true;
    const { supervisor, processes, failures, current } = supervised(t, { wanted: () => wanted });
    supervisor.start();
    await settle();
    current().exit(); // the first failure: 1 s
    wanted = false;
    t.mock.timers.tick(1000);
    await settle();
    assert.equal(supervisor.state, 'idle');
    assert.equal(processes.length, 1);
    supervisor.start();
    await settle();
    current().exit();
    assert.equal(failures.at(-1)!.retryInMs, 1000, 'idle started the backoff over');
  });
});

describe('FfmpegSupervisor re-planning', () => {
  test('replaces the run when ffmpeg reveals a stream needing the other plan, never overlapping two runs', async (t) => {
    const { supervisor, processes, current } = supervised(t);
    const plans: string[] = [];
    supervisor.on('replan', (plan) => plans.push(plan.mode));
    supervisor.start();
    await settle();
    assert.equal(supervisor.plan?.mode, 'copy', 'unknown source: copy');
    const first = current();
    first.exitsOnClose = false;
    first.reveal(1920, 1080);
    assert.deepEqual(plans, ['transcode']);
    assert.equal(first.closeRequested, true);
    await settle();
    assert.equal(processes.length, 1, 'the next run waits for the previous to exit (same RTP ports)');
    first.exit({ requested: true });
    await settle();
    assert.equal(processes.length, 2, 'the first re-plan is at once');
    assert.equal(supervisor.plan?.mode, 'transcode');
    assert.deepEqual(supervisor.source, { codec: 'h264', width: 1920, height: 1080 });
    assert.ok(current().args.includes('libx264'), 'the new run transcodes');
    assert.ok(current().args.includes(String(PORTS.video)) || current().args.some((arg) => arg.includes(`:${PORTS.video}`)), 'to the RTP ports');
    current().reveal(1920, 1080);
    assert.equal(processes.length, 2, 'the same plan again changes nothing');
    assert.equal(supervisor.restarts, 0);
  });

  test('a camera that keeps flipping is re-planned with backoff', async (t) => {
    const { supervisor, processes, current } = supervised(t, { stallTimeoutMs: 60_000 });
    supervisor.start();
    await settle();
    current().reveal(1920, 1080);
    await settle();
    assert.equal(processes.length, 2);
    for (const [delayMs, size] of [[1000, 640], [2000, 1920], [4000, 640]] as const) {
      current().reveal(size, size === 640 ? 360 : 1080);
      await settle();
      assert.equal(supervisor.state, 'waiting', `a flip soon after the last waits ${delayMs} ms`);
      t.mock.timers.tick(delayMs - 1);
      await settle();
      assert.equal(supervisor.state, 'waiting');
      t.mock.timers.tick(1);
      await settle();
      assert.equal(supervisor.state, 'running');
    }
    assert.equal(supervisor.starts, 5);
    assert.equal(supervisor.restarts, 3);
    // Quiet for STABLE_RUN_MS: the next flip is independent again.
    t.mock.timers.tick(30_000);
    current().reveal(1920, 1080);
    await settle();
    assert.equal(supervisor.state, 'running');
    assert.equal(supervisor.starts, 6);
  });

  test('a stream no plan can serve fails for good and leaves no ffmpeg; start() tries again', async (t) => {
    const { supervisor, processes, failures, current } = supervised(t, { transcode: 'never' });
    supervisor.start();
    await settle();
    current().reveal(1920, 1080, 'hevc');
    assert.equal(supervisor.state, 'failed');
    assert.equal(failures.at(-1)!.failure.code, 'TRANSCODE_REQUIRED');
    assert.equal(failures.at(-1)!.retryInMs, undefined);
    assert.equal(current().closeRequested, true);
    t.mock.timers.runAll();
    await settle();
    assert.equal(processes.length, 1, 'no restart');
    supervisor.start();
    await settle();
    assert.equal(supervisor.state, 'failed', 'what ffmpeg revealed still holds: no run is made');
    assert.equal(processes.length, 1);
  });

  test('a URL ffmpeg cannot take fails at once, without a restart', async (t) => {
    const { supervisor, processes, failures } = supervised(t, { url: 'http://camera/stream' });
    supervisor.start();
    await settle();
    assert.equal(supervisor.state, 'failed');
    assert.equal(failures[0]!.failure.code, 'UNSUPPORTED_URL');
    assert.equal(processes.length, 0);
  });

  test('sockets that cannot open fail the start', async (t) => {
    const { supervisor, failures } = supervised(t, { rtpPorts: () => Promise.reject(new Error('EADDRINUSE')) });
    supervisor.start();
    await settle();
    assert.equal(supervisor.state, 'failed');
    assert.deepEqual(failures[0]!.failure, { code: 'START_FAILED', message: 'EADDRINUSE' });
  });
});

describe('FfmpegSupervisor stop and close', () => {
  test('close() during a pending restart cancels it and leaves no process or timer', async (t) => {
    const { supervisor, processes, current } = supervised(t);
    supervisor.start();
    await settle();
    current().exit();
    assert.equal(supervisor.state, 'waiting');
    await Promise.all([supervisor.close(), supervisor.close()]);
    assert.equal(supervisor.state, 'closed');
    t.mock.timers.runAll();
    await settle();
    assert.equal(processes.length, 1, 'the pending restart did not run');
    supervisor.start();
    await settle();
    assert.equal(processes.length, 1, 'a closed supervisor starts nothing');
  });

  test('close() while running stops ffmpeg and resolves once it has exited', async (t) => {
    const { supervisor, current } = supervised(t);
    supervisor.start();
    await settle();
    const running = current();
    running.exitsOnClose = false;
    let closed = false;
    const closing = supervisor.close().then(() => (closed = true));
    await settle();
    assert.equal(running.closeRequested, true);
    assert.equal(closed, false, 'ffmpeg has not exited yet');
    running.exit({ requested: true });
    await closing;
    assert.equal(supervisor.pid, undefined);
    t.mock.timers.runAll(); // the stall watchdog is gone with the run
    assert.equal(supervisor.state, 'closed');
  });

  test('stop() or close() while the sockets are opening spawns nothing once they are open', async (t) => {
    const ports = Promise.withResolvers<RtpPorts>();
    const { supervisor, processes } = supervised(t, { rtpPorts: () => ports.promise });
    supervisor.start();
    await settle();
    supervisor.stop();
    assert.equal(supervisor.state, 'idle');
    supervisor.start();
    await settle();
    let closed = false;
    const closing = supervisor.close().then(() => (closed = true));
    await settle();
    assert.equal(closed, false, 'close() waits for the preparation it interrupted');
    ports.resolve(PORTS);
    await closing;
    assert.equal(processes.length, 0);
  });

  test('stop() ends the run and any pending restart; the next start() is a first start', async (t) => {
    const { supervisor, processes, failures, states, current } = supervised(t);
    supervisor.start();
    await settle();
    current().exit();
    supervisor.stop();
    assert.equal(supervisor.state, 'idle');
    t.mock.timers.runAll();
    await settle();
    assert.equal(processes.length, 1);
    supervisor.start();
    await settle();
    assert.equal(processes.length, 2);
    supervisor.stop();
    assert.equal(current().closeRequested, true);
    assert.equal(failures.length, 1, 'a requested stop is no failure');
    assert.deepEqual(states, ['starting', 'running', 'waiting', 'idle', 'starting', 'running', 'idle']);
  });
});

describe('FfmpegSupervisor with the real ffmpeg', () => {
  test('runs the demo clip into real sockets, and close() leaves no ffmpeg', async () => {
    const intake = await RtpIntake.open();
    let videoPackets = 0;
    const supervisor = new FfmpegSupervisor({
      url: `file:${DEMO_CLIP}`,
      transcode: 'auto',
      ffmpegPath: 'ffmpeg',
      rtpPorts: async () => ({ video: intake.videoPort, audio: intake.audioPort, g711: intake.g711Port }),
      log,
    });
    intake.on('packet', (kind) => {
      if (kind !== 'video') return;
      videoPackets += 1;
      supervisor.videoArrived();
    });
    try {
      supervisor.start();
      await until('video from ffmpeg', () => videoPackets > 10, 10_000);
      assert.equal(supervisor.state, 'running');
      assert.equal(supervisor.plan?.mode, 'copy');
      assert.equal(supervisor.source?.codec, 'h264');
      const pid = supervisor.pid!;
      await Promise.all([supervisor.close(), supervisor.close()]);
      assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, 'close() resolves once ffmpeg has exited');
      assert.equal(supervisor.starts, 1);
    } finally {
      await supervisor.close();
      intake.close();
    }
  });
});
