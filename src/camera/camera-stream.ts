import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { buildFfmpegArgs, FfmpegArgsError, videoPlan, type TranscodeMode, type VideoPlan, type VideoSourceInfo } from './ffmpeg-args.ts';
import { FfmpegProcess, type FfmpegExit } from './ffmpeg-process.ts';
import type { FfmpegVersion } from './ffmpeg-path.ts';
import { startsKeyframe } from './h264.ts';
import { KeyframeCache } from './keyframe-cache.ts';
import { parseRtpHeader, rtpPayload } from './rtp.ts';
import { RtpIntake } from './rtp-intake.ts';
import type { MediaPacket, StreamViewer } from './viewer.ts';

export interface CameraStreamOptions {
  id: string;
  /** With credentials; handed to ffmpeg only, never logged. */
  url: string;
  transcode: TranscodeMode;
  /** Keep ffmpeg running with no viewer, so the first viewer starts from the keyframe cache. */
  preload: boolean;
  lingerMs: number;
  ffmpegPath: string;
  /** Parsed at start-up; undefined = a current ffmpeg (≥ 5.1). Picks flags that 4.x knows. */
  ffmpegVersion?: FfmpegVersion;
  log: Logger;
  restartInitialMs?: number;
  restartMaxMs?: number;
  /** No video for this long while running: ffmpeg is stuck (it can take 3× its -timeout). */
  stallTimeoutMs?: number;
}

export type CameraStreamState = 'idle' | 'starting' | 'streaming' | 'restarting' | 'failed' | 'closed';

export interface StreamFailure {
  code: string;
  message: string;
}

export interface CameraStreamEvents {
  state: [state: CameraStreamState];
  /** ffmpeg ended or stalled without being asked to; a restart follows unless it cannot help. */
  failure: [failure: StreamFailure];
  closed: [];
}

export interface CameraStreamStatus {
  state: CameraStreamState;
  viewers: number;
  restarts: number;
  /** ffmpeg processes started since the stream was made (first starts, plan switches, restarts). */
  starts: number;
  plan?: VideoPlan;
  source?: VideoSourceInfo;
  lastFailure?: StreamFailure;
  packets: { video: number; audio: number };
  /** RTP bytes (headers included) received from ffmpeg since the stream was made: bitrate = Δbytes/Δt. */
  bytes: { video: number; audio: number };
  /** The running ffmpeg's pid. */
  pid?: number;
  /** How long ago the cached keyframe arrived: a new viewer starts from it. */
  keyframeAgeMs?: number;
  /** Why the stream is kept warm with no viewer (e.g. `motion`, `doorbell`). */
  warmFor?: string[];
}

const VIDEO_PT = 96;
const AUDIO_PT = 111;
const VIDEO_SSRC = 0x5eed0001;
const AUDIO_SSRC = 0x5eed0002;
const G711_PT = 0; // PCMU's static payload type
const G711_SSRC = 0x5eed0003;
/** A run this long counts as healthy: the next failure starts the backoff from the beginning. */
const STABLE_RUN_MS = 30_000;

/**
 * One camera's media: a single ffmpeg pulling the camera, its RTP fanned out to every viewer.
 * Started by the first viewer (or at once with preload), stopped `lingerMs` after the last leaves,
 * restarted with backoff when ffmpeg dies, keeping its viewers throughout.
 */
export class CameraStream extends EventEmitter<CameraStreamEvents> {
  readonly id: string;
  readonly #options: CameraStreamOptions;
  readonly #log: Logger;
  readonly #viewers = new Map<string, StreamViewer>();
  /** Reasons to keep running without a viewer (motion, a press), each with its expiry timer. */
  readonly #holds = new Map<string, NodeJS.Timeout | undefined>();
  readonly #cache = new KeyframeCache();
  #state: CameraStreamState = 'idle';
  #intake: RtpIntake | undefined;
  #process: FfmpegProcess | undefined;
  #plan: VideoPlan | undefined;
  #source: VideoSourceInfo | undefined;
  #lastFailure: StreamFailure | undefined;
  #restarts = 0;
  #starts = 0;
  #backoffMs: number;
  #runStartedAt = 0;
  /** When the plan (copy ↔ transcode) last changed: a camera flipping what it advertises backs off. */
  #lastReplanAt = Number.NEGATIVE_INFINITY;
  #lastVideoAt = 0;
  #packets = { video: 0, audio: 0 };
  #bytes = { video: 0, audio: 0 };
  /** Set on restart: the first packet of the new run tells viewers their RTP is about to jump. */
  #sourceJumped = false;
  #lingerTimer: NodeJS.Timeout | undefined;
  #restartTimer: NodeJS.Timeout | undefined;
  #watchdog: NodeJS.Timeout | undefined;
  #starting: Promise<void> | undefined;

