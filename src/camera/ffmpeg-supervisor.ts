/**
 * Keeps one camera's ffmpeg running while its stream wants it, go2rtc's way: one explicit state
 * at a time, each state owning its timer or process, so leaving a state is what clears them.
 * The stream on top of it (camera-stream.ts) knows nothing of processes, backoff or plans.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { backoffDelayMs, type Backoff } from '../util/retry.ts';
import { buildFfmpegArgs, FfmpegArgsError, videoPlan, type TranscodeMode, type VideoPlan, type VideoSourceInfo } from './ffmpeg-args.ts';
import type { FfmpegVersion } from './ffmpeg-path.ts';
import { FfmpegProcess, type FfmpegExit, type FfmpegStreams } from './ffmpeg-process.ts';

export interface StreamFailure {
  code: string;
  message: string;
}

/** What the supervisor needs of one ffmpeg: FfmpegProcess, or a stand-in in tests. */
export interface FfmpegRun {
  readonly pid: number | undefined;
  start(): void;
  /** Resolves once the process is gone; never rejects. */
  close(): Promise<void>;
  on(event: 'streams', listener: (streams: FfmpegStreams) => void): unknown;
  once(event: 'exit', listener: (exit: FfmpegExit) => void): unknown;
}

/** The loopback UDP ports ffmpeg sends its RTP to. */
export interface RtpPorts {
  video: number;
  audio: number;
  g711: number;
}

export interface FfmpegSupervisorOptions {
  /** With credentials; handed to ffmpeg only, never logged. */
  url: string;
  transcode: TranscodeMode;
  ffmpegPath: string;
  /** undefined = a current ffmpeg (≥ 5.1). */
  ffmpegVersion?: FfmpegVersion;
  /** The stream's sockets, opened before the first run. */
  rtpPorts: () => Promise<RtpPorts>;
  /** Asked before each restart: a stream nobody wants any more goes idle instead. */
  wanted?: () => boolean;
  /** Between restarts; default RESTART_BACKOFF. */
  restart?: Backoff;
  /** No video for this long while running: ffmpeg is stuck (it can take 3× its -timeout). Default 10 s. */
  stallTimeoutMs?: number;
  /** Makes each run; default a real FfmpegProcess. */
  newProcess?: (args: string[]) => FfmpegRun;
  log: Logger;
}

export type SupervisorState =
  | { kind: 'idle' }
  /** Waiting for the previous run's exit (the runs share the RTP ports) and the stream's sockets. */
  | { kind: 'starting' }
  | { kind: 'running'; process: FfmpegRun; lastVideoAt: number; watchdog: NodeJS.Timeout }
  /** Backing off before the next run. */
  | { kind: 'waiting'; timer: NodeJS.Timeout }
  /** What a restart cannot mend (a bad URL, a codec `transcode: never` refuses); start() tries again. */
  | { kind: 'failed'; failure: StreamFailure }
  | { kind: 'closed' };

export type SupervisorStateKind = SupervisorState['kind'];
type Running = Extract<SupervisorState, { kind: 'running' }>;

export interface FfmpegSupervisorEvents {
  state: [kind: SupervisorStateKind];
  /** A run ended or stalled unasked, or could not start; `retryInMs` is set when a restart follows. */
  failure: [failure: StreamFailure, retryInMs: number | undefined];
  /** ffmpeg revealed a stream that needs the other plan: the run is replaced. */
  replan: [plan: VideoPlan];
}

/** Restarts after a failure: 1 s doubling to 30 s. */
export const RESTART_BACKOFF: Backoff = { initialMs: 1000, maxMs: 30_000 };
/** A run this long counts as healthy, and re-plans this far apart as independent: the backoff starts over. */
export const STABLE_RUN_MS = 30_000;
const DEFAULT_STALL_MS = 10_000;
const VIDEO_PT = 96;
const AUDIO_PT = 111;
const VIDEO_SSRC = 0x5eed0001;
const AUDIO_SSRC = 0x5eed0002;
const G711_PT = 0; // PCMU's static payload type
const G711_SSRC = 0x5eed0003;

function failureOf(err: unknown): StreamFailure {
  if (err instanceof FfmpegArgsError) return { code: err.code, message: err.message };
  return { code: 'START_FAILED', message: err instanceof Error ? err.message : String(err) };
}

/**
 * Starts one camera's ffmpeg, restarts it with backoff when it dies or stalls, replaces it when
 * ffmpeg reveals a stream that needs the other plan (copy ↔ transcode), and stops it.
 */
