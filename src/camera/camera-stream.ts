import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { Backoff } from '../util/retry.ts';
import type { TranscodeMode, VideoPlan, VideoSourceInfo } from './ffmpeg-args.ts';
import type { FfmpegVersion } from './ffmpeg-path.ts';
import { FfmpegSupervisor, type RtpPorts, type StreamFailure, type SupervisorStateKind } from './ffmpeg-supervisor.ts';
import { startsKeyframe } from './h264.ts';
import { KeyframeCache } from './keyframe-cache.ts';
import { parseRtpHeader, rtpPayload } from './rtp.ts';
import { RtpIntake } from './rtp-intake.ts';
import type { MediaPacket, StreamViewer } from './viewer.ts';

export type { StreamFailure } from './ffmpeg-supervisor.ts';

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
  /** Between ffmpeg restarts; default 1 s doubling to 30 s. */
  restart?: Backoff;
  /** No video for this long while running: ffmpeg is stuck (it can take 3× its -timeout). */
  stallTimeoutMs?: number;
  /** Restarting without video this long, the stream is `down` (its sessions end); default DOWN_MS. */
  downMs?: number;
}

export type CameraStreamState = 'idle' | 'starting' | 'streaming' | 'restarting' | 'failed' | 'closed';

export interface CameraStreamEvents {
  state: [state: CameraStreamState];
  /** ffmpeg ended or stalled without being asked to; a restart follows unless it cannot help. */
  failure: [failure: StreamFailure];
  /**
   * Viewers would stare at a frozen frame: restarting has not brought video back within downMs,
   * the stream failed for good, or it closed. `reason` is for the log.
   */
  down: [reason: string];
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

/** A restart that brings video back within this is a hiccup; longer, the Echo is staring at a frozen frame. */
export const DOWN_MS = 30_000;

/**
 * One camera's media: a single ffmpeg (kept by an FfmpegSupervisor) pulling the camera, its RTP
 * fanned out to every viewer. Started by the first viewer (or at once with preload), stopped
 * `lingerMs` after the last leaves, keeping its viewers through ffmpeg's restarts.
 */
export class CameraStream extends EventEmitter<CameraStreamEvents> {
  readonly id: string;
  readonly #options: CameraStreamOptions;
  readonly #log: Logger;
  readonly #supervisor: FfmpegSupervisor;
  readonly #viewers = new Map<string, StreamViewer>();
  /** Reasons to keep running without a viewer (motion, a press), each with its expiry timer. */
  readonly #holds = new Map<string, NodeJS.Timeout | undefined>();
  readonly #cache = new KeyframeCache();
  #state: CameraStreamState = 'idle';
  /** The sockets ffmpeg sends to, opened by the first run and kept until close. */
  #intake: Promise<RtpIntake> | undefined;
  #lastFailure: StreamFailure | undefined;
  #runStartedAt = 0;
  #packets = { video: 0, audio: 0 };
  #bytes = { video: 0, audio: 0 };
  /** Set when a run ended unasked: the first packet of the next tells viewers their RTP is about to jump. */
  #sourceJumped = false;
  #lingerTimer: NodeJS.Timeout | undefined;
  #downTimer: NodeJS.Timeout | undefined;
  #closing: Promise<void> | undefined;
  /** What `down` says when the stream closes: the first close() call's reason. */
  #closeReason = 'its stream closed';

