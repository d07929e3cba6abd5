import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { SessionRefused, type RtcSessions, type SessionOffer } from '../alexa/ports.ts';
import type { CameraStream } from '../camera/camera-stream.ts';
import type { TalkbackManager } from '../camera/talkback-manager.ts';
import type { PortLease, UdpPortPool } from './port-pool.ts';
import { candidateTypes } from './ice-diagnosis.ts';
import { gatherBudgetMs, IceServerWatch } from './ice-servers.ts';
import { analyzeOffer, NegotiationError, type OfferAnalysis } from './sdp.ts';
import { Session, viewerAudioCodec, type IceSettings, type SessionCloseReason, type SessionOptions } from './session.ts';

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
  /** A camera whose stream delivers nothing this long (restarting) ends its sessions; default 30 s. */
  cameraDownMs?: number;
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
/** A restart that brings video back within this is a hiccup; longer, the Echo is staring at a frozen frame. */
const CAMERA_DOWN_MS = 30_000;

interface Entry {
  session: Session;
  timers: NodeJS.Timeout[];
}

/**
 * Live-view sessions by Alexa sessionId. Each session is a viewer of its camera's stream from
 * the moment it answers until it closes: Alexa's SessionDisconnected, a failed connection, a
 * viewer gone silent, no connection within the connect timeout, the maximum lifetime, a
 * replacing offer, or shutdown.
 */
export class SessionManager implements RtcSessions {
  readonly #sessions = new Map<string, Entry>();
  readonly #pending = new Map<string, number>();
  /** The latest offer per sessionId: an older offer still answering loses to it. */
  readonly #latestOffer = new Map<string, string>();
  readonly #options: SessionManagerOptions;
  /** Packets dropped for slow viewers per camera, ended sessions included. */
  readonly #droppedEarlier = new Map<string, number>();
  /** Streams whose life the sessions follow (one listener per camera, not per session). */
  readonly #followed = new Map<string, { stream: CameraStream; downTimer: NodeJS.Timeout | undefined; onState: (state: string) => void }>();
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
    for (const { session } of this.#sessions.values()) if (session.cameraId === cameraId) dropped += session.stats.packetsDropped;
    return dropped;
  }

  async #offer({ sessionId, cameraId, offerSdp }: SessionOffer): Promise<string> {
    if (this.#closed) throw new SessionRefused('UNREACHABLE', 'porchlight is shutting down');
    const stream = this.#options.streams.get(cameraId);
    if (!stream) throw new SessionRefused('UNREACHABLE', `camera ${cameraId} is not configured`);
    const analysis = analyzed(offerSdp);
    const reason = this.#options.unavailable?.(cameraId);
    if (reason) throw new SessionRefused('UNREACHABLE', `camera ${cameraId} is unreachable: ${reason}`);
    this.#sessions.get(sessionId)?.session.close('replaced');
    const viewers = this.#countFor(cameraId) + (this.#pending.get(cameraId) ?? 0);
    if (viewers >= this.#options.maxViewersPerCamera) {
      throw new SessionRefused('BUSY', `camera ${cameraId} already has ${viewers} viewers (the most allowed is ${this.#options.maxViewersPerCamera})`);
    }
    const token = randomUUID();
    this.#latestOffer.set(sessionId, token);
    this.#pending.set(cameraId, (this.#pending.get(cameraId) ?? 0) + 1);
    const log = this.#options.log.child({ sessionId, cameraId });
    const talk = this.#talkFor(cameraId, sessionId, analysis);
    try {
      const { session, answerSdp } = await this.#answerWithin(
        this.#answerOnOwnPorts({
          id: sessionId, cameraId, offerSdp, analysis, log,
          ...(talk && { onViewerAudio: (packet: Buffer) => talk.pushRtp(packet) }),
          ...(this.#options.silenceTimeoutMs !== undefined && { silenceTimeoutMs: this.#options.silenceTimeoutMs }),
        }),
        log,
      );
      if (talk) session.once('closed', () => void talk.close());
      if (this.#closed || this.#latestOffer.get(sessionId) !== token) {
        session.close(this.#closed ? 'shutdown' : 'replaced');
        throw new SessionRefused('BUSY', `session ${sessionId} was offered again while this offer was being answered`);
      }
      if (session.closed) throw new SessionRefused('UNREACHABLE', 'the connection to the viewer failed while answering');
      this.#adopt(session, stream);
      log.info({ viewers: viewers + 1 }, 'session answered');
      return answerSdp;
    } catch (err) {
      void talk?.close();
      if (err instanceof NegotiationError) throw new SessionRefused('BAD_OFFER', err.message);
      if (err instanceof SessionRefused) throw err;
      log.error({ err }, 'answering the offer failed');
      throw err;
    } finally {
      this.#pending.set(cameraId, (this.#pending.get(cameraId) ?? 1) - 1);
      if (this.#latestOffer.get(sessionId) === token) this.#latestOffer.delete(sessionId);
    }
  }

  connected(sessionId: string): boolean {
    return this.#sessions.has(sessionId);
  }

  /** Settles once the session's peer connection has closed. */
  async disconnect(sessionId: string): Promise<void> {
    await this.#sessions.get(sessionId)?.session.close('disconnected');
  }

