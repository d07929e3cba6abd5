/**
 * The H.264 RTP packets of one camera's latest keyframe and everything after it, so a viewer
 * joining mid-GOP can be sent them the moment its connection is up: werift drops RTP written
 * before DTLS is connected, and without this the viewer's first frame would wait up to a whole
 * GOP (seconds on a real camera) for the next IDR. With it, the first frame costs ~10 ms.
 *
 * Keyframe boundaries: SPS, PPS and the IDR slices of one keyframe arrive as separate packets
 * sharing one RTP timestamp (a multi-slice IDR has several FU-A starts with that timestamp), so
 * only a keyframe-starting packet with a *different* timestamp begins a new cache.
 */
import { startsKeyframe } from './h264.ts';
import { rtpPayload, type RtpHeader } from './rtp.ts';

export interface KeyframeCacheOptions {
  /** Stop appending past this many bytes (whole RTP packets). Default 4 MiB. */
  maxBytes?: number;
  /** Stop appending past this many packets. Default 5000. */
  maxPackets?: number;
  /** Wall clock in ms, for keyframeAgeMs. Default Date.now. */
  now?: () => number;
}

export const DEFAULT_MAX_BYTES = 4 * 1024 * 1024;
export const DEFAULT_MAX_PACKETS = 5000;

export class KeyframeCache {
  private readonly maxBytes: number;
  private readonly maxPackets: number;
  private readonly now: () => number;

  private packets: Buffer[] = [];
  private bytes = 0;
  private keyTimestamp: number | undefined;
  private keySsrc: number | undefined;
  private keyArrivedAt: number | undefined;
  private full = false;

  constructor(options: KeyframeCacheOptions = {}) {
    this.maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
    this.maxPackets = options.maxPackets ?? DEFAULT_MAX_PACKETS;
    this.now = options.now ?? Date.now;
  }

  /**
   * Offer the next video packet, in arrival order. The packet is stored by reference, not copied:
   * Node's dgram gives every message its own Buffer, so nothing overwrites it later. A caller
   * that reuses a receive buffer must pass a copy.
   */
  push(packet: Buffer, header: RtpHeader): void {
    // A new SSRC is a new stream (ffmpeg restarted): its packets cannot follow the old keyframe.
    if (this.keySsrc !== undefined && header.ssrc !== this.keySsrc) this.clear();

    const sameKeyframe = this.keyTimestamp !== undefined && header.timestamp === this.keyTimestamp;
    if (!sameKeyframe && startsKeyframe(rtpPayload(packet, header))) {
      this.packets = [];
      this.bytes = 0;
      this.full = false;
      this.keyTimestamp = header.timestamp;
      this.keySsrc = header.ssrc;
      this.keyArrivedAt = this.now();
    }
    if (this.keyTimestamp === undefined || this.full) return; // before the first keyframe, or full

    if (this.packets.length + 1 > this.maxPackets || this.bytes + packet.length > this.maxBytes) {
      this.full = true;
      if (header.timestamp === this.keyTimestamp) {
        // The keyframe itself does not fit: a partial one decodes as garbage, so keep nothing. The
        // keyframe timestamp stays, so its remaining slices cannot start a (headless) cache.
        this.packets = [];
        this.bytes = 0;
      }
      return;
    }
    this.packets.push(packet);
    this.bytes += packet.length;
  }

  /**
   * The cached packets in arrival order, keyframe first. A new array each call, so later pushes do
   * not change what the caller is iterating; the Buffers themselves are shared, do not modify them.
   */
  snapshot(): readonly Buffer[] {
    return this.packets.slice();
  }

  get hasKeyframe(): boolean {
    return this.packets.length > 0;
  }

  /**
   * True when a limit stopped appending after the keyframe: the snapshot holds the keyframe and
   * the start of its GOP, but not the frames since, which later P-frames reference. A viewer
   * sent it shows the keyframe (a still) and then decodes live packets against missing
   * references (smearing) until the next keyframe; the owner may prefer to hold such a viewer's
   * live feed until then. Reset by the next keyframe. Also true, with hasKeyframe false, when
   * the keyframe alone exceeded a limit and was discarded.
   */
  get overflowed(): boolean {
    return this.full;
  }

  get byteLength(): number {
    return this.bytes;
  }

  get packetCount(): number {
    return this.packets.length;
  }

  /** RTP timestamp of the cached keyframe, undefined without one. */
  get keyframeTimestamp(): number | undefined {
    return this.hasKeyframe ? this.keyTimestamp : undefined;
  }

  /** Milliseconds since the cached keyframe's first packet arrived; undefined without one. */
  keyframeAgeMs(now: number = this.now()): number | undefined {
    return this.hasKeyframe && this.keyArrivedAt !== undefined ? now - this.keyArrivedAt : undefined;
  }

  /**
   * Forget everything; caching resumes at the next keyframe. Call it when the camera's ffmpeg
   * stops or restarts: with a fixed -ssrc a restarted stream is not told apart by its SSRC, and
   * its packets before the first keyframe would otherwise be appended to the old GOP.
   */
  clear(): void {
    this.packets = [];
    this.bytes = 0;
    this.full = false;
    this.keyTimestamp = undefined;
    this.keySsrc = undefined;
    this.keyArrivedAt = undefined;
  }
}
