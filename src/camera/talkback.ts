import { createSocket, type Socket } from 'node:dgram';
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { FfmpegProcess } from './ffmpeg-process.ts';
import type { AuthScheme } from './rtsp-auth.ts';
import { Backchannel, BackchannelError } from './rtsp-backchannel.ts';
import { buildTalkbackArgs, talkbackSdp, type ViewerCodec } from './talkback-args.ts';

export interface TalkSessionOptions {
  cameraId: string;
  /** The camera's RTSP URL, with credentials; never logged. */
  url: string;
  ffmpegPath: string;
  /** What the viewer sends: Opus, or G.711 from a viewer that offered no Opus. */
  viewerCodec: ViewerCodec;
  log: Logger;
  /** The auth scheme that worked for this camera before. */
  knownScheme?: AuthScheme;
  /** The previous talker's teardown: a camera takes one backchannel at a time. */
  after?: Promise<void>;
}

export type TalkState = 'opening' | 'talking' | 'failed' | 'closed';

export interface TalkStatus {
  state: TalkState;
  reason?: string;
  packetsIn: number;
  packetsOut: number;
}

export interface TalkSessionEvents {
  /** The backchannel is open and audio flows to the camera. */
  talking: [];
  /** The backchannel could not be opened or was lost; the video session goes on without it. */
  failed: [code: string, reason: string];
  closed: [];
}

/** 20 ms of 8 kHz G.711: one byte per sample. */
const FRAME_BYTES = 160;

/**
 * One viewer talking to one camera: the viewer's Opus RTP → ffmpeg (decode, resample, G.711) →
 * 20 ms frames → the camera's ONVIF backchannel. Audio that arrives before the backchannel is
 * open is dropped: late speech is worse than a clipped first syllable.
 */
export class TalkSession extends EventEmitter<TalkSessionEvents> {
  readonly cameraId: string;
  readonly #options: TalkSessionOptions;
  readonly #log: Logger;
  #state: TalkState = 'opening';
  #reason: string | undefined;
  #backchannel: Backchannel | undefined;
  #ffmpeg: FfmpegProcess | undefined;
  #socket: Socket | undefined;
  #port = 0;
  #pending: Buffer = Buffer.alloc(0);
  #packetsIn = 0;
  #packetsOut = 0;
  #closing: Promise<void> | undefined;

  constructor(options: TalkSessionOptions) {
    super();
    this.cameraId = options.cameraId;
    this.#options = options;
    this.#log = options.log;
    this.#open().catch((err: unknown) => {
      const code = err instanceof BackchannelError ? err.code : 'TALKBACK_FAILED';
      this.#fail(code, (err as Error).message);
    });
  }

  status(): TalkStatus {
    return { state: this.#state, ...(this.#reason && { reason: this.#reason }), packetsIn: this.#packetsIn, packetsOut: this.#packetsOut };
  }

  /** One Opus RTP packet from the viewer, as received. */
  pushRtp(packet: Buffer): void {
    if (this.#state !== 'talking' || !this.#socket) return;
    this.#packetsIn += 1;
    this.#socket.send(packet, this.#port, '127.0.0.1');
  }

  /** Idempotent: tears the backchannel down and stops ffmpeg; every call settles when that is done. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#state = 'closed';
      await this.#teardown();
      this.emit('closed');
    })();
    return this.#closing;
  }

  /** Closed or closing: the camera's backchannel is free for the next talker. */
  get released(): boolean {
    return this.#closing !== undefined;
  }

  async #open(): Promise<void> {
    await this.#options.after?.catch(() => {});
    if (this.released) return;
    const backchannel = await Backchannel.open({ url: this.#options.url, log: this.#log, ...(this.#options.knownScheme && { knownScheme: this.#options.knownScheme }) });
    if (this.#state === 'closed') {
      await backchannel.close();
      return;
    }
    this.#backchannel = backchannel;
    backchannel.once('closed', (reason, detail) => {
      if (reason !== 'closed') this.#fail('BACKCHANNEL_LOST', `the camera closed the backchannel${detail ? ` (${detail})` : ''}`);
    });
    this.#socket = createSocket('udp4');
    this.#socket.on('error', (err) => this.#log.debug({ code: (err as NodeJS.ErrnoException).code }, 'talkback socket error'));
    this.#port = await freeUdpPort();
    this.#ffmpeg = new FfmpegProcess({
      ffmpegPath: this.#options.ffmpegPath,
      args: buildTalkbackArgs({ port: this.#port, payloadType: this.#options.viewerCodec.payloadType, codec: backchannel.codec.encoding }),
      stdin: talkbackSdp({ port: this.#port, ...this.#options.viewerCodec }),
      onStdout: (chunk) => this.#onG711(chunk),
      log: this.#log,
    });
    this.#ffmpeg.once('exit', (exit) => {
      if (!exit.requested) this.#fail('TALKBACK_FFMPEG_EXITED', exit.failure?.message ?? `the talkback ffmpeg stopped (${exit.signal ?? exit.code})`);
    });
    this.#ffmpeg.start();
    this.#state = 'talking';
    this.#log.info({ codec: backchannel.codec.encoding }, 'talkback open: the viewer can talk through the camera');
    this.emit('talking');
  }

  #onG711(chunk: Buffer): void {
    this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    while (this.#pending.length >= FRAME_BYTES) {
      this.#backchannel?.sendAudio(this.#pending.subarray(0, FRAME_BYTES));
      this.#pending = this.#pending.subarray(FRAME_BYTES);
      this.#packetsOut += 1;
    }
  }

  #fail(code: string, reason: string): void {
    if (this.#state === 'closed' || this.#state === 'failed') return;
    this.#state = 'failed';
    this.#reason = reason;
    this.#log.warn({ code, reason }, 'talkback unavailable: the session goes on with one-way audio');
    this.#teardown().catch((err: unknown) => this.#log.debug({ err }, 'talkback teardown failed'));
    this.emit('failed', code, reason);
  }

  async #teardown(): Promise<void> {
    const [ffmpeg, backchannel, socket] = [this.#ffmpeg, this.#backchannel, this.#socket];
    this.#ffmpeg = undefined;
    this.#backchannel = undefined;
    this.#socket = undefined;
    socket?.close();
    await Promise.all([ffmpeg?.close(), backchannel?.close()]);
  }
}

/** A loopback UDP port free right now, for ffmpeg to bind (it retries a taken one by failing). */
async function freeUdpPort(): Promise<number> {
  const probe = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    probe.once('error', reject);
    probe.bind(0, '127.0.0.1', resolve);
  });
  const { port } = probe.address();
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}
