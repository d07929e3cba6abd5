import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { RTCPeerConnection } from 'werift';
import type { MediaPacket, StreamViewer } from '../camera/viewer.ts';
import { SafeEmitter } from '../util/safe-emit.ts';
import { answerOffer, type AnsweringPeer, type Detach } from './answer.ts';
import { candidatesInSdp, diagnoseIceFailure, icePairSucceeded, turnConfigured, type CandidateFacts } from './ice-diagnosis.ts';
import { keyframeRequestIn, MediaSender, viewerAudioCodec, type SessionStats } from './media-sender.ts';
import type { IceSettings } from './peer-config.ts';
import type { OfferAnalysis } from './sdp.ts';

export type { SessionStats };

export interface SessionOptions {
  id: string;
  cameraId: string;
  offerSdp: string;
  /** analyzeOffer(offerSdp), done by the caller so a bad offer is refused before anything else. */
  analysis: OfferAnalysis;
  log: Logger;
  /** No DTLS connection this long after the answer: closed as `ice-failed` or `connect-timeout`. */
  connectTimeoutMs: number;
  /** Closed with `max-lifetime` this long after the answer, connected or not. */
  maxLifetimeMs: number;
  /**
   * A connected viewer sends RTCP reports every second or so; none for this long means it is
   * gone (hung up, lost power). ICE consent alone would take 30 s to notice.
   */
  silenceTimeoutMs?: number;
  /** Packets handed to werift and not yet sent; beyond it the viewer is too slow and we drop. */
  sendQueueLimit?: number;
  /** Answer audio sendrecv and emit `viewerAudio` with every RTP packet of the viewer's microphone. */
  talkback?: boolean;
}

/**
 * Why a session ended; also its `porchlight_sessions_total` outcome (dashes become underscores).
 * `ice-failed`: no ICE candidate pair ever worked (the viewer and porchlight could not reach each
 * other; closeDetail says what each side offered); `connect-timeout`: ICE worked but DTLS did not
 * finish in time; `answer-timeout`: the answer was ready too late for Alexa (the offer was refused
 * with TIMEOUT); `connection-failed`: a connection that had worked was lost; `refused`: no answer
 * could be made (the refusal, not this, is counted).
 */
export type SessionCloseReason =
  | 'disconnected' | 'replaced' | 'connection-failed' | 'ice-failed' | 'viewer-silent' | 'connect-timeout' | 'answer-timeout' | 'max-lifetime'
  | 'camera-stopped' | 'media-stalled' | 'shutdown' | 'refused';

export interface SessionEvents {
  /** DTLS is up: media written now reaches the viewer (replay the keyframe cache here). */
  ready: [];
  /** The first video packet went out, this long after `ready`. */
  firstMedia: [ms: number];
  /** The viewer lost a picture (PLI or FIR): replay the keyframe cache to it (at most about once a second). */
  keyframeRequest: [kind: 'pli' | 'fir'];
  connected: [];
  /** One RTP packet of the viewer's microphone, as received (only with `talkback`). */
  viewerAudio: [packet: Buffer];
  closed: [reason: SessionCloseReason];
}

/** answer() of a session closed before its answer was ready: replaced, shut down, too late. */
export class SessionClosedError extends Error {
  readonly reason: SessionCloseReason;

  constructor(reason: SessionCloseReason, options?: ErrorOptions) {
    super(`the session closed before its answer was ready (${reason})`, options);
    this.name = 'SessionClosedError';
    this.reason = reason;
  }
}

/** A peer connection that takes longer than this to close no longer holds its ports' lease. */
const PC_CLOSE_LIMIT_MS = 5000;
/** A viewer asking for keyframes faster than this gets one replay per interval (the cache is a whole GOP). */
const KEYFRAME_REPLAY_INTERVAL_MS = 1000;
/** Camera packets offered to a ready viewer while its transport sends nothing for this long: the media path is dead. */
const MEDIA_STALL_MS = 10_000;

/**
 * One viewer's WebRTC session, from the offer to its close: answers the offer (answer.ts; no
 * trickle, every candidate is in the answer), carries the camera's RTP to the viewer
 * (media-sender.ts), and ends itself when the viewer is gone, never connects, or outlives its
 * maximum lifetime. Every timer is the session's own; close() clears them.
 */
