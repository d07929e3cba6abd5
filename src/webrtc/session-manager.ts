import type { Logger } from 'pino';
import { SessionRefused, type RtcSessions, type SessionOffer } from '../alexa/ports.ts';
import type { CameraStream } from '../camera/camera-stream.ts';
import type { TalkbackManager } from '../camera/talkback-manager.ts';
import type { PortLease, UdpPortPool } from './port-pool.ts';
import { candidateTypes } from './ice-diagnosis.ts';
import { gatherBudgetMs, IceServerWatch } from './ice-servers.ts';
import { viewerAudioCodec } from './media-sender.ts';
import type { IceSettings } from './peer-config.ts';
import { analyzeOffer, NegotiationError, type OfferAnalysis } from './sdp.ts';
import { Session, SessionClosedError, type SessionCloseReason } from './session.ts';

export interface SessionManagerOptions {
  streams: { get(cameraId: string): CameraStream | undefined };
  ice: Omit<IceSettings, 'udpPorts'>;
  /** `webrtc.udpPorts`: each session gathers on ports of its own. */
  ports: UdpPortPool;
  answerTimeoutMs: number;
  /** What a STUN query or the TURN allocation may add to an answer; default gatherBudgetMs(answerTimeoutMs). */
  gatherTimeoutMs?: number;
  connectTimeoutMs: number;
  maxSessionMs: number;
  maxViewersPerCamera: number;
  /** Two-way audio for cameras that support it; absent: every session is one-way. */
  talkback?: Pick<TalkbackManager, 'claim'>;
  observer?: SessionObserver;
  /** See SessionOptions.silenceTimeoutMs. */
  silenceTimeoutMs?: number;
  /** Why a camera cannot be viewed right now (health probe, stream failure), or undefined. */
  unavailable?: (cameraId: string) => string | undefined;
  log: Logger;
}

export interface SessionInfo {
  id: string;
  cameraId: string;
  since: string;
  state: 'answered' | 'connected';
  packetsSent: number;
  bytesSent: number;
  packetsDropped: number;
}

/** A session that ended lately, for the console: why, in words a person can act on. */
export interface EndedSessionInfo {
  id: string;
  cameraId: string;
  since: string;
  endedAt: string;
  /** The SessionCloseReason (also the sessions_total outcome, with `_` for `-`). */
  outcome: SessionCloseReason;
  /** What to do about it, when there is something (ICE failures: what each side offered, the TURN hint). */
  detail?: string;
}

/** Ended sessions kept for the console. */
const ENDED_KEPT = 20;

/** A bad offer is refused first: it will not get better by waiting for a free slot. */
function analyzed(offerSdp: string): OfferAnalysis {
  try {
    return analyzeOffer(offerSdp);
  } catch (err) {
    if (err instanceof NegotiationError) throw new SessionRefused('BAD_OFFER', err.message);
    throw err;
  }
}

/** What the manager reports as it happens (metrics). */
export interface SessionObserver {
  answered(ms: number): void;
  refused(code: string): void;
  closed(reason: string): void;
  firstMedia(ms: number): void;
}

/** Port blocks a session tries before it gives up. */
const MAX_PORT_ATTEMPTS = 3;

/** The refusal of an offer whose session was closed before its answer was ready. */
function refusalFor(reason: SessionCloseReason, sessionId: string): SessionRefused {
  if (reason === 'replaced') return new SessionRefused('BUSY', `session ${sessionId} was offered again while this offer was being answered`);
  if (reason === 'shutdown') return new SessionRefused('UNREACHABLE', 'porchlight is shutting down');
  if (reason === 'camera-stopped') return new SessionRefused('UNREACHABLE', 'the camera stopped while this offer was being answered');
  return new SessionRefused('UNREACHABLE', `the connection to the viewer failed while answering (${reason})`);
}

/**
 * Live-view sessions by Alexa sessionId. Each session is a viewer of its camera's stream from
 * the moment it answers until it closes: Alexa's SessionDisconnected, a failed connection, a
 * viewer gone silent, no connection within the connect timeout, the maximum lifetime, a
 * replacing offer, or shutdown.
 */
