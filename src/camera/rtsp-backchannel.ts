/**
 * ONVIF audio backchannel (ONVIF Streaming Spec §5.3): talkback from the Echo to the camera's
 * speaker. ffmpeg's RTSP client cannot send on it, so this is a small RTSP client of its own:
 * DESCRIBE with `Require: www.onvif.org/ver20/backchannel`, SETUP of every track over TCP
 * interleaved, PLAY, then G.711 RTP `$`-framed on the backchannel's channel. The camera streams
 * its own video/audio on the same connection too; those frames are read and dropped.
 *
 * One Backchannel per talk session, on a fresh TCP connection: GStreamer (and some cameras)
 * reuse a connection's media for a repeated DESCRIBE, so a connection that described the stream
 * without the Require header would never get the backchannel track.
 *
 * Secrets: the URL's credentials are split off at once; logs carry methods, credential-free URIs
 * and statuses, never the Authorization header.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { Logger } from '../log.ts';
import { CodedError } from '../util/coded-error.ts';
import { splitCredentials, type AuthScheme } from './rtsp-auth.ts';
import { RtspClient, RtspClientError } from './rtsp-client.ts';
import {
  findBackchannelTrack, firstHeader, listTracks, parseInterleavedChannel, parseSessionHeader, sessionControl,
  type G711Codec, type RtspReply,
} from './rtsp-message.ts';

export { findBackchannelTrack, listTracks } from './rtsp-message.ts';

export type BackchannelErrorCode = 'UNSUPPORTED' | 'AUTH' | 'NOT_FOUND' | 'NETWORK' | 'TIMEOUT' | 'PROTOCOL';
export class BackchannelError extends CodedError<BackchannelErrorCode> {}
export type BackchannelCodec = G711Codec;

export interface BackchannelOptions {
  /** rtsp://user:pass@host:port/path (or rtsps://); the credentials serve Basic or Digest. */
  url: string;
  log: Logger;
  /** Per request (and for the TCP connect). Default 5000 ms. */
  timeoutMs?: number;
  /** The auth scheme that worked for this camera (its health probe knows): no Digest → Basic downgrade. */
  knownScheme?: AuthScheme;
}

export type BackchannelCloseReason = 'closed' | 'camera-closed' | 'error';
export interface BackchannelEvents {
  closed: [reason: BackchannelCloseReason, detail?: string];
}

export const ONVIF_BACKCHANNEL = 'www.onvif.org/ver20/backchannel';
const DEFAULT_TIMEOUT_MS = 5000;
/** Larger sendAudio() buffers are split so packets stay under a typical MTU if the camera forwards them. */
const MAX_RTP_PAYLOAD = 1400;
/** TEARDOWN is a courtesy (closing the socket ends the session too), so it never holds close() long. */
const TEARDOWN_TIMEOUT_MS = 2000;
/** Cameras list a video, an audio and the backchannel track; a DESCRIBE listing thousands must not buy thousands of SETUPs. */
export const MAX_SETUP_TRACKS = 8;

/** Keep-alive period: half the session timeout, as RFC 2326 clients do, never below 1 s. */
export function keepAliveIntervalMs(sessionTimeoutSec: number): number {
  return Math.max(1000, (sessionTimeoutSec * 1000) / 2);
}

interface Negotiated {
  codec: BackchannelCodec;
  channel: number;
  session: string;
  timeoutSec: number;
  keepAliveMethod: 'GET_PARAMETER' | 'OPTIONS';
  controlUrl: string;
}

const unsupported = (what: string) =>
  new BackchannelError('UNSUPPORTED', `the camera has no ONVIF audio backchannel (${what}); talkback is unavailable, video is unaffected`);

function statusError(what: string, reply: RtspReply): BackchannelError {
  const answer = `${what} answered ${reply.status} ${reply.reason}`.trim();
  if (reply.status === 403) return new BackchannelError('AUTH', `the camera refused access (${answer})`);
  if (reply.status === 404) return new BackchannelError('NOT_FOUND', `the camera has no stream at that path (${answer})`);
  if (reply.status === 551) return unsupported(`${answer} to Require: ${ONVIF_BACKCHANNEL}`);
  return new BackchannelError('PROTOCOL', `unexpected answer: ${answer}`);
}

/** Some cameras echo the URL with its credentials in Content-Base; track URLs get logged. */
function withoutCredentials(url: string): string {
  try {
    return splitCredentials(url).url;
  } catch {
    return url; // not absolute: resolveControl appends to it as it is
  }
}