export class Session extends EventEmitter<SessionEvents> implements StreamViewer {
  readonly id: string;
  readonly cameraId: string;
  readonly createdAt = Date.now();
  readonly stats: SessionStats = { packetsSent: 0, bytesSent: 0, packetsDropped: 0 };
  readonly #options: SessionOptions;
  readonly #log: Logger;
  /** Every event goes out through it: werift's callbacks run these emits. */
  readonly #safe: SafeEmitter<SessionEvents>;
  /** The peer of the answer being made or made; undefined before it and after a failed try. */
  #peer: AnsweringPeer | undefined;
  #sender: MediaSender | undefined;
  /** The answer in the making; settles once its peer connection is the session's or closed. */
  #answering: Promise<void> | undefined;
  #answered = false;
  #turnConfigured = false;
  /** The candidates of our answer, for the diagnosis of a failed ICE. */
  #localCandidates: CandidateFacts[] = [];
  #ready = false;
  #readyAt = 0;
  #firstMediaSent = false;
  #connected = false;
  /** ICE found a working pair at some point (DTLS may still have failed after it). */
  #iceConnected = false;
  #closeReason: SessionCloseReason | undefined;
  #closeDetail: string | undefined;
  /** Settled once the peer connection has closed and its UDP sockets are unbound. */
  readonly #released = Promise.withResolvers<void>();
  readonly #timers: { connect?: NodeJS.Timeout; lifetime?: NodeJS.Timeout; silence?: NodeJS.Timeout; media?: NodeJS.Timeout } = {};
  #lastRtcpAt = 0;
  #lastKeyframeReplayAt = Number.NEGATIVE_INFINITY;
  /** Media watchdog: when packets were last offered, and the transport's byte count then. */
  #lastOfferedAt = 0;
  #transportBytesAt = { bytes: -1, at: 0 };

  constructor(options: SessionOptions) {
    super();
    this.id = options.id;
    this.cameraId = options.cameraId;
    this.#options = options;
    this.#log = options.log;
    this.#safe = new SafeEmitter<SessionEvents>(this, options.log);
  }

