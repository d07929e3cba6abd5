import { isIPv4, isIPv6 } from 'node:net';
import type { Logger } from 'pino';

/**
 * Why a viewer never connected, in words a person can act on: which kinds of ICE candidates each
 * side offered (type, transport, network class) and what to change. The texts carry no address,
 * so they may go to the log at warn, the console and error messages; the addresses themselves
 * are for debug logs only.
 */

export interface CandidateFacts {
  type: string;
  protocol: string;
  address: string;
  port: number;
}

const CANDIDATE = /candidate:\S+ \d+ (\S+) \d+ (\S+) (\d+) typ (\S+)/i;

/** `a=candidate:…` (an SDP line) or `candidate:…` (werift's RTCIceCandidate.candidate). */
export function parseCandidate(text: string): CandidateFacts | undefined {
  const matched = CANDIDATE.exec(text);
  if (!matched) return undefined;
  return { protocol: matched[1]!.toLowerCase(), address: matched[2]!, port: Number(matched[3]), type: matched[4]!.toLowerCase() };
}

/** Every distinct candidate of an SDP (a BUNDLE answer repeats them on each m-line). */
export function candidatesInSdp(sdp: string): CandidateFacts[] {
  return distinct(sdp.split(/\r?\n/).filter((line) => line.startsWith('a=candidate:')).map(parseCandidate));
}

export function distinct(list: Array<CandidateFacts | undefined>): CandidateFacts[] {
  const seen = new Map<string, CandidateFacts>();
  for (const c of list) if (c) seen.set(`${c.type} ${c.protocol} ${c.address} ${c.port}`, c);
  return [...seen.values()];
}

export function candidateTypes(sdp: string): Set<string> {
  return new Set(candidatesInSdp(sdp).map((c) => c.type));
}

/** The kind of network an address belongs to; never the address itself. */
export function networkOf(address: string): string {
  if (/\.local$/i.test(address)) return 'mDNS name';
  if (isIPv4(address)) {
    const [a, b] = address.split('.').map(Number) as [number, number];
    if (a === 127) return 'loopback';
    if (a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168)) return 'private';
    if (a === 100 && b >= 64 && b <= 127) return 'carrier-grade NAT';
    if (a === 169 && b === 254) return 'link-local';
    return 'public';
  }
  if (isIPv6(address)) {
    const lower = address.toLowerCase();
    if (lower === '::1') return 'IPv6 loopback';
    if (/^fe[89ab]/.test(lower)) return 'IPv6 link-local';
    if (/^f[cd]/.test(lower)) return 'IPv6 private';
    return 'IPv6 public';
  }
  return 'hostname';
}

/** "host/udp private ×2, srflx/udp public": types, transports and networks, no address. */
export function summarizeCandidates(candidates: CandidateFacts[]): string {
  if (candidates.length === 0) return 'no candidates';
  const counts = new Map<string, number>();
  for (const c of candidates) {
    const key = `${c.type}/${c.protocol} ${networkOf(c.address)}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].map(([key, n]) => (n > 1 ? `${key} ×${n}` : key)).join(', ');
}

/** "udp 10.0.0.2:40000 host, …": for debug logs only. */
export function listCandidates(candidates: CandidateFacts[]): string {
  return candidates.map((c) => `${c.type} ${c.protocol} ${c.address}:${c.port}`).join(', ');
}

export interface IceFailureFacts {
  /** What porchlight's answer offered. */
  local: CandidateFacts[];
  /** What the viewer offered, and the peer-reflexive addresses its checks came from. */
  remote: CandidateFacts[];
  /** Candidate pairs werift formed, and how many of them got a response. */
  pairs: number;
  succeeded: number;
  /** A TURN server is configured (even if this answer carries no relay from it). */
  turnConfigured: boolean;
}

/** The close reason of a session whose ICE never connected, with the hint to act on. */
export function explainIceFailure(facts: IceFailureFacts): string {
  const checked = facts.pairs === 0 ? 'no candidate pair could be formed' : `no candidate pair succeeded (${facts.pairs} checked)`;
  const offered = `porchlight offered ${summarizeCandidates(facts.local)}; the viewer offered ${summarizeCandidates(facts.remote)}`;
  let hint: string;
  if (facts.local.some((c) => c.type === 'relay')) {
    hint = 'the answer carried a TURN relay but the viewer never reached it: make sure the TURN server and its relay ports are reachable from the viewer\'s network';
  } else if (facts.turnConfigured) {
    hint = 'the configured TURN server gave no relay for this session (see its warning in the log): fix it, and the relay will connect viewers on other networks';
  } else {
    hint = 'porchlight and the viewer cannot reach each other directly: add a TURN server both can reach to webrtc.iceServers (turn:host:3478 with username and credential)';
  }
  return `ICE failed: ${checked}. ${offered}. Hint: ${hint}.`;
}

/** werift's CandidatePairState.SUCCEEDED (not exported from its index). */
const CANDIDATE_PAIR_SUCCEEDED = 3;

/** What the diagnosis reads of werift's ICE transports (RTCPeerConnection.iceTransports). */
export interface IceTransportView {
  connection: {
    nominated?: unknown;
    remoteCandidates: ReadonlyArray<{ type: string; transport: string; host: string; port: number }>;
    checkList: ReadonlyArray<{ state: number }>;
  };
}

/** Some candidate pair got an answer (the viewer may not have nominated it yet). */
export function icePairSucceeded(transports: readonly IceTransportView[]): boolean {
  return transports.some((t) => Boolean(t.connection.nominated) || t.connection.checkList.some((pair) => pair.state === CANDIDATE_PAIR_SUCCEEDED));
}

/** A TURN server is configured (whether or not it gave this session a relay). */
export function turnConfigured(iceServers: ReadonlyArray<{ urls: string | string[] }>): boolean {
  return iceServers.some((s) => [s.urls].flat().some((url) => /^turns?:/i.test(url)));
}

export interface IceFailureReport {
  /** werift's ICE transports, read before the peer connection closes (it forgets its candidates then). */
  transports: readonly IceTransportView[];
  /** The candidates of porchlight's answer. */
  local: CandidateFacts[];
  turnConfigured: boolean;
  log: Logger;
}

/**
 * Diagnoses a session that ended with `ice-failed`: logs what each side offered (types and
 * networks at warn, addresses at debug) and returns the text for the console.
 */
export function diagnoseIceFailure({ transports, local, turnConfigured, log }: IceFailureReport): string {
  // The offer's candidates and the peer-reflexive ones its checks came from.
  const remote = distinct(transports.flatMap((t) => t.connection.remoteCandidates.map((c) => ({ type: c.type, protocol: c.transport.toLowerCase(), address: c.host, port: c.port }))));
  const pairs = transports.flatMap((t) => t.connection.checkList);
  const succeeded = pairs.filter((pair) => pair.state === CANDIDATE_PAIR_SUCCEEDED).length;
  const detail = explainIceFailure({ local, remote, pairs: pairs.length, succeeded, turnConfigured });
  log.warn({ reason: 'ice-failed', porchlight: summarizeCandidates(local), viewer: summarizeCandidates(remote), pairs: pairs.length }, detail);
  log.debug({ porchlight: listCandidates(local), viewer: listCandidates(remote) }, 'candidates of the failed session');
  return detail;
}
