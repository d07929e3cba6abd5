import { connect as connectTcp, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { authorizationHeader, parseChallenge, splitCredentials, type AuthScheme, type Challenge } from './rtsp-auth.ts';
import { parseRtspResponse, type RtspResponse } from './rtsp-message.ts';

/**
 * A camera health probe. OPTIONS shows an RTSP server answers; DESCRIBE then checks the stream
 * path and the credentials, because many cameras answer OPTIONS without asking for any.
 */

export type ProbeFailureCode =
  | 'REFUSED' | 'TIMEOUT' | 'DNS' | 'NO_SUCH_STREAM' | 'AUTH_REQUIRED' | 'AUTH_REJECTED' | 'AUTH_DOWNGRADE' | 'REDIRECT_ELSEWHERE'
  | 'PROTOCOL' | 'NETWORK' | 'ABORTED';

export type ProbeResult =
  /** `scheme`: the auth scheme the credentials were sent with, when the camera asked for any. */
  | { reachable: true; status: number; scheme?: AuthScheme }
  | { reachable: false; code: ProbeFailureCode; reason: string; status?: number };

export interface ProbeOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  /** The scheme that worked before: a camera that used Digest is never answered with Basic. */
  knownScheme?: AuthScheme;
}

// The response parser moved to rtsp-message.ts (shared with the backchannel client); re-exported
// here so this module's API is unchanged.
export { parseRtspResponse, type RtspResponse } from './rtsp-message.ts';

const DEFAULT_PORTS: Record<string, number> = { 'rtsp:': 554, 'rtsps:': 322 };
const MAX_RESPONSE_BYTES = 64 * 1024;

