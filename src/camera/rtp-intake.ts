/**
 * Where one camera's ffmpeg sends its RTP: three UDP sockets on 127.0.0.1 (ffmpeg's `-f rtp`
 * carries one stream per output, so video, Opus audio and G.711 audio get a port each). Ports are picked by the
 * OS (port 0) and outlive ffmpeg restarts: a restarted ffmpeg is pointed at the same ports.
 *
 * Loss here is silent and costly (a lost keyframe fragment freezes every viewer until the next
 * IDR), hence the large receive buffer. The owner watches `lastPacketAt` to notice a camera
 * going quiet; ffmpeg itself only notices after ~3x its RTSP timeout.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { EventEmitter, once } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';

/** `audio` is Opus; `g711` the same audio as µ-law for viewers without Opus. */
export type RtpKind = 'video' | 'audio' | 'g711';
const KINDS: readonly RtpKind[] = ['video', 'audio', 'g711'];

export interface RtpIntakeOptions {
  /**
   * SO_RCVBUF per socket. Default 4 MiB: a 4 Mb/s camera's keyframe arrives as a burst of a few
   * hundred packets, which overflows Linux's default (~208 KiB) while Node is busy. The kernel
   * caps the request at net.core.rmem_max: see `receiveBufferBytes` for what was granted.
   */
  receiveBufferBytes?: number;
  log?: Logger;
}

export interface RtpKindStats {
  packets: number;
  bytes: number;
  /** performance.now() of the last accepted packet; null until the first one. */
  lastPacketAt: number | null;
  /** Datagrams dropped: not from 127.0.0.1, or not RTP version 2. */
  rejected: number;
}

export interface RtpIntakeEvents {
  packet: [kind: RtpKind, packet: Buffer];
}

const LOOPBACK = '127.0.0.1';
const DEFAULT_RECEIVE_BUFFER = 4 * 1024 * 1024;
const RTP_HEADER_BYTES = 12;

export class RtpIntake extends EventEmitter<RtpIntakeEvents> {
  readonly #sockets: Record<RtpKind, Socket>;
  readonly #stats: Record<RtpKind, RtpKindStats> = { video: emptyStats(), audio: emptyStats(), g711: emptyStats() };
  readonly #ports: Record<RtpKind, number>;
  readonly #log: Logger | undefined;
  readonly openedAt = performance.now();
  #closed = false;

  static async open(options: RtpIntakeOptions = {}): Promise<RtpIntake> {
    const size = options.receiveBufferBytes ?? DEFAULT_RECEIVE_BUFFER;
    if (!Number.isInteger(size) || size <= 0) throw new RangeError('receiveBufferBytes must be a positive integer');
    const opened: Socket[] = [];
    try {
      for (let n = 0; n < KINDS.length; n++) opened.push(await bindLoopback(size));
      const [video, audio, g711] = opened as [Socket, Socket, Socket];
      return new RtpIntake({ video, audio, g711 }, options.log);
    } catch (err) {
      for (const socket of opened) socket.close();
      throw err;
    }
  }

  /** Use RtpIntake.open(). */
  private constructor(sockets: Record<RtpKind, Socket>, log: Logger | undefined) {
    super();
    this.#sockets = sockets;
    this.#log = log;
    this.#ports = { video: sockets.video.address().port, audio: sockets.audio.address().port, g711: sockets.g711.address().port };
    for (const kind of KINDS) {
      const socket = sockets[kind];
      socket.on('message', (packet, remote) => this.#onMessage(kind, packet, remote));
      // An unhandled 'error' would crash the process; nothing sent to us can fix a socket error.
      socket.on('error', (err) => this.#log?.warn({ kind, code: (err as NodeJS.ErrnoException).code }, 'RTP intake socket error'));
    }
    const granted = this.receiveBufferBytes;
    this.#log?.debug({ ports: this.#ports, receiveBufferBytes: granted }, 'RTP intake open');
  }

  get videoPort(): number {
    return this.#ports.video;
  }

  get audioPort(): number {
    return this.#ports.audio;
  }

  get g711Port(): number {
    return this.#ports.g711;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** SO_RCVBUF as the kernel granted it (Linux reports double the usable size). 0 once closed. */
  get receiveBufferBytes(): number {
    if (this.#closed) return 0;
    return this.#sockets.video.getRecvBufferSize();
  }

  /** A snapshot; lastPacketAt is on the performance.now() clock. */
  stats(kind: RtpKind): RtpKindStats {
    return { ...this.#stats[kind] };
  }

  /** Idempotent. The ports are free again when this returns. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const socket of Object.values(this.#sockets)) {
      socket.removeAllListeners('message');
      socket.close();
    }
    this.#log?.debug({ video: this.#stats.video, audio: this.#stats.audio, g711: this.#stats.g711 }, 'RTP intake closed');
  }

  #onMessage(kind: RtpKind, packet: Buffer, remote: RemoteInfo): void {
    const stats = this.#stats[kind];
    // Defence in depth: the socket is bound to loopback, but any local process — or another
    // 127.x address — can send to it. Only ffmpeg on 127.0.0.1 is expected, and only RTP v2
    // (RTCP is off: rtpflags=skip_rtcp), so downstream parsers never see anything else.
    if (remote.address !== LOOPBACK || packet.length < RTP_HEADER_BYTES || packet[0]! >> 6 !== 2) {
      stats.rejected++;
      return;
    }
    stats.packets++;
    stats.bytes += packet.length;
    stats.lastPacketAt = performance.now();
    this.emit('packet', kind, packet);
  }
}

function emptyStats(): RtpKindStats {
  return { packets: 0, bytes: 0, lastPacketAt: null, rejected: 0 };
}

async function bindLoopback(receiveBufferBytes: number): Promise<Socket> {
  // recvBufferSize is applied right after bind, before any datagram can arrive.
  const socket = createSocket({ type: 'udp4', recvBufferSize: receiveBufferBytes });
  try {
    // events.once rejects on 'error' (EADDRINUSE, ENOBUFS…) as well.
    const bound = once(socket, 'listening');
    socket.bind(0, LOOPBACK);
    await bound;
  } catch (err) {
    socket.close();
    throw err;
  }
  return socket;
}