export class FfmpegSupervisor extends EventEmitter<FfmpegSupervisorEvents> {
  readonly #options: FfmpegSupervisorOptions;
  readonly #log: Logger;
  readonly #backoff: Backoff;
  #state: SupervisorState = { kind: 'idle' };
  /** Restarts since the backoff last started over. */
  #attempt = 0;
  #starts = 0;
  #restarts = 0;
  #plan: VideoPlan | undefined;
  #source: VideoSourceInfo | undefined;
  /** When the plan last changed: a camera flipping what it advertises backs off. */
  #lastReplanAt = Number.NEGATIVE_INFINITY;
  /** Runs being prepared and processes being stopped: close() waits for them all. */
  readonly #preparing = new Set<Promise<void>>();
  readonly #exiting = new Set<Promise<void>>();

  constructor(options: FfmpegSupervisorOptions) {
    super();
    this.#options = options;
    this.#log = options.log;
    this.#backoff = options.restart ?? RESTART_BACKOFF;
  }

  get state(): SupervisorStateKind {
    return this.#state.kind;
  }

  /** ffmpeg is running: its packets are the stream's. */
  get running(): boolean {
    return this.#state.kind === 'running';
  }

  get pid(): number | undefined {
    return this.#state.kind === 'running' ? this.#state.process.pid : undefined;
  }

  get plan(): VideoPlan | undefined {
    return this.#plan;
  }

  /** The camera's video as ffmpeg last described it. */
  get source(): VideoSourceInfo | undefined {
    return this.#source;
  }

  /** ffmpeg processes started (first starts, plan switches, restarts). */
  get starts(): number {
    return this.#starts;
  }

  /** Runs begun after a backoff wait. */
  get restarts(): number {
    return this.#restarts;
  }

