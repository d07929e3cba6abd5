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

/**
 * Owns one CameraStream per configured camera, made on first use (at once for preload cameras),
 * and closes them all.
 */
export class CameraStreams {
  readonly #cameras: Map<string, CameraConfig>;
  readonly #streams = new Map<string, CameraStream>();
  readonly #options: CameraStreamsOptions;
  #closed = false;

  constructor(options: CameraStreamsOptions) {
    this.#options = options;
    this.#cameras = new Map(options.cameras.map((camera) => [camera.id, camera]));
  }

  /** Starts the cameras configured with `preload: true`. */
  startPreloaded(): void {
    for (const camera of this.#cameras.values()) if (camera.preload) this.get(camera.id);
  }

  /** The camera's stream, created when first asked for; undefined for an unknown camera. */
  get(cameraId: string): CameraStream | undefined {
    if (this.#closed) throw new Error('camera streams are closed');
    const existing = this.#streams.get(cameraId);
    if (existing) return existing;
    const camera = this.#cameras.get(cameraId);
    if (!camera) return undefined;
    const version = this.#options.ffmpegVersion?.();
    const stream = new CameraStream({
      id: camera.id,
      url: camera.url,
      transcode: camera.transcode,
      preload: camera.preload,
      lingerMs: (camera.lingerSec ?? this.#options.defaultLingerSec) * 1000,
      ffmpegPath: this.#options.ffmpegPath() ?? 'ffmpeg',
      ...(version && { ffmpegVersion: version }),
      ...(this.#options.downMs !== undefined && { downMs: this.#options.downMs }),
      log: this.#options.log.child({ cameraId: camera.id }),
    });
    this.#streams.set(camera.id, stream);
    stream.once('closed', () => this.#streams.delete(camera.id));
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
    await Promise.all([...this.#streams.values()].map((stream) => stream.close()));
  }
}
