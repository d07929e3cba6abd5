import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'pino';
import type { CameraConfig } from '../config/schema.ts';
import { CameraStream } from './camera-stream.ts';
import type { FfmpegVersion } from './ffmpeg-path.ts';

export interface CameraStreamsOptions {
  cameras: CameraConfig[];
  defaultLingerSec: number;
  /** Resolved at start-up; undefined when no ffmpeg was found (streams then fail clearly). */
  ffmpegPath: () => string | undefined;
  /** Parsed with the path; undefined = unknown, treated as a current ffmpeg. */
  ffmpegVersion?: () => FfmpegVersion | undefined;
  log: Logger;
  /** A stream restarting without video this long is `down` and its sessions end; default DOWN_MS (30 s). */
  downMs?: number;
  /** Called with each stream when it is made, to follow its failures (health). */
  onStream?: (stream: CameraStream) => void;
}

/** What setCameras() did, by camera id. */
export interface CameraStreamChanges {
  /** No longer configured: their streams closed. */
  removed: string[];
  /** A setting their stream is made from changed: their streams closed, new ones made on next use. */
  changed: string[];
  added: string[];
}

/** The closing stream's `down` reason when its camera leaves the configuration. */
export const CAMERA_REMOVED_REASON = 'the camera was removed from the configuration';

/**
 * Owns one CameraStream per configured camera, made on first use (at once for preload cameras),
 * and closes them all. setCameras() takes a new camera list while running.
 */
export class CameraStreams {
  readonly #cameras = new Map<string, CameraConfig>();
  readonly #streams = new Map<string, CameraStream>();
  /** Streams of removed or changed cameras still stopping their ffmpeg: close() waits for them. */
  readonly #retiring = new Set<Promise<void>>();
  readonly #options: CameraStreamsOptions;
  /** startPreloaded() has run: preload cameras added later start as they come. */
  #started = false;
  #closed = false;

  constructor(options: CameraStreamsOptions) {
    this.#options = options;
    for (const camera of options.cameras) this.#cameras.set(camera.id, camera);
  }

  /** Starts the cameras configured with `preload: true`. */
  startPreloaded(): void {
    this.#started = true;
    for (const camera of this.#cameras.values()) if (camera.preload) this.get(camera.id);
  }

  /**
   * Takes a new camera list. A removed camera's stream closes, its `down` saying so (its viewers'
   * sessions end). A camera whose stream settings changed (see #streamSettings) has its stream
   * closed the same way; the next get() makes a new one — at once for preload cameras once
   * startPreloaded() has run, as for added ones. Other changes (name, events) and unchanged
   * cameras leave the running stream and its viewers alone. Idempotent.
   */
  setCameras(cameras: CameraConfig[]): CameraStreamChanges {
    const next = new Map(cameras.map((camera) => [camera.id, camera]));
    const changes: CameraStreamChanges = { removed: [], changed: [], added: [] };
    for (const [id, current] of this.#cameras) {
      const wanted = next.get(id);
      if (!wanted) {
        changes.removed.push(id);
        this.#retire(id, CAMERA_REMOVED_REASON);
        continue;
      }
      const before = this.#streamSettings(current);
      const after = this.#streamSettings(wanted);
      if (isDeepStrictEqual(before, after)) continue;
      changes.changed.push(id);
      const settings = (Object.keys(after) as Array<keyof typeof after>).filter((key) => !isDeepStrictEqual(before[key], after[key]));
      this.#retire(id, `the camera's configuration changed (${settings.join(', ')})`);
    }
    for (const id of next.keys()) if (!this.#cameras.has(id)) changes.added.push(id);
    this.#cameras.clear();
    for (const [id, camera] of next) this.#cameras.set(id, camera);
    if (this.#started && !this.#closed) {
      for (const id of [...changes.changed, ...changes.added]) if (next.get(id)?.preload) this.get(id);
    }
    return changes;
  }

  /** The camera's stream, created when first asked for; undefined for an unknown camera. */
  get(cameraId: string): CameraStream | undefined {
    if (this.#closed) throw new Error('camera streams are closed');
    const existing = this.#streams.get(cameraId);
    if (existing) return existing;
    const camera = this.#cameras.get(cameraId);
    if (!camera) return undefined;
    const version = this.#options.ffmpegVersion?.();
    const { url, transcode, preload, lingerMs } = this.#streamSettings(camera);
    const stream = new CameraStream({
      id: camera.id,
      url,
      transcode,
      preload,
      lingerMs,
      ffmpegPath: this.#options.ffmpegPath() ?? 'ffmpeg',
      ...(version && { ffmpegVersion: version }),
      ...(this.#options.downMs !== undefined && { downMs: this.#options.downMs }),
      log: this.#options.log.child({ cameraId: camera.id }),
    });
    this.#streams.set(camera.id, stream);
    stream.once('closed', () => {
      // A changed camera's new stream may be listed already.
      if (this.#streams.get(camera.id) === stream) this.#streams.delete(camera.id);
    });
    this.#options.onStream?.(stream);
    return stream;
  }

  /** The stream if it exists, without creating it. */
  peek(cameraId: string): CameraStream | undefined {
    return this.#streams.get(cameraId);
  }

  /** Streams made so far (for status and metrics). */
  all(): CameraStream[] {
    return [...this.#streams.values()];
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...[...this.#streams.values()].map((stream) => stream.close()), ...this.#retiring]);
  }

  /** What a camera's stream is made from: a change to any of these replaces the stream. */
  #streamSettings(camera: CameraConfig) {
    return {
      url: camera.url,
      transcode: camera.transcode,
      preload: camera.preload,
      lingerMs: (camera.lingerSec ?? this.#options.defaultLingerSec) * 1000,
      // The stream does not read it, but its viewers' sessions negotiated their audio by it.
      talkback: camera.talkback,
    };
  }

  /** Closes a camera's stream for `reason` (its viewers' owner hears it through `down`). */
  #retire(cameraId: string, reason: string): void {
    const stream = this.#streams.get(cameraId);
    if (!stream) return;
    this.#streams.delete(cameraId);
    this.#options.log.info({ cameraId, reason }, 'closing the camera stream');
    const closing: Promise<void> = stream
      .close(reason)
      .catch((err: unknown) => this.#options.log.error({ err, cameraId }, 'closing the camera stream failed'))
      .finally(() => this.#retiring.delete(closing));
    this.#retiring.add(closing);
  }
}