  constructor(options: CameraStreamOptions) {
    super();
    this.id = options.id;
    this.#options = options;
    this.#log = options.log;
    this.#backoffMs = options.restartInitialMs ?? 1000;
    if (options.preload) this.#ensureRunning();
  }

  get state(): CameraStreamState {
    return this.#state;
  }

  get viewerCount(): number {
    return this.#viewers.size;
  }

  status(): CameraStreamStatus {
    return {
      state: this.#state,
      viewers: this.#viewers.size,
      restarts: this.#restarts,
      starts: this.#starts,
      packets: { ...this.#packets },
      bytes: { ...this.#bytes },
      ...(this.#plan && { plan: this.#plan }),
      ...(this.#source && { source: this.#source }),
      ...(this.#lastFailure && { lastFailure: this.#lastFailure }),
      ...(this.#process?.pid !== undefined && { pid: this.#process.pid }),
      ...(this.#cache.hasKeyframe && { keyframeAgeMs: this.#cache.keyframeAgeMs() }),
      ...(this.#holds.size > 0 && { warmFor: [...this.#holds.keys()] }),
    };
  }

  /**
   * Keeps the stream running with no viewer, for `reason` (until release, or for `forMs`): a
   * press or motion warms the camera so the Echo that shows it next starts from the keyframe
   * cache. Once the last hold and viewer are gone, the usual linger applies.
   */
  hold(reason: string, forMs?: number): void {
    if (this.#state === 'closed') return;
    clearTimeout(this.#holds.get(reason));
    const timer = forMs === undefined ? undefined : setTimeout(() => this.release(reason), forMs);
    this.#holds.set(reason, timer);
    clearTimeout(this.#lingerTimer);
    this.#lingerTimer = undefined;
    this.#ensureRunning();
  }

  release(reason: string): void {
    if (!this.#holds.has(reason)) return;
    clearTimeout(this.#holds.get(reason));
    this.#holds.delete(reason);
    this.#lingerIfUnused();
  }

  addViewer(viewer: StreamViewer): void {
    if (this.#state === 'closed') throw new Error(`camera stream ${this.id} is closed`);
    this.#viewers.set(viewer.id, viewer);
    clearTimeout(this.#lingerTimer);
    this.#lingerTimer = undefined;
    this.#ensureRunning();
  }

  /** The viewer's transport is up: send it the cached keyframe and what followed, then live. */
  viewerReady(viewerId: string): void {
    this.replayKeyframe(viewerId);
  }

  /**
   * Sends a viewer the cached keyframe and what followed: when it connects, and when it lost a
   * picture (PLI/FIR) — never a restart of ffmpeg, which every other viewer would pay for.
   */
  replayKeyframe(viewerId: string): void {
    const viewer = this.#viewers.get(viewerId);
    // An overflowed cache lacks part of its GOP: the viewer would see a smear, so it waits for
    // the camera's next keyframe instead.
    if (!viewer?.ready || this.#cache.overflowed) return;
    let first = true;
    for (const data of this.#cache.snapshot()) {
      const header = parseRtpHeader(data);
      if (!header) continue;
      // The cache starts at a keyframe: a viewer whose queue overflowed may resume there.
      viewer.deliver({ kind: 'video', data, header, keyframe: first });
      first = false;
    }
  }

  removeViewer(viewerId: string): void {
    if (this.#viewers.delete(viewerId)) this.#lingerIfUnused();
  }

  /** Viewers or holds want the stream (preload always does). */
  #inUse(): boolean {
    return this.#viewers.size > 0 || this.#holds.size > 0 || this.#options.preload;
  }

  #lingerIfUnused(): void {
    if (this.#inUse() || this.#state === 'closed') return;
    clearTimeout(this.#lingerTimer);
    this.#lingerTimer = setTimeout(() => {
      this.#lingerTimer = undefined;
      if (!this.#inUse()) void this.#stop('idle');
    }, this.#options.lingerMs);
  }

  /** Idempotent: stops ffmpeg, closes the sockets, forgets the viewers. */
  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    const stopped = this.#stop('closed');
    this.#viewers.clear();
    for (const timer of this.#holds.values()) clearTimeout(timer);
    this.#holds.clear();
    await this.#starting?.catch(() => {});
    // A start that was opening the sockets may have spawned ffmpeg after #stop: stop that too.
    await Promise.all([stopped, this.#process?.close()]);
    this.#process = undefined;
    this.#intake?.close();
    this.#intake = undefined;
    this.emit('closed');
  }

  #setState(state: CameraStreamState): void {
    if (this.#state === state || this.#state === 'closed') return;
    this.#state = state;
    this.emit('state', state);
  }

  #ensureRunning(): void {
    if (this.#process || this.#restartTimer || this.#starting || this.#state === 'closed') return;
    this.#starting = this.#start()
      .catch((err: unknown) => this.#fail({ code: 'START_FAILED', message: (err as Error).message }, false))
      .finally(() => (this.#starting = undefined));
  }

  async #start(): Promise<void> {
    this.#setState('starting');
    this.#intake ??= await this.#openIntake();
    if (this.#state === 'closed' || this.#state === 'idle') return;
    let args: string[];
    try {
      this.#plan = videoPlan({ transcode: this.#options.transcode, ...(this.#source && { video: this.#source }) });
      args = buildFfmpegArgs({
        url: this.#options.url,
        transcode: this.#options.transcode,
        ...(this.#source && { video: this.#source }),
        ...(this.#options.ffmpegVersion && { ffmpegVersion: this.#options.ffmpegVersion }),
        videoRtp: { port: this.#intake.videoPort, payloadType: VIDEO_PT, ssrc: VIDEO_SSRC },
        audioRtp: { port: this.#intake.audioPort, payloadType: AUDIO_PT, ssrc: AUDIO_SSRC },
        g711Rtp: { port: this.#intake.g711Port, payloadType: G711_PT, ssrc: G711_SSRC },
      });
    } catch (err) {
      if (err instanceof FfmpegArgsError) return this.#fail({ code: err.code, message: err.message }, false);
      throw err;
    }
    const process = new FfmpegProcess({ ffmpegPath: this.#options.ffmpegPath, args, log: this.#log });
    this.#process = process;
    process.on('streams', ({ video }) => this.#onSourceKnown(video));
    process.once('exit', (exit) => this.#onExit(process, exit));
    this.#runStartedAt = Date.now();
    this.#lastVideoAt = this.#runStartedAt;
    this.#log.info({ plan: this.#plan.mode, reason: this.#plan.reason }, 'starting ffmpeg');
    process.start();
    this.#starts += 1;
    this.#startWatchdog();
  }

  async #openIntake(): Promise<RtpIntake> {
    const intake = await RtpIntake.open();
    intake.on('packet', (kind, data) => this.#onPacket(kind, data));
    return intake;
  }

  #onPacket(kind: MediaPacket['kind'], data: Buffer): void {
    const header = parseRtpHeader(data);
    if (!header || !this.#process) return;
    const keyframe = kind === 'video' && startsKeyframe(rtpPayload(data, header));
    // The camera's audio is counted once, as its Opus copy.
    if (kind !== 'g711') {
      this.#packets[kind] += 1;
      this.#bytes[kind] += data.length;
    }
    if (kind === 'video') {
      this.#lastVideoAt = Date.now();
      this.#cache.push(data, header);
      if (this.#state !== 'streaming') this.#onStreaming();
    }
    if (this.#sourceJumped) {
      this.#sourceJumped = false;
      for (const viewer of this.#viewers.values()) viewer.sourceChanged();
    }
    const packet: MediaPacket = { kind, data, header, keyframe };
    for (const viewer of this.#viewers.values()) if (viewer.ready) viewer.deliver(packet);
  }

  #onStreaming(): void {
    this.#setState('streaming');
    this.#log.info({ startupMs: Date.now() - this.#runStartedAt }, 'camera streaming');
  }

  /** ffmpeg printed the camera's real stream: restart at once if it calls for another plan. */
  #onSourceKnown(video: VideoSourceInfo | undefined): void {
    if (!video) return;
    this.#source = { codec: video.codec, ...(video.profile && { profile: video.profile }), ...(video.width && { width: video.width }), ...(video.height && { height: video.height }) };
    let plan: VideoPlan;
    try {
      plan = videoPlan({ transcode: this.#options.transcode, video: this.#source });
    } catch (err) {
      if (err instanceof FfmpegArgsError) this.#fail({ code: err.code, message: err.message }, false);
      return;
    }
    if (plan.mode === this.#plan?.mode) return;
    this.#log.info({ from: this.#plan?.mode, to: plan.mode, reason: plan.reason }, 'camera stream needs another plan: restarting ffmpeg');
    this.#restartNow();
  }

  #restartNow(): void {
    const process = this.#process;
    this.#process = undefined;
    this.#stopWatchdog();
    this.#cache.clear();
    this.#sourceJumped = true;
    // A camera that flips what it advertises must not restart ffmpeg every second: a re-plan
    // soon after the previous one waits with the same backoff as a restart after a failure.
    const now = Date.now();
    const delay = now - this.#lastReplanAt < STABLE_RUN_MS ? this.#backoffMs : 0;
    this.#lastReplanAt = now;
    if (delay > 0) this.#backoffMs = Math.min(this.#backoffMs * 2, this.#options.restartMaxMs ?? 30_000);
    void process?.close().finally(() => {
      if (this.#state === 'closed' || this.#state === 'idle') return;
      if (delay === 0) return this.#ensureRunning();
      this.#log.info({ retryInMs: delay }, 'camera changed its stream again soon after: re-planning with backoff');
      this.#setState('restarting');
      clearTimeout(this.#restartTimer);
      this.#restartTimer = setTimeout(() => {
        this.#restartTimer = undefined;
        if (!this.#inUse()) return this.#setState('idle');
        this.#restarts += 1;
        this.#ensureRunning();
      }, delay);
    });
  }

  #onExit(process: FfmpegProcess, exit: FfmpegExit): void {
    if (this.#process !== process) return; // a replaced or stopped run
    this.#process = undefined;
    this.#stopWatchdog();
    const failure = exit.failure
      ? { code: exit.failure.code, message: exit.failure.message }
      : { code: 'FFMPEG_EXITED', message: `ffmpeg stopped (${exit.signal ?? `exit code ${exit.code}`}) after ${Math.round(exit.runtimeMs / 1000)} s` };
    if (exit.runtimeMs >= STABLE_RUN_MS) this.#backoffMs = this.#options.restartInitialMs ?? 1000;
    // FfmpegProcess has already warned with ffmpeg's own words; this line adds the retry plan.
    this.#fail(failure, true, exit.failure ? 'info' : 'warn');
  }

  #fail(failure: StreamFailure, retry: boolean, level: 'info' | 'warn' = 'warn'): void {
    if (this.#state === 'closed') return;
    this.#lastFailure = failure;
    this.#log[level]({ code: failure.code, reason: failure.message, retryInMs: retry ? this.#backoffMs : undefined }, 'camera stream failed');
    this.emit('failure', failure);
    this.#cache.clear();
    if (!retry) {
      this.#setState('failed');
      return;
    }
    this.#setState('restarting');
    const delay = this.#backoffMs;
    this.#backoffMs = Math.min(this.#backoffMs * 2, this.#options.restartMaxMs ?? 30_000);
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      if (!this.#inUse()) return this.#setState('idle');
      this.#restarts += 1;
      this.#sourceJumped = true;
      this.#ensureRunning();
    }, delay);
  }

  #startWatchdog(): void {
    const stallMs = this.#options.stallTimeoutMs ?? 10_000;
    this.#watchdog = setInterval(() => {
      const process = this.#process;
      if (!process || Date.now() - this.#lastVideoAt < stallMs) return;
      this.#log.warn({ stallMs }, 'no video from the camera: stopping ffmpeg');
      this.#process = undefined;
      this.#stopWatchdog();
      void process.close();
      this.#fail({ code: 'STALLED', message: `no video from the camera for ${Math.round(stallMs / 1000)} s` }, true);
    }, Math.min(1000, stallMs));
  }

  #stopWatchdog(): void {
    clearInterval(this.#watchdog);
    this.#watchdog = undefined;
  }

  #stop(state: 'idle' | 'closed'): Promise<void> {
    clearTimeout(this.#lingerTimer);
    clearTimeout(this.#restartTimer);
    this.#lingerTimer = undefined;
    this.#restartTimer = undefined;
    this.#stopWatchdog();
    const process = this.#process;
    this.#process = undefined;
    if (process) this.#log.info({ state }, 'stopping ffmpeg');
    this.#cache.clear();
    this.#backoffMs = this.#options.restartInitialMs ?? 1000;
    if (state === 'closed') {
      this.#state = 'closed';
      this.emit('state', 'closed');
    } else {
      this.#setState('idle');
    }
    return process?.close() ?? Promise.resolve();
  }
}