  /**
   * Answers the offer on `ice` (a block of UDP ports of its own) and returns the complete answer;
   * the connect and lifetime timers start then. Throws NegotiationError when no answer can be
   * made, the session still open for another try (other ports after NO_CANDIDATES), and
   * SessionClosedError when the session was closed meanwhile.
   */
  async answer(ice: IceSettings): Promise<string> {
    if (this.#closeReason) throw new SessionClosedError(this.#closeReason);
    if (this.#answering || this.#answered) throw new Error(`session ${this.id} is answering or has answered already`);
    const { offerSdp, analysis, talkback } = this.#options;
    const answering = answerOffer(
      { offerSdp, analysis, ice, ...(talkback && { onViewerAudio: (packet: Buffer) => this.#safe.emit('viewerAudio', packet) }) },
      (peer) => this.#attach(peer),
    );
    // For close(): its failure is answer()'s to report.
    this.#answering = answering.then(() => {}, () => {});
    try {
      const answerSdp = await answering;
      if (this.#closeReason) throw new SessionClosedError(this.#closeReason);
      this.#answered = true;
      this.#turnConfigured = turnConfigured(ice.iceServers);
      this.#localCandidates = candidatesInSdp(answerSdp);
      // The transport is final once the answer is set (BUNDLE may have replaced it).
      this.#watchTransport();
      this.#timers.lifetime = setTimeout(() => void this.close('max-lifetime'), this.#options.maxLifetimeMs);
      if (!this.#connected) this.#timers.connect = setTimeout(() => this.#connectTimedOut(), this.#options.connectTimeoutMs);
      return answerSdp;
    } catch (err) {
      if (this.#closeReason && !(err instanceof SessionClosedError)) throw new SessionClosedError(this.#closeReason, { cause: err });
      throw err;
    } finally {
      this.#answering = undefined;
    }
  }

  get answered(): boolean {
    return this.#answered;
  }

  get ready(): boolean {
    return this.#ready && !this.closed;
  }

  get connected(): boolean {
    return this.#connected && !this.closed;
  }

  get closed(): boolean {
    return this.#closeReason !== undefined;
  }

  /** For a session closed with `ice-failed`: what each side offered and what to change. */
  get closeDetail(): string | undefined {
    return this.#closeDetail;
  }

  /** Settles once the session has closed and its peer connection with it (see close()). */
  get released(): Promise<void> {
    return this.#released.promise;
  }

  deliver(packet: MediaPacket): void {
    if (!this.ready) return;
    this.#lastOfferedAt = performance.now();
    this.#sender?.send(packet);
    if (packet.kind === 'video' && !this.#firstMediaSent) {
      this.#firstMediaSent = true;
      this.#safe.emit('firstMedia', performance.now() - this.#readyAt);
    }
  }

  sourceChanged(): void {
    this.#sender?.sourceChanged();
  }

  /**
   * Idempotent; emits `closed` at once with the first reason. The promise never rejects: it
   * settles once the peer connection has closed (its UDP ports free for another session) and no
   * answer in the making holds another, or after PC_CLOSE_LIMIT_MS.
   */
  close(reason: SessionCloseReason): Promise<void> {
    if (this.#closeReason) return this.#released.promise;
    this.#closeReason = reason;
    for (const timer of Object.values(this.#timers)) clearTimeout(timer);
    const pc = this.#peer?.pc;
    // Read before the peer connection closes (werift forgets its candidates then).
    if (reason === 'ice-failed' && pc) {
      this.#closeDetail = diagnoseIceFailure({ transports: pc.iceTransports, local: this.#localCandidates, turnConfigured: this.#turnConfigured, log: this.#log });
    }
    // A refused offer is logged as refused by the session's owner.
    this.#log[reason === 'refused' ? 'debug' : 'info']({ reason, ...this.stats }, 'session closed');
    this.#release(pc);
    this.#safe.emit('closed', reason);
    return this.#released.promise;
  }

  #release(pc: RTCPeerConnection | undefined): void {
    const limit = setTimeout(() => {
      this.#log.warn({ limitMs: PC_CLOSE_LIMIT_MS }, 'peer connection still closing: its ports are handed on anyway');
      this.#released.resolve();
    }, PC_CLOSE_LIMIT_MS);
    const closing = pc?.close().catch((err: unknown) => this.#log.warn({ err }, 'peer connection close failed'));
    const done = () => {
      clearTimeout(limit);
      this.#released.resolve();
    };
    // Neither rejects: the close's failure is logged, the answer's is answer()'s to report.
    Promise.all([closing, this.#answering]).then(done, done);
  }

  /** Subscribes to a peer that took in the offer; undone (detached) when its answer fails. */
  #attach(peer: AnsweringPeer): Detach {
    if (this.#closeReason) throw new SessionClosedError(this.#closeReason);
    const { pc, video, audio } = peer;
    const audioCodec = viewerAudioCodec(this.#options.analysis)?.encoding;
    this.#peer = peer;
    this.#sender = new MediaSender(video, audio && audioCodec && { transceiver: audio, codec: audioCodec }, this.#options.sendQueueLimit ?? 512, this.stats);
    const onRtcp = () => (this.#lastRtcpAt = Date.now());
    const subscriptions = [
      video.sender.onReady.subscribe(() => this.#onReady()),
      video.sender.onRtcp.subscribe(onRtcp),
      ...(audio ? [audio.sender.onRtcp.subscribe(onRtcp)] : []),
      // Not 'completed': werift reports that when gathering completes.
      pc.iceConnectionStateChange.subscribe((state) => {
        if (state === 'connected') this.#iceConnected = true;
      }),
      pc.connectionStateChange.subscribe((state) => this.#onConnectionState(state)),
    ];
    return () => {
      for (const subscription of subscriptions) subscription.unSubscribe();
      this.#peer = undefined;
      this.#sender = undefined;
    };
  }

  #onReady(): void {
    if (this.closed || this.#ready) return;
    this.#ready = true;
    this.#readyAt = performance.now();
    this.#safe.emit('ready');
  }

  #onConnectionState(state: string): void {
    if (this.closed) return;
    if (state === 'connected' && !this.#connected) {
      this.#connected = true;
      clearTimeout(this.#timers.connect);
      this.#log.info('viewer connected');
      this.#watchSilence(this.#options.silenceTimeoutMs ?? 15_000);
      this.#safe.emit('connected');
    } else if (state === 'failed' || state === 'closed') {
      void this.close(this.#lostReason());
    }
  }

  /** The connect timeout passed: `ice-failed` when no candidate pair ever worked, else `connect-timeout`. */
  #connectTimedOut(): void {
    if (!this.#connected) void this.close(this.#iceWorked() ? 'connect-timeout' : 'ice-failed');
  }

  /** A transport that failed or closed under us: lost after it had worked, or ICE never worked. */
  #lostReason(): SessionCloseReason {
    return this.#iceWorked() ? 'connection-failed' : 'ice-failed';
  }

  #iceWorked(): boolean {
    return this.#iceConnected || icePairSucceeded(this.#peer?.pc.iceTransports ?? []);
  }

  /**
   * Read RTCP below the sender: werift routes an Echo's PLI by the viewer's own SSRC to the
   * receiver, not to our sender, and offers no FIR event. Also: a DTLS transport that closes or
   * fails ends the session (a live view must not sit "connected" on a dead transport), and a
   * transport that stops sending while the camera streams ends it too.
   */
  #watchTransport(): void {
    const transport = this.#peer?.video.dtlsTransport;
    if (!transport) return;
    transport.onRtcp.subscribe((rtcp) => {
      const kind = keyframeRequestIn(rtcp);
      if (kind) this.#onKeyframeRequest(kind);
    });
    transport.onStateChange.subscribe((state) => {
      if (!this.closed && (state === 'closed' || state === 'failed')) {
        this.#log.warn({ dtls: state }, 'DTLS transport ended: closing the session');
        void this.close(this.#lostReason());
      }
    });
    this.#timers.media = setInterval(() => this.#checkMedia(transport), 1000);
  }

  #onKeyframeRequest(kind: 'pli' | 'fir'): void {
    const now = performance.now();
    if (!this.ready || now - this.#lastKeyframeReplayAt < KEYFRAME_REPLAY_INTERVAL_MS) return;
    this.#lastKeyframeReplayAt = now;
    this.#log.debug({ kind }, 'viewer asked for a keyframe: replaying the cache');
    this.#sender?.continueVideo();
    this.#safe.emit('keyframeRequest', kind);
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
      void this.close('media-stalled');
    }
  }

  #watchSilence(timeoutMs: number): void {
    this.#lastRtcpAt = Date.now();
    this.#timers.silence = setInterval(() => {
      if (Date.now() - this.#lastRtcpAt > timeoutMs) void this.close('viewer-silent');
    }, Math.min(1000, timeoutMs));
  }
}
