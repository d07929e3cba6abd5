/**
 * One long-lived RTSP client connection (TCP, or TLS for rtsps): requests matched to answers by
 * CSeq, Basic/Digest auth, and `$`-framed interleaved data in both directions. Unlike the health
 * probe's one-shot connection it stays open while the camera streams into it, so responses to
 * keep-alives arrive between interleaved frames.
 *
 * Secrets: the Authorization header is built per request and never logged or put in an error.
 */
import { EventEmitter } from 'node:events';
import { connect as connectTcp, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { connect as connectTls } from 'node:tls';
import { CodedError } from '../util/coded-error.ts';
import { authorizationHeader, pickChallenge, type AuthScheme, type Challenge, type Credentials } from './rtsp-auth.ts';
import { firstHeader, formatRtspRequest, interleavedFrame, readRtspChunk, type RtspReply } from './rtsp-message.ts';

export type RtspClientErrorCode = 'AUTH' | 'NETWORK' | 'TIMEOUT' | 'PROTOCOL';
export class RtspClientError extends CodedError<RtspClientErrorCode> {}

export type RtspClientEndReason = 'camera-closed' | 'error';
export interface RtspClientEvents {
  /** The connection ended by itself (not through destroy()). */
  end: [reason: RtspClientEndReason, detail: string];
}

const DEFAULT_PORTS: Record<string, number> = { 'rtsp:': 554, 'rtsps:': 322 };
/** A `$` frame is at most 64 KiB and an RTSP answer a few KiB: more pending means it is not RTSP. */
const MAX_BUFFERED = 256 * 1024;
/** ~4 s of G.711 waiting in the socket: the camera stopped reading, so drop rather than add delay. */
const MAX_QUEUED_BYTES = 32 * 1024;

interface Pending {
  resolve: (reply: RtspReply) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export class RtspClient extends EventEmitter<RtspClientEvents> {
  /** performance.now() of the last byte from the camera: a streaming camera is never silent. */
  lastDataAt = performance.now();
  readonly #socket: Socket;
  readonly #credentials: Credentials | undefined;
  readonly #pending = new Map<number, Pending>();
  #buffer: Buffer = Buffer.alloc(0);
  #cseq = 0;
  #challenge: Challenge | undefined;
  /** Digest worked (or was asked for) once: a later Basic-only challenge is refused, never answered. */
  #digestSeen = false;
  #nonceCount = 0;
  #socketError: Error | undefined;
  #peerEnded = false;
  #ended: string | undefined;

  /**
   * `target` is credential-free; credentials answer the camera's 401 challenges. `knownScheme`:
   * what worked for this camera before (Digest is never given up for Basic).
   */
  static connect(target: URL, credentials: Credentials | undefined, timeoutMs: number, knownScheme?: AuthScheme): Promise<RtspClient> {
    const host = target.hostname.replace(/^\[|\]$/g, ''); // IPv6 literals come bracketed
    const port = Number(target.port) || DEFAULT_PORTS[target.protocol] || 554;
    const secure = target.protocol === 'rtsps:';
    return new Promise((resolve, reject) => {
      // Cameras serve RTSPS with self-signed certificates.
      const socket = secure ? connectTls({ host, port, rejectUnauthorized: false }) : connectTcp({ host, port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new RtspClientError('TIMEOUT', `no connection to ${target.host} within ${timeoutMs} ms`));
      }, timeoutMs);
      const onError = (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(new RtspClientError('NETWORK', `cannot connect to ${target.host}: ${err.code ?? err.message}`));
      };
      socket.once('error', onError);
      socket.once(secure ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        socket.off('error', onError);
        resolve(new RtspClient(socket, credentials, knownScheme));
      });
    });
  }

  private constructor(socket: Socket, credentials: Credentials | undefined, knownScheme: AuthScheme | undefined) {
    super();
    this.#socket = socket;
    this.#credentials = credentials;
    this.#digestSeen = knownScheme === 'digest';
    socket.setNoDelay(true); // small talk packets every 20 ms: Nagle would batch them
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (err) => (this.#socketError ??= err));
    socket.on('end', () => (this.#peerEnded = true));
    socket.on('close', () => {
      const err = this.#socketError as NodeJS.ErrnoException | undefined;
      if (!err) return this.#end('camera-closed', 'the camera closed the connection');
      // A camera that goes away while we write to it shows up as a reset or a broken pipe.
      const closedByCamera = this.#peerEnded || err.code === 'ECONNRESET' || err.code === 'EPIPE';
      this.#end(closedByCamera ? 'camera-closed' : 'error', `${err.code ?? 'error'}: ${err.message}`);
    });
  }

  get ended(): boolean {
    return this.#ended !== undefined;
  }

  /**
   * Sends a request and waits for its answer (bounded by timeoutMs). A 401 is answered once with
   * the credentials (first challenge, or a new nonce); from then on every request carries them.
   */
  async request(method: string, uri: string, headers: Record<string, string>, timeoutMs: number): Promise<RtspReply> {
    const reply = await this.#send(method, uri, headers, timeoutMs);
    if (reply.status !== 401) return reply;
    if (!this.#credentials) throw new RtspClientError('AUTH', `the camera asks for credentials (${method} answered 401): put user:password@ in its URL`);
    const challenge = pickChallenge(reply.headers.get('www-authenticate') ?? []);
    if (!challenge) throw new RtspClientError('AUTH', `${method} answered 401 without a Basic or Digest challenge`);
    if (challenge.scheme === 'basic' && (this.#digestSeen || this.#challenge?.scheme === 'digest')) {
      throw new RtspClientError('AUTH', `the camera now offers only Basic auth where Digest worked (${method} answered 401; a man in the middle?): porchlight does not send the password in clear`);
    }
    if (challenge.scheme === 'digest') this.#digestSeen = true;
    this.#challenge = challenge;
    this.#nonceCount = 0;
    const retried = await this.#send(method, uri, headers, timeoutMs);
    if (retried.status === 401) throw new RtspClientError('AUTH', `the camera rejected the credentials (${method} answered 401)`);
    return retried;
  }

  /** false when dropped: connection gone, or the camera is not reading (see MAX_QUEUED_BYTES). */
  sendInterleaved(channel: number, payload: Buffer): boolean {
    if (this.#ended || this.#socket.writableLength > MAX_QUEUED_BYTES) return false;
    this.#socket.write(interleavedFrame(channel, payload));
    return true;
  }

  /** Closes at once, failing pending requests, without an 'end' event: the owner asked for it. */
  destroy(): void {
    this.#end(undefined, 'connection closed');
  }

  #send(method: string, uri: string, headers: Record<string, string>, timeoutMs: number): Promise<RtspReply> {
    if (this.#ended) return Promise.reject(new RtspClientError('NETWORK', `cannot send ${method}: ${this.#ended}`));
    const cseq = ++this.#cseq;
    const all: Record<string, string> = { CSeq: String(cseq), 'User-Agent': 'porchlight', ...headers };
    if (this.#challenge && this.#credentials) {
      // Digest covers method and URI, so it is recomputed for every request.
      all.Authorization = authorizationHeader(this.#challenge, this.#credentials, { method, uri, nonceCount: ++this.#nonceCount });
    }
    this.#socket.write(formatRtspRequest(method, uri, all));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(cseq);
        reject(new RtspClientError('TIMEOUT', `the camera did not answer ${method} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(cseq, { resolve, reject, timer });
    });
  }

  #onData(data: Buffer): void {
    this.lastDataAt = performance.now();
    this.#buffer = this.#buffer.length === 0 ? data : Buffer.concat([this.#buffer, data]);
    // Bounded: every chunk consumes at least one byte, or the connection ends.
    while (!this.#ended) {
      const chunk = readRtspChunk(this.#buffer);
      if (chunk === 'incomplete') break;
      if (chunk.type === 'invalid' || chunk.length <= 0) {
        this.#end('error', `the camera sent a malformed RTSP message (${chunk.type === 'invalid' ? chunk.reason : 'empty'})`);
        return;
      }
      this.#buffer = this.#buffer.subarray(chunk.length);
      // Interleaved frames (the camera's own media), server requests and garbage: nothing to do.
      if (chunk.type === 'response') this.#onReply(chunk.reply);
    }
    if (this.#buffer.length > MAX_BUFFERED) this.#end('error', 'the camera sent data that is not RTSP');
  }

  #onReply(reply: RtspReply): void {
    const cseqHeader = firstHeader(reply, 'cseq');
    // A reply without CSeq goes to the oldest request; one for a timed-out request is dropped.
    const key = cseqHeader !== undefined ? Number(cseqHeader) : this.#pending.keys().next().value;
    const pending = key === undefined ? undefined : this.#pending.get(key);
    if (!pending) return;
    this.#pending.delete(key!);
    clearTimeout(pending.timer);
    pending.resolve(reply);
  }

  #end(reason: RtspClientEndReason | undefined, detail: string): void {
    if (this.#ended) return;
    this.#ended = detail;
    for (const pending of this.#pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(new RtspClientError('NETWORK', detail));
    }
    this.#pending.clear();
    this.#socket.destroy();
    if (reason) this.emit('end', reason, detail);
  }
}