  constructor(options: CameraStreamOptions) {
    super();
    this.id = options.id;
    this.#options = options;
    this.#log = options.log;
    this.#supervisor = new FfmpegSupervisor({
      url: options.url,
      transcode: options.transcode,
      ffmpegPath: options.ffmpegPath,
      ...(options.ffmpegVersion && { ffmpegVersion: options.ffmpegVersion }),
      ...(options.restart && { restart: options.restart }),
      ...(options.stallTimeoutMs !== undefined && { stallTimeoutMs: options.stallTimeoutMs }),
      rtpPorts: () => this.#rtpPorts(),
      wanted: () => this.#inUse(),
      log: options.log,
    });
    this.#supervisor.on('state', (kind) => this.#onSupervisorState(kind));
    this.#supervisor.on('failure', (failure) => this.#onFailure(failure));
    this.#supervisor.on('replan', () => this.#onRunEnded());
    if (options.preload) this.#ensureRunning();
  }

  get state(): CameraStreamState {
    return this.#state;
  }

  get viewerCount(): number {
    return this.#viewers.size;
  }

  status(): CameraStreamStatus {
    const { plan, source, pid } = this.#supervisor;
    return {
      state: this.#state,
      viewers: this.#viewers.size,
      restarts: this.#supervisor.restarts,
      starts: this.#supervisor.starts,
      packets: { ...this.#packets },
      bytes: { ...this.#bytes },
      ...(plan && { plan }),
      ...(source && { source }),
      ...(this.#lastFailure && { lastFailure: this.#lastFailure }),
      ...(pid !== undefined && { pid }),
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
      if (this.#inUse()) return;
      this.#cache.clear();
      this.#supervisor.stop();
    }, this.#options.lingerMs);
  }

  /**
   * Idempotent: stops ffmpeg, closes the sockets, forgets the viewers; resolves once ffmpeg has
   * exited. `reason` is what the `down` event tells the viewers' owner (e.g. the camera was
   * removed from the configuration); the first call's reason stands.
   */
  close(reason?: string): Promise<void> {
    if (!this.#closing && reason) this.#closeReason = reason;
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    clearTimeout(this.#lingerTimer);
    this.#lingerTimer = undefined;
    this.#cache.clear();
    this.#setState('closed');
    this.#viewers.clear();
    for (const timer of this.#holds.values()) clearTimeout(timer);
    this.#holds.clear();
    await this.#supervisor.close();
    // The supervisor prepares no run any more: the sockets can go.
    const intake = this.#intake;
    this.#intake = undefined;
    (await intake?.catch(() => undefined))?.close();
    this.emit('closed');
  }

  #setState(state: CameraStreamState): void {
    if (this.#state === state || this.#state === 'closed') return;
    this.#state = state;
    this.emit('state', state);
    this.#watchForDown(state);
  }

  /** A restart that has not brought video back within downMs, a failure for good, or close: viewers are told. */
  #watchForDown(state: CameraStreamState): void {
    if (state === 'restarting') {
      const downMs = this.#options.downMs ?? DOWN_MS;
      this.#downTimer ??= setTimeout(() => {
        this.#downTimer = undefined;
        if (this.#state !== 'streaming') this.emit('down', `no video from the camera for ${Math.round(downMs / 1000)} s`);
      }, downMs);
      return;
    }
    if (state === 'starting') return; // part of the restart: the bound keeps counting
    clearTimeout(this.#downTimer);
    this.#downTimer = undefined;
    if (state === 'failed') this.emit('down', `its stream failed: ${this.#lastFailure?.message ?? 'cannot start'}`);
    else if (state === 'closed') this.emit('down', this.#closeReason);
  }

  #ensureRunning(): void {
    if (this.#state !== 'closed') this.#supervisor.start();
  }

  #onSupervisorState(kind: SupervisorStateKind): void {
    switch (kind) {
      case 'starting': return this.#setState('starting');
      // 'streaming' waits for the first video packet.
      case 'running': this.#runStartedAt = Date.now(); return;
      case 'waiting': return this.#setState('restarting');
      case 'failed': return this.#setState('failed');
      case 'idle': return this.#setState('idle');
      case 'closed': return; // close() says so itself
    }
  }

  #onFailure(failure: StreamFailure): void {
    this.#lastFailure = failure;
    this.emit('failure', failure);
    this.#onRunEnded();
  }

  /** The run ended unasked (failed, stalled, re-planned): its GOP is stale, and the next run's RTP jumps. */
  #onRunEnded(): void {
    this.#cache.clear();
    this.#sourceJumped = true;
  }

  /** Opened once; a failed open is retried by the next run. */
  #rtpPorts(): Promise<RtpPorts> {
    if (this.#state === 'closed') return Promise.reject(new Error(`camera stream ${this.id} is closed`));
    this.#intake ??= RtpIntake.open().then(
      (intake) => {
        intake.on('packet', (kind, data) => this.#onPacket(kind, data));
        return intake;
      },
      (err: unknown) => {
        this.#intake = undefined;
        throw err;
      },
    );
    return this.#intake.then((intake) => ({ video: intake.videoPort, audio: intake.audioPort, g711: intake.g711Port }));
  }

  #onPacket(kind: MediaPacket['kind'], data: Buffer): void {
    const header = parseRtpHeader(data);
    if (!header || !this.#supervisor.running) return;
    const keyframe = kind === 'video' && startsKeyframe(rtpPayload(data, header));
    // The camera's audio is counted once, as its Opus copy.
    if (kind !== 'g711') {
      this.#packets[kind] += 1;
      this.#bytes[kind] += data.length;
    }
    if (kind === 'video') {
      this.#supervisor.videoArrived();
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
}