export async function probeRtsp(cameraUrl: string, options: ProbeOptions = {}): Promise<ProbeResult> {
  const { url, credentials } = splitCredentials(cameraUrl);
  const target = new URL(url);
  const port = Number(target.port) || DEFAULT_PORTS[target.protocol] || 554;
  const connection = new RtspConnection(target.hostname, port, target.protocol === 'rtsps:', options);
  try {
    await connection.opened;
    const optionsReply = await connection.request('OPTIONS', url, {});
    const optionsRedirect = redirectElsewhere(optionsReply, target);
    if (optionsRedirect) return optionsRedirect;
    let response = await connection.request('DESCRIBE', url, { Accept: 'application/sdp' });
    let scheme: AuthScheme | undefined;
    if (response.status === 401) {
      const offered = (response.headers.get('www-authenticate') ?? []).map(parseChallenge).filter((c): c is Challenge => c !== undefined);
      if (!credentials) return { reachable: false, code: 'AUTH_REQUIRED', status: 401, reason: 'the camera asks for credentials: put user:password@ in its URL' };
      const digest = offered.find((c) => c.scheme === 'digest');
      const challenge = digest ?? offered.find((c) => c.scheme === 'basic');
      if (!challenge) return { reachable: false, code: 'PROTOCOL', status: 401, reason: 'the camera answered 401 without a usable challenge' };
      if (challenge.scheme === 'basic' && options.knownScheme === 'digest') {
        return {
          reachable: false, code: 'AUTH_DOWNGRADE', status: 401,
          reason: 'the camera now offers only Basic auth where Digest worked before (a man in the middle?): porchlight does not send the password in clear',
        };
      }
      scheme = challenge.scheme;
      const authorization = authorizationHeader(challenge, credentials, { method: 'DESCRIBE', uri: url });
      response = await connection.request('DESCRIBE', url, { Accept: 'application/sdp', Authorization: authorization });
    }
    if (response.status === 401 || response.status === 403) {
      return { reachable: false, code: 'AUTH_REJECTED', status: response.status, reason: `the camera rejected the credentials (${response.status})` };
    }
    if (response.status === 404) {
      return { reachable: false, code: 'NO_SUCH_STREAM', status: 404, reason: 'the camera has no stream at that path (404)' };
    }
    const redirect = redirectElsewhere(response, target);
    if (redirect) return redirect;
    // Any other answer means the RTSP server is up and the stream is there or about to be.
    return { reachable: true, status: response.status, ...(scheme && { scheme }) };
  } catch (err) {
    return failure(err, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  } finally {
    connection.close();
  }
}

const DEFAULT_TIMEOUT_MS = 5000;

/**
 * A 3xx to another host is a health problem: ffmpeg would follow it and hand the camera's
 * password to that host unprompted (Basic in clear, or Digest over its chosen nonce).
 */
function redirectElsewhere(response: RtspResponse, target: URL): ProbeResult | undefined {
  if (response.status < 300 || response.status > 399) return undefined;
  const location = response.headers.get('location')?.[0];
  let host: string | undefined;
  try {
    host = location ? new URL(location, target).hostname : undefined;
  } catch {
    host = undefined;
  }
  if (!location || host === undefined) {
    return { reachable: false, code: 'PROTOCOL', status: response.status, reason: `the camera answered ${response.status} without a usable Location` };
  }
  if (host.toLowerCase() === target.hostname.toLowerCase()) return undefined;
  return {
    reachable: false, code: 'REDIRECT_ELSEWHERE', status: response.status,
    reason: `the camera redirects to another host (${host.slice(0, 255)}); ffmpeg would send it the camera's password, so porchlight treats it as down: point the URL at ${host.slice(0, 255)} if that host is yours`,
  };
}

function failure(err: unknown, timeoutMs: number): ProbeResult {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ECONNREFUSED') return { reachable: false, code: 'REFUSED', reason: 'connection refused: nothing listens on that port' };
  if (code === 'ETIMEDOUT') return { reachable: false, code: 'TIMEOUT', reason: `no answer within ${timeoutMs} ms` };
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return { reachable: false, code: 'DNS', reason: 'the camera host name does not resolve' };
  if (code === 'ABORT_ERR') return { reachable: false, code: 'ABORTED', reason: 'probe cancelled' };
  if (code === 'EPROTO_RTSP') return { reachable: false, code: 'PROTOCOL', reason: (err as Error).message };
  return { reachable: false, code: 'NETWORK', reason: `${code ?? 'error'}: ${(err as Error).message}` };
}

function errorWithCode(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

/** One TCP (or TLS) connection carrying sequential RTSP requests, bounded by one deadline. */
class RtspConnection {
  readonly opened: Promise<void>;
  readonly #socket: Socket;
  readonly #timer: NodeJS.Timeout;
  readonly #signal: AbortSignal | undefined;
  #buffer = Buffer.alloc(0);
  #cseq = 0;
  #failure: Error | undefined;
  #waiter: { resolve: (r: RtspResponse) => void; reject: (e: Error) => void } | undefined;
  readonly #onAbort = () => this.#fail(errorWithCode('ABORT_ERR', 'aborted'));

  constructor(host: string, port: number, secure: boolean, options: ProbeOptions) {
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    // Cameras serve RTSPS with self-signed certificates; the probe only asks "is it up?".
    this.#socket = secure ? connectTls({ host, port, rejectUnauthorized: false }) : connectTcp({ host, port });
    this.opened = new Promise<void>((resolve, reject) => {
      this.#socket.once(secure ? 'secureConnect' : 'connect', () => resolve());
      this.#socket.once('error', reject);
      this.#socket.once('close', () => reject(this.#failure ?? errorWithCode('ECONNRESET', 'connection closed')));
    });
    this.opened.catch(() => {}); // observed through request() or the caller's await
    this.#timer = setTimeout(() => this.#fail(errorWithCode('ETIMEDOUT', 'timed out')), timeoutMs);
    options.signal?.addEventListener('abort', this.#onAbort, { once: true });
    if (options.signal?.aborted) this.#onAbort();
    this.#socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    this.#socket.on('error', (err) => this.#fail(err));
    this.#socket.on('close', () => this.#fail(errorWithCode('ECONNRESET', 'the camera closed the connection')));
    this.#signal = options.signal;
  }

  request(method: string, uri: string, headers: Record<string, string>): Promise<RtspResponse> {
    if (this.#failure) return Promise.reject(this.#failure);
    this.#cseq += 1;
    const lines = [`${method} ${uri} RTSP/1.0`, `CSeq: ${this.#cseq}`, 'User-Agent: porchlight'];
    for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
    this.#socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
      this.#drain();
    });
  }

  close(): void {
    clearTimeout(this.#timer);
    this.#signal?.removeEventListener('abort', this.#onAbort);
    this.#socket.destroy();
  }

  #onData(chunk: Buffer): void {
    this.#buffer = Buffer.concat([this.#buffer, chunk]);
    if (this.#buffer.length > MAX_RESPONSE_BYTES) this.#fail(errorWithCode('EPROTO_RTSP', 'the camera sent an oversized answer'));
    else this.#drain();
  }

  #drain(): void {
    if (!this.#waiter) return;
    const parsed = parseRtspResponse(this.#buffer);
    if (parsed === 'incomplete') return;
    const waiter = this.#waiter;
    this.#waiter = undefined;
    if (parsed === 'invalid') {
      this.#fail(errorWithCode('EPROTO_RTSP', 'the server on that port does not speak RTSP'));
      waiter.reject(this.#failure!);
      return;
    }
    this.#buffer = this.#buffer.subarray(parsed.length);
    waiter.resolve(parsed.response);
  }

  #fail(err: Error): void {
    this.#failure ??= err;
    this.#waiter?.reject(this.#failure);
    this.#waiter = undefined;
    this.#socket.destroy();
  }
}
