import type { Logger } from 'pino';
import type { RTCIceServer } from 'werift';

/** What a STUN query or the TURN allocation may add to an answer when nothing else is said. */
export const DEFAULT_GATHER_TIMEOUT_MS = 1000;

/**
 * The slice of `webrtc.answerTimeoutMs` that STUN/TURN servers may cost an answer: 40 % of it,
 * at most 2 s. A TURN allocation takes two round trips (the 401 challenge, then the
 * authenticated request): 2 s leaves room for a lost packet over a slow uplink, and a server
 * that is down costs every offer this much, never the whole answer.
 */
export function gatherBudgetMs(answerTimeoutMs: number): number {
  return Math.max(100, Math.min(2000, Math.round(answerTimeoutMs * 0.4)));
}

/** A STUN or TURN server as werift will use it. `label` names it without any credential. */
export interface IceServerRef {
  kind: 'stun' | 'turn';
  label: string;
  host: string;
  port: number;
  transport: 'udp' | 'tcp' | 'tls';
}

/** Mirrors werift 0.25's parseIceServerUrl (webrtc/src/utils.js), minus any user-info. */
export function parseIceServerUrl(url: string): IceServerRef | undefined {
  const matched = /^(stuns?|turns?):([^?]+)(?:\?(.*))?$/i.exec(url.trim());
  if (!matched) return undefined;
  const scheme = matched[1]!.toLowerCase();
  // Not valid in an ICE URL, but never let "user:pass@" reach a label.
  const authority = matched[2]!.replace(/^.*@/, '');
  const secure = scheme.endsWith('s');
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(authority);
  const plain = /^([^:]+)(?::(\d+))?$/.exec(authority);
  const host = bracketed?.[1] ?? plain?.[1];
  if (!host) return undefined;
  const port = Number(bracketed?.[2] ?? plain?.[2] ?? (secure ? 5349 : 3478));
  const kind = scheme.startsWith('stun') ? 'stun' : 'turn';
  const param = new URLSearchParams(matched[3] ?? '').get('transport')?.toLowerCase();
  const transport = kind === 'stun' ? 'udp' : secure ? 'tls' : param === 'tcp' ? 'tcp' : 'udp';
  const shownHost = host.includes(':') ? `[${host}]` : host;
  const label = `${scheme}:${shownHost}:${port}${kind === 'turn' && !secure && param ? `?transport=${param}` : ''}`;
  return { kind, label, host, port, transport };
}

export interface WeriftIceServers {
  /** What to hand werift: at most one STUN URL and one TURN URL (with its credentials). */
  servers: RTCIceServer[];
  stun?: IceServerRef;
  turn?: IceServerRef;
  /** URLs werift would not use, each with why (no credentials in these texts). */
  ignored: string[];
}

/**
 * werift 0.25 asks only the first STUN URL and the first TURN URL of `iceServers`
 * (utils.js parseIceServers), and skips TURN altogether when that entry has no username or
 * credential. This picks what it will really use, so logs and diagnostics name the right
 * servers: the first STUN URL, and the first TURN URL that has credentials. With TURN over
 * UDP and no STUN URL, the TURN server is asked for the server-reflexive address too (every
 * TURN server answers STUN Binding requests, RFC 8656 §3): werift would otherwise ask Google.
 */
export function iceServersForWerift(configured: RTCIceServer[]): WeriftIceServers {
  const result: WeriftIceServers = { servers: [], ignored: [] };
  let turnEntry: RTCIceServer | undefined;
  let stunUrl: string | undefined;
  for (const server of configured) {
    for (const url of Array.isArray(server.urls) ? server.urls : [server.urls]) {
      const parsed = parseIceServerUrl(url);
      if (!parsed) {
        result.ignored.push(`"${url.replace(/^([^:]*:)[^@]*@/, '$1')}" is not a STUN/TURN URL werift can read`);
      } else if (parsed.kind === 'stun') {
        if (result.stun) result.ignored.push(`${parsed.label}: werift asks only the first STUN server (${result.stun.label})`);
        else [result.stun, stunUrl] = [parsed, url];
      } else if (!server.username || !server.credential) {
        result.ignored.push(`${parsed.label}: a TURN server needs username and credential`);
      } else if (result.turn) {
        result.ignored.push(`${parsed.label}: werift uses only the first TURN server (${result.turn.label})`);
      } else {
        result.turn = parsed;
        turnEntry = { urls: url, username: server.username, credential: server.credential };
      }
    }
  }
  if (!result.stun && result.turn?.transport === 'udp') {
    const { host, port } = result.turn;
    stunUrl = `stun:${host.includes(':') ? `[${host}]` : host}:${port}`;
    result.stun = { kind: 'stun', label: `${stunUrl} (the TURN server)`, host, port, transport: 'udp' };
  }
  if (stunUrl) result.servers.push({ urls: stunUrl });
  if (turnEntry) result.servers.push(turnEntry);
  return result;
}

/**
 * Follows the configured STUN and TURN servers through the answers they help make: an answer
 * without a server-reflexive candidate means the STUN server did not answer in time; without a
 * relay candidate, the TURN server gave no allocation (down, unreachable, or it refused the
 * credentials). Each server is logged once when it starts failing and once when it recovers,
 * by its label (scheme, host, port), never with its credential.
 */
export class IceServerWatch {
  readonly #servers: WeriftIceServers;
  readonly #log: Logger;
  readonly #gatherTimeoutMs: number;
  readonly #failing = new Set<string>();
  #announced = false;

  constructor(configured: RTCIceServer[], gatherTimeoutMs: number, log: Logger) {
    this.#servers = iceServersForWerift(configured);
    this.#gatherTimeoutMs = gatherTimeoutMs;
    this.#log = log;
  }

  get stun(): IceServerRef | undefined {
    return this.#servers.stun;
  }

  get turn(): IceServerRef | undefined {
    return this.#servers.turn;
  }

  /** After each answer, with the candidate types it carries. */
  noteAnswer(types: ReadonlySet<string>): void {
    if (!this.#announced) {
      this.#announced = true;
      for (const why of this.#servers.ignored) this.#log.warn(`webrtc.iceServers: ignored ${why}`);
      if (this.stun || this.turn) this.#log.info({ stun: this.stun?.label, turn: this.turn?.label, gatherTimeoutMs: this.#gatherTimeoutMs }, 'ICE servers in use');
    }
    this.#note(this.stun, types.has('srflx'), 'server-reflexive');
    this.#note(this.turn, types.has('relay'), 'relay');
  }

  /** Labels of the servers whose latest answer lacked their candidate. */
  get failing(): string[] {
    return [...this.#failing];
  }

  #note(server: IceServerRef | undefined, answered: boolean, candidate: string): void {
    if (!server) return;
    const wasFailing = this.#failing.has(server.label);
    if (!answered && !wasFailing) {
      this.#failing.add(server.label);
      const why = server.kind === 'turn' ? 'unreachable, down, or it refused the username/credential' : 'unreachable or down';
      this.#log.warn(
        { server: server.label, host: server.host, gatherTimeoutMs: this.#gatherTimeoutMs },
        `${server.kind.toUpperCase()} server ${server.label} gave no ${candidate} candidate within ${this.#gatherTimeoutMs} ms (${why}): answers go out without one until it does`,
      );
    } else if (answered && wasFailing) {
      this.#failing.delete(server.label);
      this.#log.info({ server: server.label, host: server.host }, `${server.kind.toUpperCase()} server ${server.label} answers again`);
    }
  }
}
