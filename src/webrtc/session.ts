import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { MediaStreamTrack, RTCPeerConnection, RtpPacket, type RTCRtpTransceiver } from 'werift';
import { muLawToALaw } from '../camera/g711.ts';
import type { MediaPacket, StreamViewer } from '../camera/viewer.ts';
import { candidatesInSdp, distinct, explainIceFailure, listCandidates, summarizeCandidates, type CandidateFacts } from './ice-diagnosis.ts';
import { peerConfig, type IceSettings } from './peer-config.ts';
import { finalizeAnswer, NegotiationError, normalizeOfferForWerift, type OfferAnalysis } from './sdp.ts';

export { peerConfig, type IceSettings };

export interface SessionOptions {
  id: string;
  cameraId: string;
  offerSdp: string;
  /** analyzeOffer(offerSdp), done by the caller so a bad offer is refused before anything else. */
  analysis: OfferAnalysis;
  ice: IceSettings;
  log: Logger;
  /** Packets handed to werift and not yet sent; beyond it the viewer is too slow and we drop. */
  sendQueueLimit?: number;
  /** Answer audio sendrecv and hand every RTP packet of the viewer's microphone here (talkback). */
  onViewerAudio?: (packet: Buffer) => void;
  /**
   * A connected viewer sends RTCP reports every second or so; none for this long means it is
   * gone (hung up, lost power). ICE consent alone would take 30 s to notice.
   */
  silenceTimeoutMs?: number;
}

/**
 * Why a session ended; also its `porchlight_sessions_total` outcome (dashes become underscores).
 * `ice-failed`: no ICE candidate pair ever worked (the viewer and porchlight could not reach each
 * other; closeDetail says what each side offered); `connect-timeout`: ICE worked but DTLS did not
 * finish in time; `answer-timeout`: the answer was ready too late for Alexa (the offer was refused
 * with TIMEOUT); `connection-failed`: a connection that had worked was lost.
 */
export type SessionCloseReason =
  | 'disconnected' | 'replaced' | 'connection-failed' | 'ice-failed' | 'viewer-silent' | 'connect-timeout' | 'answer-timeout' | 'max-lifetime'
  | 'camera-stopped' | 'media-stalled' | 'shutdown';

/** A peer connection that takes longer than this to close no longer holds its ports' lease. */
const PC_CLOSE_LIMIT_MS = 5000;

export interface SessionEvents {
  /** DTLS is up: media written now reaches the viewer (replay the keyframe cache here). */
  ready: [];
  /** The first video packet went out, this long after `ready`. */
  firstMedia: [ms: number];
  /** The viewer lost a picture (PLI or FIR): replay the keyframe cache to it (at most about once a second). */
  keyframeRequest: [kind: 'pli' | 'fir'];
  connected: [];
  closed: [reason: SessionCloseReason];
}

export interface SessionStats {
  packetsSent: number;
  bytesSent: number;
  packetsDropped: number;
}

/** What the viewer's audio m-line carries: Opus, or G.711 when it offered no Opus. */
export type ViewerAudioCodec = { encoding: 'opus' | 'PCMU' | 'PCMA'; payloadType: number };

/** A viewer asking for keyframes faster than this gets one replay per interval (the cache is a whole GOP). */
const KEYFRAME_REPLAY_INTERVAL_MS = 1000;
/** Camera packets offered to a ready viewer while its transport sends nothing for this long: the media path is dead. */
const MEDIA_STALL_MS = 10_000;
/** werift's CandidatePairState.SUCCEEDED (not exported from its index). */
const CANDIDATE_PAIR_SUCCEEDED = 3;
/** RTCP payload-specific feedback (RFC 4585) and its PLI / FIR (RFC 5104) formats. */
const RTCP_PSFB = 206;
const PSFB_PLI = 1;
const PSFB_FIR = 4;

