import { createHash, randomBytes } from 'node:crypto';

/** RTSP authentication (RFC 2617 as cameras use it): challenge parsing and Authorization headers. */

export interface Credentials {
  username: string;
  password: string;
}

export type AuthScheme = 'basic' | 'digest';

export interface Challenge {
  scheme: AuthScheme;
  params: Record<string, string>;
}

/** Parses one WWW-Authenticate header value: `Digest realm="x", nonce="y", qop="auth"`. */
export function parseChallenge(header: string): Challenge | undefined {
  const match = /^\s*(\w+)\s*(.*)$/s.exec(header);
  if (!match) return undefined;
  const scheme = match[1]!.toLowerCase();
  if (scheme !== 'basic' && scheme !== 'digest') return undefined;
  const params: Record<string, string> = {};
  const pattern = /(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))/g;
  for (const [, key, quoted, bare] of match[2]!.matchAll(pattern)) {
    params[key!.toLowerCase()] = quoted !== undefined ? quoted.replace(/\\(.)/g, '$1') : bare!;
  }
  return { scheme, params };
}

/** Picks Digest over Basic when a camera offers both. */
export function pickChallenge(headers: string[]): Challenge | undefined {
  const challenges = headers.map(parseChallenge).filter((c): c is Challenge => c !== undefined);
  return challenges.find((c) => c.scheme === 'digest') ?? challenges.find((c) => c.scheme === 'basic');
}

export interface DigestRequest {
  method: string;
  uri: string;
  /** Request counter for qop=auth; cameras usually accept 1 for every request. */
  nonceCount?: number;
  cnonce?: string;
}

const md5 = (text: string): string => createHash('md5').update(text).digest('hex');

export function authorizationHeader(challenge: Challenge, credentials: Credentials, request: DigestRequest): string {
  if (challenge.scheme === 'basic') {
    return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
  }
  const { realm = '', nonce = '', opaque, qop, algorithm } = challenge.params;
  const cnonce = request.cnonce ?? randomBytes(8).toString('hex');
  let ha1 = md5(`${credentials.username}:${realm}:${credentials.password}`);
  if (algorithm?.toLowerCase() === 'md5-sess') ha1 = md5(`${ha1}:${nonce}:${cnonce}`);
  const ha2 = md5(`${request.method}:${request.uri}`);
  const useQop = qop?.split(',').map((q) => q.trim()).includes('auth') ? 'auth' : undefined;
  const nc = (request.nonceCount ?? 1).toString(16).padStart(8, '0');
  const response = useQop ? md5(`${ha1}:${nonce}:${nc}:${cnonce}:${useQop}:${ha2}`) : md5(`${ha1}:${nonce}:${ha2}`);
  const parts = [
    `username="${credentials.username}"`,
    `realm="${realm}"`,
    `nonce="${nonce}"`,
    `uri="${request.uri}"`,
    `response="${response}"`,
  ];
  if (algorithm) parts.push(`algorithm=${algorithm}`);
  if (opaque !== undefined) parts.push(`opaque="${opaque}"`);
  if (useQop) parts.push(`qop=${useQop}`, `nc=${nc}`, `cnonce="${cnonce}"`);
  return `Digest ${parts.join(', ')}`;
}

/** Splits `rtsp://user:pass@host/path` into a credential-free URL and the credentials. */
export function splitCredentials(url: string): { url: string; credentials?: Credentials } {
  const parsed = new URL(url);
  if (!parsed.username && !parsed.password) return { url };
  const credentials = { username: decodeURIComponent(parsed.username), password: decodeURIComponent(parsed.password) };
  parsed.username = '';
  parsed.password = '';
  return { url: parsed.toString(), credentials };
}