/** OPTIONS, DESCRIBE (with Require), SETUP of every track, PLAY. */
async function negotiate(connection: RtspClient, url: string, log: Logger, timeoutMs: number): Promise<Negotiated> {
  const require = { Require: ONVIF_BACKCHANNEL };
  const request = async (method: string, uri: string, headers: Record<string, string>) => {
    const reply = await connection.request(method, uri, headers, timeoutMs);
    log.debug({ method, uri, status: reply.status }, 'backchannel RTSP');
    return reply;
  };
  const options = await request('OPTIONS', url, {});
  const publicMethods = firstHeader(options, 'public');
  // Keep-alive with GET_PARAMETER unless the camera listed its methods without it.
  const keepAliveMethod = publicMethods && !/\bGET_PARAMETER\b/i.test(publicMethods) ? 'OPTIONS' : 'GET_PARAMETER';

  const describe = await request('DESCRIBE', url, { Accept: 'application/sdp', ...require });
  if (describe.status >= 400 && describe.status < 500 && ![403, 404].includes(describe.status)) {
    throw unsupported(`DESCRIBE with Require: ${ONVIF_BACKCHANNEL} answered ${describe.status} ${describe.reason}`.trim());
  }
  if (describe.status !== 200) throw statusError('DESCRIBE', describe);
  if (!describe.body.trim()) throw new BackchannelError('PROTOCOL', 'DESCRIBE answered 200 without an SDP body');
  const base = withoutCredentials(firstHeader(describe, 'content-base') ?? firstHeader(describe, 'content-location') ?? url);
  const tracks = listTracks(describe.body, base);
  const backchannel = findBackchannelTrack(describe.body, base);
  if (!backchannel) {
    const sendonly = tracks.some((t) => t.media === 'audio' && t.direction === 'sendonly');
    throw unsupported(sendonly ? 'its sendonly audio track offers neither PCMU nor PCMA at 8 kHz' : 'DESCRIBE accepted the Require header but its SDP has no sendonly audio track');
  }

  if (tracks.length > MAX_SETUP_TRACKS) {
    throw new BackchannelError('PROTOCOL', `the camera lists ${tracks.length} tracks; porchlight sets up at most ${MAX_SETUP_TRACKS}`);
  }
  // ONVIF cameras expect every track set up (some refuse PLAY otherwise); channels 2n-2n+1 in order.
  let session: { id: string; timeoutSec: number } | undefined;
  let channel: number | undefined;
  for (const [n, track] of tracks.entries()) {
    const setup = await request('SETUP', track.control, {
      Transport: `RTP/AVP/TCP;unicast;interleaved=${2 * n}-${2 * n + 1}`,
      ...require,
      ...(session ? { Session: session.id } : {}),
    });
    const isBackchannel = track.control === backchannel.control && channel === undefined;
    if (setup.status !== 200) {
      if (isBackchannel) throw statusError('SETUP of the backchannel track', setup);
      log.warn({ uri: track.control, status: setup.status }, 'backchannel: camera refused SETUP of a track, going on without it');
      continue;
    }
    const sessionHeader = firstHeader(setup, 'session');
    session ??= sessionHeader ? parseSessionHeader(sessionHeader) : undefined;
    // The camera may assign other channels than asked: use the ones its Transport names.
    if (isBackchannel) channel = parseInterleavedChannel(firstHeader(setup, 'transport') ?? '') ?? 2 * n;
  }
  if (!session || channel === undefined) throw new BackchannelError('PROTOCOL', 'SETUP answered without a Session header');

  const controlUrl = sessionControl(describe.body, base);
  const play = await request('PLAY', controlUrl, { Range: 'npt=0.000-', ...require, Session: session.id });
  if (play.status !== 200) throw statusError('PLAY', play);
  return { codec: backchannel.codec, channel, session: session.id, timeoutSec: session.timeoutSec, keepAliveMethod, controlUrl };
}

export class Backchannel extends EventEmitter<BackchannelEvents> {
  readonly codec: BackchannelCodec;
  readonly #connection: RtspClient;
  readonly #session: Negotiated;
  readonly #log: Logger;
  readonly #timeoutMs: number;
  readonly #keepAliveTimer: NodeJS.Timeout;
  // RFC 3550 §5.1: random SSRC and random initial sequence number and timestamp.
  readonly #ssrc = randomBytes(4).readUInt32BE(0);
  #sequence = randomBytes(2).readUInt16BE(0);
  #timestamp = randomBytes(4).readUInt32BE(0);
  #first = true;
  #packetsSent = 0;
  #dropWarned = false;
  #state: 'open' | 'closing' | 'closed' = 'open';
  #closing: Promise<void> | undefined;
  #keepAliveInFlight = false;