/** RTP timestamp steps across an ffmpeg restart: one frame at 30 fps, one 20 ms audio frame. */
const VIDEO_TIMESTAMP_STEP = 3000;
const AUDIO_TIMESTAMP_STEP = { opus: 960, PCMU: 160, PCMA: 160 } as const;

/**
 * werift's own SDP reader is stricter than analyzeOffer in places (an empty section, a malformed
 * candidate, a mid missing from BUNDLE): what it throws while taking in the offer is the offer's
 * fault, so it is refused as a bad offer (INVALID_VALUE), not reported as porchlight's error.
 */
async function offerStep<T>(step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    if (err instanceof NegotiationError) throw err;
    throw new NegotiationError('MALFORMED_SDP', `The offer could not be read by the WebRTC stack: ${(err as Error).message}`);
  }
}

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
    this.#send(parsed(packet)).then(
      () => (this.#inFlight -= 1),
      () => (this.#inFlight -= 1),
    );
  }
}

/**
 * Follows the viewer's microphone. werift replaces the receive track while applying an offer that
 * signals SSRCs (and announces it on onTrack), so both the transceiver's track after
 * setRemoteDescription and any track announced later are followed, each once.
 */
function viewerAudioListener(pc: RTCPeerConnection, onViewerAudio: ((packet: Buffer) => void) | undefined): (track: MediaStreamTrack) => void {
  const followed = new Set<MediaStreamTrack>();
  const follow = (track: MediaStreamTrack) => {
    if (!onViewerAudio || track.kind !== 'audio' || followed.has(track)) return;
    followed.add(track);
    track.onReceiveRtp.subscribe((rtp) => onViewerAudio(rtp.serialize()));
  };
  if (onViewerAudio) pc.onTrack.subscribe(follow);
  return follow;
}

/** The audio this viewer gets: Opus when offered, else the G.711 it offered; undefined: none. */
export function viewerAudioCodec(analysis: OfferAnalysis): ViewerAudioCodec | undefined {
  const audio = analysis.audio;
  if (audio?.opusPayloadType !== undefined) return { encoding: 'opus', payloadType: audio.opusPayloadType };
  return audio?.g711;
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
 * One viewer's WebRTC peer connection: answers the offer (no trickle: every candidate is in the
 * answer), then carries the camera's RTP to the viewer until closed.
 */
export class Session extends EventEmitter<SessionEvents> implements StreamViewer {
  readonly id: string;
  readonly cameraId: string;
  readonly createdAt = Date.now();
  readonly stats: SessionStats = { packetsSent: 0, bytesSent: 0, packetsDropped: 0 };
  #ready = false;
  #readyAt = 0;
  #firstMediaSent = false;
  #connected = false;
  /** ICE found a working pair at some point (DTLS may still have failed after it). */
  #iceConnected = false;
  #closed = false;
  /** Settled once the peer connection has closed and its UDP sockets are unbound. */
  readonly #released = Promise.withResolvers<void>();
  #closeDetail: string | undefined;
  /** The candidates of our answer, for the diagnosis of a failed ICE. */
  #localCandidates: CandidateFacts[] = [];
  readonly #turnConfigured: boolean;
  readonly #pc: RTCPeerConnection;
  readonly #log: Logger;
  readonly #video: RTCRtpTransceiver;
  readonly #audio: RTCRtpTransceiver | undefined;
  readonly #videoOut: BoundedSender;
  readonly #audioOut: BoundedSender | undefined;
  readonly #audioCodec: ViewerAudioCodec['encoding'] | undefined;
  #lastRtcpAt = 0;
  #silenceWatch: NodeJS.Timeout | undefined;
  #lastKeyframeReplayAt = Number.NEGATIVE_INFINITY;
  /** Media watchdog: when packets were last offered, and the transport's byte count then. */
  #mediaWatch: NodeJS.Timeout | undefined;
  #lastOfferedAt = 0;
  #transportBytesAt = { bytes: -1, at: 0 };

