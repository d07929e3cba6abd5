import type { Logger } from 'pino';
import type { CameraConfig } from '../config/schema.ts';
import type { AuthScheme } from './rtsp-auth.ts';
import type { ViewerCodec } from './talkback-args.ts';
import { Backchannel, BackchannelError } from './rtsp-backchannel.ts';
import { TalkSession } from './talkback.ts';

export interface TalkbackManagerOptions {
  cameras: CameraConfig[];
  ffmpegPath: () => string | undefined;
  log: Logger;
  /** The auth scheme that worked for a camera (from its health probe), so talkback never downgrades it. */
  authScheme?: (cameraId: string) => AuthScheme | undefined;
}

export interface TalkbackStatus {
  /** `unknown` until the first check or talk; `unsupported` once the camera refused. */
  capability: 'unknown' | 'available' | 'unsupported';
  reason?: string;
  /** The session talking right now. */
  talker?: string;
  /** Why the last talk session lost its backchannel. */
  lastFailure?: string;
}

/**
 * Talkback for the cameras configured `talkback: onvif`: what each supports (checked at start by
 * opening its backchannel once), and the one talker per camera — a second full-duplex viewer
 * gets one-way audio, so two people never talk over each other through one speaker.
 */
export class TalkbackManager {
  /** The talkback cameras; an entry is replaced (never mutated) when its camera changes, so an answer can tell it is stale. */
  readonly #cameras = new Map<string, CameraConfig>();
  readonly #status = new Map<string, TalkbackStatus>();
  readonly #talks = new Map<string, { sessionId: string; talk: TalkSession }>();
  readonly #options: TalkbackManagerOptions;
  /** checkAll() has run: cameras added later are checked as they come. */
  #checking = false;
  #closed = false;

  constructor(options: TalkbackManagerOptions) {
    this.#options = options;
    for (const camera of talkbackCameras(options.cameras)) {
      this.#cameras.set(camera.id, camera);
      this.#status.set(camera.id, { capability: 'unknown' });
    }
  }