  static async open(options: BackchannelOptions): Promise<Backchannel> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    let target: URL;
    let split: ReturnType<typeof splitCredentials>;
    try {
      split = splitCredentials(options.url);
      target = new URL(split.url);
    } catch {
      throw new BackchannelError('PROTOCOL', 'the camera URL is not a valid URL');
    }
    if (target.protocol !== 'rtsp:' && target.protocol !== 'rtsps:') throw new BackchannelError('PROTOCOL', `talkback needs an rtsp:// or rtsps:// URL, not ${target.protocol}`);
    let connection: RtspClient | undefined;
    try {
      connection = await RtspClient.connect(target, split.credentials, timeoutMs, options.knownScheme);
      const negotiated = await negotiate(connection, split.url, options.log, timeoutMs);
      return new Backchannel(connection, negotiated, options.log, timeoutMs);
    } catch (err) {
      connection?.destroy();
      throw err instanceof RtspClientError ? new BackchannelError(err.code, err.message) : err;
    }
  }

  private constructor(connection: RtspClient, session: Negotiated, log: Logger, timeoutMs: number) {
    super();
    this.codec = session.codec;
    this.#connection = connection;
    this.#session = session;
    this.#log = log;
    this.#timeoutMs = timeoutMs;
    this.#keepAliveTimer = setInterval(() => this.#keepAlive(), keepAliveIntervalMs(session.timeoutSec));
    connection.on('end', (reason, detail) => {
      if (this.#state === 'open') this.#finish(reason, detail); // while closing, close() finishes
    });
    // Ended between PLAY and here: report it once the caller can be listening.
    if (connection.ended) setImmediate(() => this.#finish('camera-closed', 'the camera closed the connection'));
    log.info({ codec: session.codec.encoding, channel: session.channel, sessionTimeoutSec: session.timeoutSec }, 'backchannel open');
  }

  get packetsSent(): number {
    return this.#packetsSent;
  }

  /** G.711 bytes, one per sample, sent as RTP on the backchannel. No-op once closing. */
  sendAudio(samples: Buffer): void {
    if (this.#state !== 'open') return;
    for (let offset = 0; offset < samples.length; offset += MAX_RTP_PAYLOAD) {
      const payload = samples.subarray(offset, offset + MAX_RTP_PAYLOAD);
      const packet = Buffer.allocUnsafe(12 + payload.length);
      packet[0] = 0x80; // version 2, no padding, extension or CSRCs
      packet[1] = (this.#first ? 0x80 : 0) | this.codec.payloadType; // marker: start of a talkspurt
      packet.writeUInt16BE(this.#sequence, 2);
      packet.writeUInt32BE(this.#timestamp, 4);
      packet.writeUInt32BE(this.#ssrc, 8);
      payload.copy(packet, 12);
      // Sequence and timestamp advance even for a dropped packet: the camera sees a loss, not a jump.
      this.#first = false;
      this.#sequence = (this.#sequence + 1) & 0xffff;
      this.#timestamp = (this.#timestamp + payload.length) >>> 0;
      if (this.#connection.sendInterleaved(this.#session.channel, packet)) this.#packetsSent++;
      else if (!this.#dropWarned) {
        this.#dropWarned = true;
        this.#log.warn('backchannel: the camera is not reading, dropping talk audio');
      }
    }
  }

  /** TEARDOWN (bounded, best effort), then the socket closes; emits closed('closed'). Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#teardown();
    return this.#closing;
  }

  async #teardown(): Promise<void> {
    if (this.#state !== 'open') return;
    this.#state = 'closing';
    clearInterval(this.#keepAliveTimer);
    const { controlUrl, session } = this.#session;
    const timeoutMs = Math.min(this.#timeoutMs, TEARDOWN_TIMEOUT_MS);
    try {
      await this.#connection.request('TEARDOWN', controlUrl, { Require: ONVIF_BACKCHANNEL, Session: session }, timeoutMs);
    } catch (err) {
      this.#log.debug({ err }, 'backchannel: TEARDOWN not answered'); // closing the socket ends the session too
    }
    this.#finish('closed');
  }

  #keepAlive(): void {
    // A camera streaming into this connection is never silent; silence means it is gone.
    const silentMs = performance.now() - this.#connection.lastDataAt;
    if (silentMs > this.#session.timeoutSec * 1000) {
      this.#finish('error', `nothing received from the camera for ${Math.round(silentMs / 1000)} s`);
      return;
    }
    if (this.#keepAliveInFlight) return;
    this.#keepAliveInFlight = true;
    const { keepAliveMethod, controlUrl, session } = this.#session;
    this.#connection.request(keepAliveMethod, controlUrl, { Require: ONVIF_BACKCHANNEL, Session: session }, this.#timeoutMs)
      .then(
        (reply) => this.#log[reply.status === 200 ? 'debug' : 'warn']({ method: keepAliveMethod, status: reply.status }, 'backchannel keep-alive'),
        (err: unknown) => this.#state === 'open' && this.#log.warn({ err }, 'backchannel keep-alive failed'),
      )
      .finally(() => (this.#keepAliveInFlight = false));
  }

  #finish(reason: BackchannelCloseReason, detail?: string): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    clearInterval(this.#keepAliveTimer);
    this.#connection.destroy();
    this.#log.info({ reason, detail, packetsSent: this.#packetsSent }, 'backchannel closed');
    this.emit('closed', reason, detail);
  }
}