  private constructor(options: SessionOptions, pc: RTCPeerConnection, video: RTCRtpTransceiver, audio: RTCRtpTransceiver | undefined) {
    super();
    this.id = options.id;
    this.cameraId = options.cameraId;
    this.#pc = pc;
    this.#log = options.log;
    this.#video = video;
    this.#audio = audio;
    this.#audioCodec = audio ? viewerAudioCodec(options.analysis)?.encoding : undefined;
    this.#turnConfigured = options.ice.iceServers.some((s) => [s.urls].flat().some((url) => /^turns?:/i.test(url)));
    const limit = options.sendQueueLimit ?? 512;
    this.#videoOut = new BoundedSender((p) => video.sender.sendRtp(p), limit, this.stats);
    this.#audioOut = audio && new BoundedSender((p) => audio.sender.sendRtp(p), limit, this.stats);
    video.sender.onReady.subscribe(() => {
      if (this.#closed || this.#ready) return;
      this.#ready = true;
      this.#readyAt = performance.now();
      this.emit('ready');
    });
    const onRtcp = () => (this.#lastRtcpAt = Date.now());
    video.sender.onRtcp.subscribe(onRtcp);
    audio?.sender.onRtcp.subscribe(onRtcp);
    // Not 'completed': werift reports that when gathering completes.
    pc.iceConnectionStateChange.subscribe((state) => {
      if (state === 'connected') this.#iceConnected = true;
    });
    pc.connectionStateChange.subscribe((state) => {
      if (state === 'connected' && !this.#connected) {
        this.#connected = true;
        this.#log.info('viewer connected');
        this.#watchSilence(options.silenceTimeoutMs ?? 15_000);
        this.emit('connected');
      } else if (state === 'failed' || state === 'closed') {
        this.close(this.#lostReason());
      }
    });
  }

  /**
   * Builds the peer connection for an analysed offer and returns its complete answer (every
   * candidate in it). Throws NegotiationError when the answer cannot be made; the peer
   * connection is closed on any failure.
   */
  static async answer(options: SessionOptions): Promise<{ session: Session; answerSdp: string }> {
    const { analysis } = options;
    const pc = new RTCPeerConnection(peerConfig(options.ice));
    const listenToViewer = viewerAudioListener(pc, options.onViewerAudio);
    try {
      await offerStep(() => pc.setRemoteDescription({ type: 'offer', sdp: normalizeOfferForWerift(options.offerSdp, analysis) }));
      const transceivers = pc.getTransceivers();
      const video = transceivers.find((t) => t.mLineIndex === analysis.video.mLineIndex);
      if (!video) throw new Error('werift made no transceiver for the offered video');
      video.setDirection('sendonly');
      await video.sender.replaceTrack(new MediaStreamTrack({ kind: 'video' }));
      let audio: RTCRtpTransceiver | undefined;
      const talkback = options.onViewerAudio !== undefined;
      if (viewerAudioCodec(analysis)) {
        audio = transceivers.find((t) => t.mLineIndex === analysis.audio!.mLineIndex);
        audio?.setDirection(talkback ? 'sendrecv' : 'sendonly');
        await audio?.sender.replaceTrack(new MediaStreamTrack({ kind: 'audio' }));
        if (audio) listenToViewer(audio.receiver.track);
      }
      // Subscribed before setLocalDescription: DTLS may finish right after it.
      const session = new Session(options, pc, video, audio);
      await pc.setLocalDescription(await offerStep(() => pc.createAnswer()));
      // The transport is final once the answer is set (BUNDLE may have replaced it).
      session.#watchTransport();
      const answerSdp = finalizeAnswer(pc.localDescription!.sdp, analysis, { talkback, excludedAddresses: options.ice.excludedAddresses });
      session.#localCandidates = candidatesInSdp(answerSdp);
      return { session, answerSdp };
    } catch (err) {
      await pc.close().catch(() => {});
      throw err;
    }
  }

  get ready(): boolean {
    return this.#ready && !this.#closed;
  }

  get connected(): boolean {
    return this.#connected && !this.#closed;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** For a session closed with `ice-failed`: what each side offered and what to change. */
  get closeDetail(): string | undefined {
    return this.#closeDetail;
  }

  /** The connect timeout passed: `ice-failed` when no candidate pair ever worked, else `connect-timeout`. */
  connectTimedOut(): void {
    this.close(this.#iceWorked() ? 'connect-timeout' : 'ice-failed');
  }

  /** A transport that failed or closed under us: lost after it had worked, or ICE never worked. */
  #lostReason(): SessionCloseReason {
    return this.#iceWorked() ? 'connection-failed' : 'ice-failed';
  }

  /** Some candidate pair got an answer (the viewer may not have nominated it yet). */
  #iceWorked(): boolean {
    return this.#iceConnected || this.#pc.iceTransports.some((t) => t.connection.nominated || t.connection.checkList.some((pair) => pair.state === CANDIDATE_PAIR_SUCCEEDED));
  }

  deliver(packet: MediaPacket): void {
    if (!this.ready) return;
    this.#lastOfferedAt = performance.now();
    if (packet.kind !== 'video') {
      // Opus viewers take the Opus copy; G.711 viewers the µ-law one (as A-law for PCMA).
      if (packet.kind === 'audio' ? this.#audioCodec === 'opus' : this.#audioCodec === 'PCMU') this.#audioOut?.offer(packet);
      else if (packet.kind === 'g711' && this.#audioCodec === 'PCMA') this.#audioOut?.offer(asALaw(packet));
      return;
    }
    this.#videoOut.offer(packet);
    if (!this.#firstMediaSent) {
      this.#firstMediaSent = true;
      this.emit('firstMedia', performance.now() - this.#readyAt);
    }
  }

  /**
   * Read RTCP below the sender: werift routes an Echo's PLI by the viewer's own SSRC to the
   * receiver, not to our sender, and offers no FIR event. Also: a DTLS transport that closes or
   * fails ends the session (a live view must not sit "connected" on a dead transport), and a
   * transport that stops sending while the camera streams ends it too.
   */
  #watchTransport(): void {
    const transport = this.#video.dtlsTransport;
    // Closed while answering (a timeout, a replacing offer): nothing to watch, no timer to leak.
    if (!transport || this.#closed) return;
    transport.onRtcp.subscribe((rtcp) => {
      if (rtcp.type !== RTCP_PSFB) return;
      const count = (rtcp as { feedback?: { count?: number } }).feedback?.count;
      if (count === PSFB_PLI) this.#onKeyframeRequest('pli');
      else if (count === PSFB_FIR) this.#onKeyframeRequest('fir');
    });
    transport.onStateChange.subscribe((state) => {
      if (state === 'closed' || state === 'failed') {
        this.#log.warn({ dtls: state }, 'DTLS transport ended: closing the session');
        this.close(this.#lostReason());
      }
    });
    this.#mediaWatch = setInterval(() => this.#checkMedia(transport), 1000);
  }

  #onKeyframeRequest(kind: 'pli' | 'fir'): void {
    const now = performance.now();
    if (!this.ready || now - this.#lastKeyframeReplayAt < KEYFRAME_REPLAY_INTERVAL_MS) return;
    this.#lastKeyframeReplayAt = now;
    this.#log.debug({ kind }, 'viewer asked for a keyframe: replaying the cache');
    // The replay repeats packets already sent: werift continues sequence numbers and timestamps.
    this.#video.sender.replaceRTP({ sequenceNumber: 0, timestamp: 0 } as RtpPacket['header'], false, VIDEO_TIMESTAMP_STEP);
    this.emit('keyframeRequest', kind);
  }

  /** Packets offered lately but no byte leaving the transport for MEDIA_STALL_MS: close with a reason. */
  #checkMedia(transport: { bytesSent: number }): void {
    const now = performance.now();
    if (transport.bytesSent !== this.#transportBytesAt.bytes || !this.ready) {
      this.#transportBytesAt = { bytes: transport.bytesSent, at: now };
      return;
    }
    const offeredLately = now - this.#lastOfferedAt < 2000;
    if (offeredLately && now - this.#transportBytesAt.at > MEDIA_STALL_MS) {
      this.#log.warn({ stalledMs: Math.round(now - this.#transportBytesAt.at) }, 'the camera streams but nothing reaches the viewer: closing the session');
      this.close('media-stalled');
    }
  }

  /** The camera's RTP restarted (new ffmpeg): continue sequence numbers and timestamps smoothly. */
  sourceChanged(): void {
    const header = { sequenceNumber: 0, timestamp: 0 } as RtpPacket['header'];
    this.#video.sender.replaceRTP(header, false, VIDEO_TIMESTAMP_STEP);
    this.#audio?.sender.replaceRTP(header, false, AUDIO_TIMESTAMP_STEP[this.#audioCodec ?? 'opus']);
  }

  /** Read before the peer connection closes (werift forgets its candidates then). */
  #diagnoseIce(): void {
    const transports = this.#pc.iceTransports;
    // The offer's candidates and the peer-reflexive ones its checks came from.
    const remote = distinct(transports.flatMap((t) => t.connection.remoteCandidates.map((c) => ({ type: c.type, protocol: c.transport.toLowerCase(), address: c.host, port: c.port }))));
    const pairs = transports.flatMap((t) => t.connection.checkList);
    const succeeded = pairs.filter((pair) => pair.state === CANDIDATE_PAIR_SUCCEEDED).length;
    this.#closeDetail = explainIceFailure({ local: this.#localCandidates, remote, pairs: pairs.length, succeeded, turnConfigured: this.#turnConfigured });
    // Types and networks only: viewer addresses stay out of logs above debug.
    this.#log.warn({ reason: 'ice-failed', porchlight: summarizeCandidates(this.#localCandidates), viewer: summarizeCandidates(remote), pairs: pairs.length }, this.#closeDetail);
    this.#log.debug({ porchlight: listCandidates(this.#localCandidates), viewer: listCandidates(remote) }, 'candidates of the failed session');
  }

  #watchSilence(timeoutMs: number): void {
    this.#lastRtcpAt = Date.now();
    this.#silenceWatch = setInterval(() => {
      if (Date.now() - this.#lastRtcpAt > timeoutMs) this.close('viewer-silent');
    }, Math.min(1000, timeoutMs));
  }

  /**
   * Idempotent; emits `closed` at once with the first reason. The promise settles once the peer
   * connection has closed (its UDP ports free for another session), or after PC_CLOSE_LIMIT_MS.
   */
  close(reason: SessionCloseReason): Promise<void> {
    if (this.#closed) return this.#released.promise;
    this.#closed = true;
    clearInterval(this.#silenceWatch);
    clearInterval(this.#mediaWatch);
    if (reason === 'ice-failed') this.#diagnoseIce();
    this.#log.info({ reason, ...this.stats }, 'session closed');
    const limit = setTimeout(() => {
      this.#log.warn({ limitMs: PC_CLOSE_LIMIT_MS }, 'peer connection still closing: its ports are handed on anyway');
      this.#released.resolve();
    }, PC_CLOSE_LIMIT_MS);
    this.#pc.close()
      .catch((err: unknown) => this.#log.warn({ err }, 'peer connection close failed'))
      .finally(() => {
        clearTimeout(limit);
        this.#released.resolve();
      });
    this.emit('closed', reason);
    return this.#released.promise;
  }

  /** Settles once the session has closed and its peer connection with it (see close()). */
  get released(): Promise<void> {
    return this.#released.promise;
  }
}
