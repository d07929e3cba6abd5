import { RtpPacket, type RTCRtpTransceiver } from 'werift';
import { muLawToALaw } from '../camera/g711.ts';
import type { MediaPacket } from '../camera/viewer.ts';
import type { OfferAnalysis } from './sdp.ts';

export interface SessionStats {
  packetsSent: number;
  bytesSent: number;
  packetsDropped: number;
}

/** What the viewer's audio m-line carries: Opus, or G.711 when it offered no Opus. */
export type ViewerAudioCodec = { encoding: 'opus' | 'PCMU' | 'PCMA'; payloadType: number };

/** The audio this viewer gets: Opus when offered, else the G.711 it offered; undefined: none. */
export function viewerAudioCodec(analysis: OfferAnalysis): ViewerAudioCodec | undefined {
  const audio = analysis.audio;
  if (audio?.opusPayloadType !== undefined) return { encoding: 'opus', payloadType: audio.opusPayloadType };
  return audio?.g711;
}

/** RTCP payload-specific feedback (RFC 4585) and its PLI / FIR (RFC 5104) formats. */
const RTCP_PSFB = 206;
const PSFB_PLI = 1;
const PSFB_FIR = 4;

/** The keyframe a viewer asks for in an RTCP packet (PLI or FIR), if it does. */
export function keyframeRequestIn(rtcp: { type: number }): 'pli' | 'fir' | undefined {
  if (rtcp.type !== RTCP_PSFB) return undefined;
  const format = (rtcp as { feedback?: { count?: number } }).feedback?.count;
  return format === PSFB_PLI ? 'pli' : format === PSFB_FIR ? 'fir' : undefined;
}

/** RTP timestamp steps across an ffmpeg restart: one frame at 30 fps, one 20 ms audio frame. */
const VIDEO_TIMESTAMP_STEP = 3000;
const AUDIO_TIMESTAMP_STEP = { opus: 960, PCMU: 160, PCMA: 160 } as const;

/** Payload-independent sender with a bounded number of packets in flight. */
class BoundedSender {
  #inFlight = 0;
  #waitForKeyframe = false;
  readonly #send: (packet: RtpPacket) => Promise<void>;
  readonly #limit: number;
  readonly #stats: SessionStats;

  constructor(send: (packet: RtpPacket) => Promise<void>, limit: number, stats: SessionStats) {
    this.#send = send;
    this.#limit = limit;
    this.#stats = stats;
  }

  /** Drops when full; for video, then waits for the next keyframe so the picture stays whole. */
  offer(packet: MediaPacket): void {
    if (this.#waitForKeyframe && !packet.keyframe) {
      this.#stats.packetsDropped += 1;
      return;
    }
    if (this.#inFlight >= this.#limit) {
      this.#stats.packetsDropped += 1;
      this.#waitForKeyframe = packet.kind === 'video';
      return;
    }
    this.#waitForKeyframe = false;
    this.#inFlight += 1;
    this.#stats.packetsSent += 1;
    this.#stats.bytesSent += packet.data.length;
    // A failed send is a packet lost on the way, like one lost on the network: only counted out.
    this.#send(parsed(packet)).then(
      () => (this.#inFlight -= 1),
      () => (this.#inFlight -= 1),
    );
  }
}

/** The µ-law packet with an A-law payload, for a PCMA viewer (the header is werift's to rewrite). */
function asALaw(packet: MediaPacket): MediaPacket {
  const { payloadOffset, payloadLength } = packet.header;
  const data = Buffer.concat([packet.data.subarray(0, payloadOffset), muLawToALaw(packet.data.subarray(payloadOffset, payloadOffset + payloadLength))]);
  return { kind: 'g711', data, header: packet.header, keyframe: false };
}

/** Parses a packet once for every viewer; werift clones what it is given before rewriting it. */
function parsed(packet: MediaPacket): RtpPacket {
  packet.parsed ??= RtpPacket.deSerialize(packet.data);
  return packet.parsed as RtpPacket;
}

/**
 * The camera's packets on their way to one viewer: video on the video transceiver, and on the
 * audio one the copy the viewer's codec takes (Opus, or µ-law as PCMU or A-law). Each kind has a
 * bounded number of packets in flight, so a slow viewer drops its own packets.
 */
export class MediaSender {
  readonly #video: RTCRtpTransceiver;
  readonly #audio: RTCRtpTransceiver | undefined;
  readonly #audioCodec: ViewerAudioCodec['encoding'] | undefined;
  readonly #videoOut: BoundedSender;
  readonly #audioOut: BoundedSender | undefined;

  /** `stats` is the session's, counted into as packets go (or are dropped). */
  constructor(video: RTCRtpTransceiver, audio: { transceiver: RTCRtpTransceiver; codec: ViewerAudioCodec['encoding'] } | undefined, limit: number, stats: SessionStats) {
    this.#video = video;
    this.#audio = audio?.transceiver;
    this.#audioCodec = audio?.codec;
    this.#videoOut = new BoundedSender((p) => video.sender.sendRtp(p), limit, stats);
    this.#audioOut = audio && new BoundedSender((p) => audio.transceiver.sender.sendRtp(p), limit, stats);
  }

  /** Sends what this viewer takes of the packet (every video packet; one audio copy of two). */
  send(packet: MediaPacket): void {
    if (packet.kind === 'video') {
      this.#videoOut.offer(packet);
    } else if (packet.kind === 'audio' ? this.#audioCodec === 'opus' : this.#audioCodec === 'PCMU') {
      this.#audioOut?.offer(packet);
    } else if (packet.kind === 'g711' && this.#audioCodec === 'PCMA') {
      this.#audioOut?.offer(asALaw(packet));
    }
  }

  /** Before the keyframe cache is replayed: the replay repeats packets already sent, so werift continues numbering. */
  continueVideo(): void {
    this.#video.sender.replaceRTP({ sequenceNumber: 0, timestamp: 0 } as RtpPacket['header'], false, VIDEO_TIMESTAMP_STEP);
  }

  /** The camera's RTP restarted (new ffmpeg): continue sequence numbers and timestamps smoothly. */
  sourceChanged(): void {
    const header = { sequenceNumber: 0, timestamp: 0 } as RtpPacket['header'];
    this.#video.sender.replaceRTP(header, false, VIDEO_TIMESTAMP_STEP);
    this.#audio?.sender.replaceRTP(header, false, AUDIO_TIMESTAMP_STEP[this.#audioCodec ?? 'opus']);
  }
}