export class SessionManager implements RtcSessions {
  /**
   * From the offer on: a session still being answered counts against its camera's viewers, and a
   * newer offer for its id replaces it (the older offer is then refused).
   */
  readonly #sessions = new Map<string, Session>();
  readonly #options: SessionManagerOptions;
  /** Packets dropped for slow viewers per camera, ended sessions included. */
  readonly #droppedEarlier = new Map<string, number>();
  /** Streams whose life the sessions follow (one listener per camera, not per session). */
  readonly #followed = new Map<string, { stream: CameraStream; onDown: (reason: string) => void }>();
  /** Newest first, at most ENDED_KEPT, one per session id. */
  #ended: EndedSessionInfo[] = [];
  /** The slice of answerTimeoutMs a STUN query or the TURN allocation may take. */
  readonly #gatherTimeoutMs: number;
  readonly #iceServers: IceServerWatch;
  #closed = false;

  constructor(options: SessionManagerOptions) {
    this.#options = options;
    this.#gatherTimeoutMs = options.gatherTimeoutMs ?? gatherBudgetMs(options.answerTimeoutMs);
    this.#iceServers = new IceServerWatch(options.ice.iceServers, this.#gatherTimeoutMs, options.log);
  }

  async offer(offer: SessionOffer): Promise<string> {
    const started = performance.now();
    try {
      const answer = await this.#offer(offer);
      this.#options.observer?.answered(performance.now() - started);
      return answer;
    } catch (err) {
      this.#options.observer?.refused(err instanceof SessionRefused ? err.code : 'ERROR');
      throw err;
    }
  }

  /** Packets dropped so far for this camera's slow viewers, ended sessions included. */
  droppedFor(cameraId: string): number {
    let dropped = this.#droppedEarlier.get(cameraId) ?? 0;
    for (const session of this.#sessions.values()) if (session.cameraId === cameraId) dropped += session.stats.packetsDropped;
    return dropped;
  }

  async #offer({ sessionId, cameraId, offerSdp }: SessionOffer): Promise<string> {
    if (this.#closed) throw new SessionRefused('UNREACHABLE', 'porchlight is shutting down');
    const stream = this.#options.streams.get(cameraId);
    if (!stream) throw new SessionRefused('UNREACHABLE', `camera ${cameraId} is not configured`);
    const analysis = analyzed(offerSdp);
    const reason = this.#options.unavailable?.(cameraId);
    if (reason) throw new SessionRefused('UNREACHABLE', `camera ${cameraId} is unreachable: ${reason}`);
    // The newer offer wins, also over one still being answered (that one is refused BUSY).
    void this.#sessions.get(sessionId)?.close('replaced');
    const viewers = this.#countFor(cameraId);
    if (viewers >= this.#options.maxViewersPerCamera) {
      throw new SessionRefused('BUSY', `camera ${cameraId} already has ${viewers} viewers (the most allowed is ${this.#options.maxViewersPerCamera})`);
    }
    const log = this.#options.log.child({ sessionId, cameraId });
    const talk = this.#talkFor(cameraId, sessionId, analysis);
    const session = new Session({
      id: sessionId, cameraId, offerSdp, analysis, log,
      connectTimeoutMs: this.#options.connectTimeoutMs,
      maxLifetimeMs: this.#options.maxSessionMs,
      ...(this.#options.silenceTimeoutMs !== undefined && { silenceTimeoutMs: this.#options.silenceTimeoutMs }),
      ...(talk && { talkback: true }),
    });
    this.#sessions.set(sessionId, session);
    session.once('closed', () => {
      if (this.#sessions.get(sessionId) === session) this.#sessions.delete(sessionId);
    });
    if (talk) {
      session.on('viewerAudio', (packet) => talk.pushRtp(packet));
      session.once('closed', () => void talk.close().catch((err: unknown) => log.warn({ err }, 'closing talkback failed')));
    }
    try {
      const answerSdp = await this.#answerWithin(session, this.#answerOnOwnPorts(session, log), log);
      if (session.closed) throw new SessionRefused('UNREACHABLE', 'the connection to the viewer failed while answering');
      // Removed or reconfigured while this offer was answered: its stream takes no new viewer.
      if (stream.state === 'closed') throw new SessionRefused('UNREACHABLE', `camera ${cameraId} was removed or reconfigured while answering: offer again`);
      this.#adopt(session, stream);
      log.info({ viewers: viewers + 1 }, 'session answered');
      return answerSdp;
    } catch (err) {
      // Idempotent: a session replaced, shut down or too late is closed already, with that reason.
      void session.close('refused');
      if (err instanceof SessionClosedError) throw refusalFor(err.reason, sessionId);
      if (err instanceof NegotiationError) throw new SessionRefused('BAD_OFFER', err.message);
      if (err instanceof SessionRefused) throw err;
      log.error({ err }, 'answering the offer failed');
      throw err;
    }
  }

  /** Whether the session has been answered and is still open. */
  connected(sessionId: string): boolean {
    return this.#sessions.get(sessionId)?.answered === true;
  }

  /** Settles once the session's peer connection has closed; an offer still being answered is refused. */
  async disconnect(sessionId: string): Promise<void> {
    await this.#sessions.get(sessionId)?.close('disconnected');
  }

  /** Answered sessions (offers still being answered are not listed). */
  list(): SessionInfo[] {
    return this.#answeredSessions().map((session) => ({
      id: session.id,
      cameraId: session.cameraId,
      since: new Date(session.createdAt).toISOString(),
      state: session.connected ? 'connected' : 'answered',
      ...session.stats,
    }));
  }