  list(): SessionInfo[] {
    return [...this.#sessions.values()].map(({ session }) => ({
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

  get size(): number {
    return this.#sessions.size;
  }

  /** Blocks of `webrtc.udpPorts` held by live sessions (and offers being answered). */
  get leasedPortBlocks(): number {
    return this.#options.ports.leased;
  }

  /** Ends every session of a camera with `camera-stopped`: the Echo ends the call instead of showing a frozen frame. */
  closeCamera(cameraId: string, why: string): number {
    const sessions = [...this.#sessions.values()].map(({ session }) => session).filter((session) => session.cameraId === cameraId);
    if (sessions.length > 0) this.#options.log.warn({ cameraId, sessions: sessions.length, reason: why }, 'camera stopped: ending its sessions');
    for (const session of sessions) session.close('camera-stopped');
    return sessions.length;
  }

  /** Idempotent: ends every session; settles once their peer connections have closed. */
  async close(): Promise<void> {
    this.#closed = true;
    const closing = [...this.#sessions.values()].map(({ session }) => session.close('shutdown'));
    for (const followed of this.#followed.values()) {
      clearTimeout(followed.downTimer);
      followed.stream.off('state', followed.onState);
    }
    this.#followed.clear();
    await Promise.all(closing);
  }

  /**
   * Sessions follow their camera: a stream that failed for good or closed, or that has delivered
   * nothing for cameraDownMs while restarting, ends them.
   */
  #follow(stream: CameraStream): void {
    if (this.#followed.has(stream.id)) return;
    const downMs = this.#options.cameraDownMs ?? CAMERA_DOWN_MS;
    const entry = {
      stream,
      downTimer: undefined as NodeJS.Timeout | undefined,
      onState: (state: string) => {
        if (state === 'streaming') {
          clearTimeout(entry.downTimer);
          entry.downTimer = undefined;
        } else if (state === 'failed' || state === 'closed') {
          clearTimeout(entry.downTimer);
          entry.downTimer = undefined;
          this.closeCamera(stream.id, state === 'failed' ? `its stream failed: ${stream.status().lastFailure?.message ?? 'cannot start'}` : 'its stream closed');
        } else if (state === 'restarting' && !entry.downTimer) {
          entry.downTimer = setTimeout(() => {
            entry.downTimer = undefined;
            if (stream.state !== 'streaming') this.closeCamera(stream.id, `no video from the camera for ${Math.round(downMs / 1000)} s`);
          }, downMs);
        }
      },
    };
    stream.on('state', entry.onState);
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
    for (const { session } of this.#sessions.values()) if (session.cameraId === cameraId) count += 1;
    return count;
  }

  /**
   * Answers on a block of ports leased for the session's lifetime. When another program holds
   * the block's ports werift gathers no candidate (it logs and goes on): the next block is tried.
   */
  async #answerOnOwnPorts(options: Omit<SessionOptions, 'ice'>): Promise<{ session: Session; answerSdp: string }> {
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
        try {
          const ice = { ...this.#options.ice, udpPorts: lease.ports, gatherTimeoutMs: this.#gatherTimeoutMs };
          const answered = await Session.answer({ ...options, ice });
          // Freed once the peer connection has closed, not at 'closed': its sockets may still be bound.
          void answered.session.released.then(() => lease.release());
          this.#iceServers.noteAnswer(candidateTypes(answered.answerSdp));
          return answered;
        } catch (err) {
          if (!(err instanceof NegotiationError && err.code === 'NO_CANDIDATES')) {
            lease.release();
            throw err;
          }
          unusable.push(lease);
          const tried = `${lease.ports[0]}-${lease.ports[1]}`;
          options.log.warn({ ports: tried }, 'no candidate gathered on these UDP ports (another program holds them?)');
          if (unusable.length === MAX_PORT_ATTEMPTS) throw new SessionRefused('UNREACHABLE', `${err.message} (last tried UDP ports ${tried} of webrtc.udpPorts)`);
        }
      }
    } finally {
      for (const lease of unusable) lease.release();
    }
  }

  /** The answer, or SessionRefused TIMEOUT; a late answer's session is closed, never leaked. */
  async #answerWithin<T extends { session: Session }>(answering: Promise<T>, log: Logger): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        // Said as such in its log line and the console's ended list (/metrics counts refused_timeout).
        answering.then(({ session }) => {
          void session.close('answer-timeout');
          this.#noteEnded(session, 'answer-timeout');
        }, () => {});
        log.warn({ answerTimeoutMs: this.#options.answerTimeoutMs }, 'answer took too long');
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

  #adopt(session: Session, stream: CameraStream): void {
    const close = (reason: SessionCloseReason) => () => session.close(reason);
    const timers = [setTimeout(close('max-lifetime'), this.#options.maxSessionMs)];
    if (!session.connected) timers.push(setTimeout(() => !session.connected && session.connectTimedOut(), this.#options.connectTimeoutMs));
    this.#sessions.set(session.id, { session, timers });
    this.#follow(stream);
    session.on('ready', () => stream.viewerReady(session.id));
    session.on('keyframeRequest', () => stream.replayKeyframe(session.id));
    session.once('firstMedia', (ms) => this.#options.observer?.firstMedia(ms));
    session.once('closed', (reason) => {
      this.#droppedEarlier.set(session.cameraId, (this.#droppedEarlier.get(session.cameraId) ?? 0) + session.stats.packetsDropped);
      this.#options.observer?.closed(reason);
      this.#noteEnded(session, reason);
      for (const timer of timers) clearTimeout(timer);
      if (this.#sessions.get(session.id)?.session === session) this.#sessions.delete(session.id);
      stream.removeViewer(session.id);
    });
    stream.addViewer(session);
  }
}