  /** Starts ffmpeg unless it is running or on its way (starting, waiting to restart). */
  start(): void {
    if (this.#state.kind === 'idle' || this.#state.kind === 'failed') this.#begin();
  }

  /** Video arrived: the stall watchdog is content. */
  videoArrived(): void {
    if (this.#state.kind === 'running') this.#state.lastVideoAt = Date.now();
  }

  /** Stops ffmpeg and any pending restart; the backoff starts over. */
  stop(): void {
    if (this.#state.kind === 'closed') return;
    if (this.#state.kind === 'running') this.#log.info({ state: 'idle' }, 'stopping ffmpeg');
    this.#enter({ kind: 'idle' });
  }

  /** Idempotent: stops everything; resolves once no run is being prepared and every ffmpeg has exited. */
  async close(): Promise<void> {
    if (this.#state.kind === 'running') this.#log.info({ state: 'closed' }, 'stopping ffmpeg');
    this.#enter({ kind: 'closed' });
    // A preparation that settles now sees the closed state and spawns nothing.
    await Promise.all(this.#preparing);
    await Promise.all(this.#exiting);
  }

  /** The one place the state changes: what the old state owned (process, timer) is released. */
  #enter(next: SupervisorState): void {
    const previous = this.#state;
    if (previous.kind === 'closed') return;
    this.#state = next;
    if (previous.kind === 'running') {
      clearInterval(previous.watchdog);
      this.#stopProcess(previous.process);
    } else if (previous.kind === 'waiting') {
      clearTimeout(previous.timer);
    }
    if (next.kind === 'idle') this.#attempt = 0;
    this.emit('state', next.kind);
  }

  #stopProcess(ffmpeg: FfmpegRun): void {
    const exited: Promise<void> = ffmpeg.close()
      .catch((err: unknown) => this.#log.warn({ err }, 'stopping ffmpeg failed'))
      .finally(() => this.#exiting.delete(exited));
    this.#exiting.add(exited);
  }

  #begin(): void {
    const starting: SupervisorState = { kind: 'starting' };
    this.#enter(starting);
    if (this.#state !== starting) return; // a listener stopped it
    const preparing: Promise<void> = this.#startWhenReady(starting)
      .catch((err: unknown) => this.#log.error({ err }, 'starting ffmpeg failed'))
      .finally(() => this.#preparing.delete(preparing));
    this.#preparing.add(preparing);
  }

  async #startWhenReady(starting: SupervisorState): Promise<void> {
    try {
      await Promise.all(this.#exiting);
      if (this.#state !== starting) return;
      const ports = await this.#options.rtpPorts();
      if (this.#state !== starting) return;
      const video = this.#source;
      this.#plan = videoPlan({ transcode: this.#options.transcode, ...(video && { video }) });
      const args = buildFfmpegArgs({
        url: this.#options.url,
        transcode: this.#options.transcode,
        ...(video && { video }),
        ...(this.#options.ffmpegVersion && { ffmpegVersion: this.#options.ffmpegVersion }),
        videoRtp: { port: ports.video, payloadType: VIDEO_PT, ssrc: VIDEO_SSRC },
        audioRtp: { port: ports.audio, payloadType: AUDIO_PT, ssrc: AUDIO_SSRC },
        g711Rtp: { port: ports.g711, payloadType: G711_PT, ssrc: G711_SSRC },
      });
      this.#run(args);
    } catch (err) {
      if (this.#state === starting) this.#fail(failureOf(err), false);
    }
  }

  #run(args: string[]): void {
    const { ffmpegPath } = this.#options;
    const ffmpeg = this.#options.newProcess?.(args) ?? new FfmpegProcess({ ffmpegPath, args, log: this.#log });
    ffmpeg.on('streams', ({ video }) => this.#onSourceKnown(ffmpeg, video));
    ffmpeg.once('exit', (exit) => this.#onExit(ffmpeg, exit));
    this.#log.info({ plan: this.#plan?.mode, reason: this.#plan?.reason }, 'starting ffmpeg');
    ffmpeg.start();
    this.#starts += 1;
    const stallMs = this.#options.stallTimeoutMs ?? DEFAULT_STALL_MS;
    const running: Running = {
      kind: 'running',
      process: ffmpeg,
      lastVideoAt: Date.now(),
      watchdog: setInterval(() => this.#checkStall(running, stallMs), Math.min(1000, stallMs)),
    };
    this.#enter(running);
  }

  #checkStall(running: Running, stallMs: number): void {
    if (this.#state !== running || Date.now() - running.lastVideoAt < stallMs) return;
    this.#log.warn({ stallMs }, 'no video from the camera: stopping ffmpeg');
    this.#fail({ code: 'STALLED', message: `no video from the camera for ${Math.round(stallMs / 1000)} s` }, true);
  }

  #isRunning(ffmpeg: FfmpegRun): boolean {
    return this.#state.kind === 'running' && this.#state.process === ffmpeg;
  }

  #onExit(ffmpeg: FfmpegRun, exit: FfmpegExit): void {
    if (!this.#isRunning(ffmpeg)) return; // a replaced or stopped run
    const failure = exit.failure
      ? { code: exit.failure.code, message: exit.failure.message }
      : { code: 'FFMPEG_EXITED', message: `ffmpeg stopped (${exit.signal ?? `exit code ${exit.code}`}) after ${Math.round(exit.runtimeMs / 1000)} s` };
    if (exit.runtimeMs >= STABLE_RUN_MS) this.#attempt = 0;
    // FfmpegProcess has already warned with ffmpeg's own words; this line adds the retry plan.
    this.#fail(failure, true, exit.failure ? 'info' : 'warn');
  }

  /** ffmpeg printed the camera's real stream: replace the run if it calls for another plan. */
  #onSourceKnown(ffmpeg: FfmpegRun, video: VideoSourceInfo | undefined): void {
    if (!video || !this.#isRunning(ffmpeg)) return;
    this.#source = { codec: video.codec, ...(video.profile && { profile: video.profile }), ...(video.width && { width: video.width }), ...(video.height && { height: video.height }) };
    let plan: VideoPlan;
    try {
      plan = videoPlan({ transcode: this.#options.transcode, video: this.#source });
    } catch (err) {
      // Say `transcode: never` and an HEVC camera: no run can serve it, so none is left running.
      this.#fail(failureOf(err), false);
      return;
    }
    if (plan.mode === this.#plan?.mode) return;
    this.#log.info({ from: this.#plan?.mode, to: plan.mode, reason: plan.reason }, 'camera stream needs another plan: restarting ffmpeg');
    const running = this.#state;
    this.emit('replan', plan);
    if (this.#state !== running) return;
    // A camera that flips what it advertises must not restart ffmpeg every second: a re-plan
    // soon after the previous one waits with the same backoff as a restart after a failure.
    const now = Date.now();
    const soon = now - this.#lastReplanAt < STABLE_RUN_MS;
    this.#lastReplanAt = now;
    if (!soon) return this.#begin();
    const delayMs = this.#nextDelayMs();
    this.#log.info({ retryInMs: delayMs }, 'camera changed its stream again soon after: re-planning with backoff');
    this.#waitThenRestart(delayMs);
  }

  #fail(failure: StreamFailure, retry: boolean, level: 'info' | 'warn' = 'warn'): void {
    const failing = this.#state;
    if (failing.kind === 'closed') return;
    const retryInMs = retry ? this.#nextDelayMs() : undefined;
    this.#log[level]({ code: failure.code, reason: failure.message, retryInMs }, 'camera stream failed');
    this.emit('failure', failure, retryInMs);
    if (this.#state !== failing) return; // a listener stopped or closed it
    if (retryInMs === undefined) this.#enter({ kind: 'failed', failure });
    else this.#waitThenRestart(retryInMs);
  }

  #nextDelayMs(): number {
    this.#attempt += 1;
    return backoffDelayMs(this.#attempt, this.#backoff);
  }

  #waitThenRestart(delayMs: number): void {
    const waiting: SupervisorState = {
      kind: 'waiting',
      timer: setTimeout(() => {
        if (this.#state !== waiting) return;
        if (this.#options.wanted?.() === false) return this.#enter({ kind: 'idle' });
        this.#restarts += 1;
        this.#begin();
      }, delayMs),
    };
    this.#enter(waiting);
  }
}