  /** Sessions that ended lately, newest first, with their reason. */
  ended(): EndedSessionInfo[] {
    return [...this.#ended];
  }

  /** Answered sessions, as list() has them. */
  get size(): number {
    return this.#answeredSessions().length;
  }

  /** Blocks of `webrtc.udpPorts` held by live sessions (and offers being answered). */
  get leasedPortBlocks(): number {
    return this.#options.ports.leased;
  }

  /** Ends every session of a camera with `camera-stopped`: the Echo ends the call instead of showing a frozen frame. */
  closeCamera(cameraId: string, why: string): number {
    const sessions = [...this.#sessions.values()].filter((session) => session.cameraId === cameraId);
    if (sessions.length > 0) this.#options.log.warn({ cameraId, sessions: sessions.length, reason: why }, 'camera stopped: ending its sessions');
    for (const session of sessions) void session.close('camera-stopped');
    return sessions.length;
  }

  /** Idempotent: ends every session; settles once their peer connections have closed. */
  async close(): Promise<void> {
    this.#closed = true;
    const closing = [...this.#sessions.values()].map((session) => session.close('shutdown'));
    for (const followed of this.#followed.values()) followed.stream.off('down', followed.onDown);
    this.#followed.clear();
    await Promise.all(closing);
  }

  /**
   * Sessions follow their camera: a stream that is down (failed for good, closed, or restarting
   * without video past its bound) ends them.
   */
  #follow(stream: CameraStream): void {
    const current = this.#followed.get(stream.id);
    if (current?.stream === stream) return;
    // A reconfigured camera's new stream can exist before the old one has closed: follow the new one.
    if (current) current.stream.off('down', current.onDown);
    const entry = {
      stream,
      onDown: (reason: string) => {
        this.closeCamera(stream.id, reason);
      },
    };
    stream.on('down', entry.onDown);
    this.#followed.set(stream.id, entry);
    stream.once('closed', () => {
      if (this.#followed.get(stream.id) === entry) this.#followed.delete(stream.id);
    });
  }

  /** Talkback when the viewer sends audio (Opus or G.711) and the camera can take it from this session. */
  #talkFor(cameraId: string, sessionId: string, analysis: OfferAnalysis) {
    const audio = analysis.audio;
    const codec = viewerAudioCodec(analysis);
    if (!audio || !codec || !(audio.direction === 'sendrecv' || audio.direction === 'sendonly')) return undefined;
    return this.#options.talkback?.claim(cameraId, sessionId, codec);
  }

  #countFor(cameraId: string): number {
    let count = 0;
    for (const session of this.#sessions.values()) if (session.cameraId === cameraId) count += 1;
    return count;
  }

  #answeredSessions(): Session[] {
    return [...this.#sessions.values()].filter((session) => session.answered);
  }

  /**
   * Answers on a block of ports leased for the session's lifetime. When another program holds
   * the block's ports werift gathers no candidate (it logs and goes on): the next block is tried.
   */
  async #answerOnOwnPorts(session: Session, log: Logger): Promise<string> {
    const { ports } = this.#options;
    // Blocks that gathered nothing stay leased until this answer is settled, so no retry picks them again.
    const unusable: PortLease[] = [];
    try {
      for (;;) {
        const lease = ports.lease();
        if (!lease) {
          const taken = unusable.length > 0 ? `, ${unusable.length} of them held by other programs` : '';
          throw new SessionRefused('BUSY', `every UDP port of webrtc.udpPorts is in use (${ports.leased} blocks of ports${taken}): widen the range`);
        }
        // Freed once the session's peer connection has closed, not at 'closed': its sockets may
        // still be bound. (A block that gathered nothing is freed sooner, below.)
        void session.released.then(() => lease.release());
        try {
          const answerSdp = await session.answer({ ...this.#options.ice, udpPorts: lease.ports, gatherTimeoutMs: this.#gatherTimeoutMs });
          this.#iceServers.noteAnswer(candidateTypes(answerSdp));
          return answerSdp;
        } catch (err) {
          if (!(err instanceof NegotiationError && err.code === 'NO_CANDIDATES')) throw err;
          // That try's peer connection is closed already: only other programs hold these ports.
          unusable.push(lease);
          const tried = `${lease.ports[0]}-${lease.ports[1]}`;
          log.warn({ ports: tried }, 'no candidate gathered on these UDP ports (another program holds them?)');
          if (unusable.length === MAX_PORT_ATTEMPTS) throw new SessionRefused('UNREACHABLE', `${err.message} (last tried UDP ports ${tried} of webrtc.udpPorts)`);
        }
      }
    } finally {
      for (const lease of unusable) lease.release();
    }
  }

  /**
   * The answer, or SessionRefused TIMEOUT. A session too late for Alexa is closed at once (its
   * answer abandoned, its ports freed) and listed as ended with `answer-timeout`.
   */
  async #answerWithin(session: Session, answering: Promise<string>, log: Logger): Promise<string> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        log.warn({ answerTimeoutMs: this.#options.answerTimeoutMs }, 'answer took too long');
        // Said as such in its log line and the console's ended list (/metrics counts refused_timeout).
        void session.close('answer-timeout');
        this.#noteEnded(session, 'answer-timeout');
        reject(new SessionRefused('TIMEOUT', `porchlight could not answer within ${this.#options.answerTimeoutMs} ms`));
      }, this.#options.answerTimeoutMs);
    });
    try {
      return await Promise.race([answering, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  #noteEnded(session: Session, outcome: SessionCloseReason): void {
    const ended: EndedSessionInfo = {
      id: session.id,
      cameraId: session.cameraId,
      since: new Date(session.createdAt).toISOString(),
      endedAt: new Date().toISOString(),
      outcome,
      ...(session.closeDetail && { detail: session.closeDetail }),
    };
    this.#ended = [ended, ...this.#ended.filter((e) => e.id !== session.id)].slice(0, ENDED_KEPT);
  }

  /** An answered session becomes a viewer of its camera's stream, and is counted when it ends. */
  #adopt(session: Session, stream: CameraStream): void {
    this.#follow(stream);
    session.on('ready', () => stream.viewerReady(session.id));
    session.on('keyframeRequest', () => stream.replayKeyframe(session.id));
    session.once('firstMedia', (ms) => this.#options.observer?.firstMedia(ms));
    session.once('closed', (reason) => {
      this.#droppedEarlier.set(session.cameraId, (this.#droppedEarlier.get(session.cameraId) ?? 0) + session.stats.packetsDropped);
      this.#options.observer?.closed(reason);
      this.#noteEnded(session, reason);
      stream.removeViewer(session.id);
    });
    stream.addViewer(session);
  }
}
