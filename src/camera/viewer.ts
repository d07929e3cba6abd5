import type { RtpHeader } from './rtp.ts';

/** One RTP packet from a camera's ffmpeg, as handed to every viewer. */
export interface MediaPacket {
  /** `audio` is Opus; `g711` the same audio as µ-law at 8 kHz (for viewers that offer no Opus). */
  kind: 'video' | 'audio' | 'g711';
  /** The datagram as ffmpeg sent it. Shared by all viewers: never modify it. */
  data: Buffer;
  header: RtpHeader;
  /** The first packet of a keyframe (SPS or IDR start): a viewer that dropped may resume here. */
  keyframe: boolean;
  /** A consumer's parsed form, filled by the first viewer so the rest reuse it. */
  parsed?: unknown;
}

/**
 * What a CameraStream fans out to. The stream delivers only to ready viewers; it replays its
 * keyframe cache to a viewer when the viewer's owner calls `CameraStream.viewerReady`.
 */
export interface StreamViewer {
  readonly id: string;
  /** Media now reaches the viewer (its transport is up). */
  readonly ready: boolean;
  /** Must not block: a slow viewer drops its own packets, never the stream's. */
  deliver(packet: MediaPacket): void;
  /** Sequence numbers and timestamps are about to jump (ffmpeg restarted). */
  sourceChanged(): void;
}