  /**
   * Takes a new camera list. A camera no longer configured for talkback (removed, or `talkback`
   * turned off) has its talk closed and its status forgotten; a new one, or one whose URL
   * changed, starts over from `unknown` (its talk closed) and is checked again once checkAll()
   * has run. Answers of checks and talks begun before the change are ignored. Idempotent.
   */
  setCameras(cameras: CameraConfig[]): void {
    if (this.#closed) return;
    const next = new Map(talkbackCameras(cameras).map((camera) => [camera.id, camera]));
    const fresh: string[] = [];
    for (const [id, current] of this.#cameras) {
      const wanted = next.get(id);
      if (wanted && wanted.url === current.url) continue;
      this.#forget(id);
    }
    for (const [id, camera] of next) {
      if (this.#cameras.has(id)) continue;
      this.#cameras.set(id, camera);
      this.#status.set(id, { capability: 'unknown' });
      fresh.push(id);
    }
    if (this.#checking) for (const id of fresh) this.#checkInBackground(id);
  }

  /** Full duplex works with this camera, as far as is known (discovery's isFullDuplexAudioSupported). */
  supported(cameraId: string): boolean {
    const status = this.#status.get(cameraId);
    return status !== undefined && status.capability !== 'unsupported';
  }

  status(cameraId: string): TalkbackStatus | undefined {
    const status = this.#status.get(cameraId);
    return status && { ...status };
  }

  /** Checks every talkback camera's backchannel once, in the background. */
  checkAll(): void {
    if (this.#closed) return;
    this.#checking = true;
    for (const id of this.#cameras.keys()) this.#checkInBackground(id);
  }

  async check(cameraId: string): Promise<TalkbackStatus['capability']> {
    const camera = this.#cameras.get(cameraId);
    if (!camera) return 'unsupported';
    const log = this.#options.log.child({ cameraId });
    try {
      const knownScheme = this.#options.authScheme?.(cameraId);
      const backchannel = await Backchannel.open({ url: camera.url, log, ...(knownScheme && { knownScheme }) });
      await backchannel.close();
      // Removed or re-pointed while checked: the answer is about a camera no longer configured.
      if (this.#isCurrent(cameraId, camera)) {
        this.#update(cameraId, { capability: 'available' });
        log.info({ codec: backchannel.codec.encoding }, 'camera has an ONVIF backchannel: talkback available');
      }
    } catch (err) {
      if (!this.#isCurrent(cameraId, camera)) {
        log.debug({ reason: (err as Error).message }, 'talkback check of a camera since reconfigured ended');
      } else if (err instanceof BackchannelError && err.code === 'UNSUPPORTED') {
        this.#update(cameraId, { capability: 'unsupported', reason: err.message });
        log.warn({ reason: err.message }, 'talkback: onvif is configured but the camera has no backchannel; Echo will get one-way audio');
      } else {
        // Unreachable or refusing credentials now says nothing about the backchannel itself.
        log.info({ reason: (err as Error).message }, 'talkback check inconclusive');
      }
    }
    return this.#status.get(cameraId)?.capability ?? 'unsupported';
  }

  /** Talk for a session if the camera supports it and nobody else is talking; else undefined. */
  claim(cameraId: string, sessionId: string, viewerCodec: ViewerCodec): TalkSession | undefined {
    const camera = this.#cameras.get(cameraId);
    const ffmpegPath = this.#options.ffmpegPath();
    if (this.#closed || !camera || !ffmpegPath || !this.supported(cameraId)) return undefined;
    const current = this.#talks.get(cameraId);
    // A talker that hung up is still letting go of the backchannel: the next one opens after it.
    if (current && current.sessionId !== sessionId && !current.talk.released) return undefined;
    const after = current?.talk.close();
    const log = this.#options.log.child({ cameraId, sessionId });
    const knownScheme = this.#options.authScheme?.(cameraId);
    const talk = new TalkSession({ cameraId, url: camera.url, ffmpegPath, viewerCodec, log, ...(knownScheme && { knownScheme }), ...(after && { after }) });
    this.#talks.set(cameraId, { sessionId, talk });
    this.#update(cameraId, { talker: sessionId });
    // A talk outliving its camera's configuration (removed, re-pointed) no longer speaks for its status.
    talk.on('talking', () => {
      if (this.#isCurrent(cameraId, camera)) this.#update(cameraId, { capability: 'available' });
    });
    talk.on('failed', (code, reason) => {
      if (!this.#isCurrent(cameraId, camera)) return;
      this.#update(cameraId, { lastFailure: reason, ...(code === 'UNSUPPORTED' && { capability: 'unsupported', reason }) });
    });
    talk.once('closed', () => {
      if (this.#talks.get(cameraId)?.talk !== talk) return;
      this.#talks.delete(cameraId);
      if (!this.#isCurrent(cameraId, camera)) return;
      const { talker: _gone, ...rest } = this.#status.get(cameraId) ?? { capability: 'unknown' as const };
      this.#status.set(cameraId, rest);
    });
    return talk;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#talks.values()].map(({ talk }) => talk.close()));
  }

  #checkInBackground(cameraId: string): void {
    this.check(cameraId).catch((err: unknown) => this.#options.log.error({ err, cameraId }, 'talkback check failed'));
  }

  #isCurrent(cameraId: string, camera: CameraConfig): boolean {
    return this.#cameras.get(cameraId) === camera;
  }

  /**
   * Drops a camera's status and closes its talk. The talk stays listed until it has closed, so a
   * talker of the camera configured anew waits for the backchannel to be let go (claim()).
   */
  #forget(cameraId: string): void {
    this.#cameras.delete(cameraId);
    this.#status.delete(cameraId);
    const current = this.#talks.get(cameraId);
    current?.talk.close().catch((err: unknown) => this.#options.log.warn({ err, cameraId }, 'closing talkback failed'));
  }

  #update(cameraId: string, change: Partial<TalkbackStatus>): void {
    this.#status.set(cameraId, { ...(this.#status.get(cameraId) ?? { capability: 'unknown' }), ...change });
  }
}

function talkbackCameras(cameras: CameraConfig[]): CameraConfig[] {
  return cameras.filter((camera) => camera.talkback === 'onvif');
}
