/**
 * Login with Amazon for the skill's developer, with the user's own security profile: the
 * authorization code grant with PKCE (S256) and a checked random state, the code returned to
 * http://127.0.0.1:<port>/cb (one request, then the listener closes) or pasted on stdin when the
 * browser runs on another machine; then the tokens kept fresh for SMAPI.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { createInterface } from 'node:readline';
import { CodedError } from '../util/coded-error.ts';
import { callbackUrl, SMAPI_SCOPES } from './skill-plan.ts';
import type { StoredLogin } from './skill-state.ts';

export type LoginErrorCode = 'DENIED' | 'STATE_MISMATCH' | 'BAD_CALLBACK' | 'PORT_IN_USE' | 'TIMEOUT' | 'TOKEN_REFUSED' | 'RELOGIN_NEEDED' | 'NETWORK';

export class LoginError extends CodedError<LoginErrorCode> {}

export interface LwaEndpoints {
  authorizeUrl: string;
  tokenUrl: string;
}

export interface LoginOptions extends LwaEndpoints {
  clientId: string;
  clientSecret: string;
  port: number;
  /** Progress lines for the person at the terminal. */
  say: (line: string) => void;
  /** Where a pasted address comes from (stdin). */
  input?: NodeJS.ReadableStream;
  timeoutMs?: number;
}

const LOGIN_TIMEOUT_MS = 10 * 60_000;
const REQUEST_TIMEOUT_MS = 15_000;
/** Refresh this long before expiry: a long setup must not meet an expired token halfway. */
const REFRESH_AHEAD_MS = 60_000;

export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

export function authorizeAddress(authorizeUrl: string, clientId: string, redirectUri: string, state: string, challenge: string): string {
  const url = new URL(authorizeUrl);
  url.search = new URLSearchParams({
    client_id: clientId,
    scope: SMAPI_SCOPES.join(' '),
    response_type: 'code',
    redirect_uri: redirectUri,
    state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  }).toString();
  return url.toString();
}

/** The code from the address LWA sent the browser to, or why there is none. */
export function codeFromReturnAddress(address: string, state: string): string {
  let url: URL;
  try {
    url = new URL(address.trim());
  } catch {
    throw new LoginError('BAD_CALLBACK', 'that is not an address: paste the whole address from the browser\'s address bar (it starts with http://127.0.0.1:)');
  }
  const params = url.searchParams;
  if (params.get('state') !== state) {
    throw new LoginError('STATE_MISMATCH', 'the address does not belong to this login (its state does not match): open the address printed above and sign in again');
  }
  const error = params.get('error');
  if (error) {
    const description = params.get('error_description');
    if (error === 'access_denied') throw new LoginError('DENIED', `Login with Amazon: access was denied${description ? ` (${description})` : ''}; run the command again and choose Allow`);
    throw new LoginError('DENIED', `Login with Amazon refused the login: ${error}${description ? ` (${description})` : ''}`);
  }
  const code = params.get('code');
  if (!code) throw new LoginError('BAD_CALLBACK', 'the address has no code: paste the address the browser ended on after signing in');
  return code;
}

/** Signs in through the browser and returns the tokens. */
export async function login(options: LoginOptions): Promise<StoredLogin> {
  const { verifier, challenge } = pkcePair();
  const state = randomBytes(18).toString('base64url');
  const redirectUri = callbackUrl(options.port);
  const code = await waitForCode(options, state, authorizeAddress(options.authorizeUrl, options.clientId, redirectUri, state, challenge));
  const tokens = await tokenRequest(options, { grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier });
  return { clientId: options.clientId, clientSecret: options.clientSecret, ...tokens, refreshToken: tokens.refreshToken! };
}

function waitForCode(options: LoginOptions, state: string, address: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let server: Server | undefined;
    let lines: ReturnType<typeof createInterface> | undefined;
    const timer = setTimeout(() => finish(new LoginError('TIMEOUT', `no login within ${Math.round((options.timeoutMs ?? LOGIN_TIMEOUT_MS) / 60_000)} minutes: run the command again`)), options.timeoutMs ?? LOGIN_TIMEOUT_MS);
    let done = false;
    const finish = (outcome: string | Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      lines?.close();
      server?.close();
      server?.closeAllConnections();
      if (outcome instanceof Error) reject(outcome);
      else resolve(outcome);
    };
    const take = (returned: string) => {
      try {
        finish(codeFromReturnAddress(returned, state));
      } catch (err) {
        finish(err as Error);
      }
    };

    server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', callbackUrl(options.port));
      if (url.pathname !== '/cb') {
        res.writeHead(404).end();
        return;
      }
      let outcome: string | Error;
      try {
        outcome = codeFromReturnAddress(url.toString(), state);
      } catch (err) {
        outcome = err as Error;
      }
      const ok = typeof outcome === 'string';
      res.writeHead(ok ? 200 : 400, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' })
        .end(ok ? 'porchlight: signed in. You can close this tab and go back to the terminal.\n' : `porchlight: ${(outcome as Error).message}\n`);
      finish(outcome);
    });
    server.once('error', (err: NodeJS.ErrnoException) => {
      finish(err.code === 'EADDRINUSE'
        ? new LoginError('PORT_IN_USE', `port ${options.port} on 127.0.0.1 is in use: choose another with --callback-port (and allow http://127.0.0.1:<port>/cb in the security profile)`)
        : err);
    });
    server.listen(options.port, '127.0.0.1', () => {
      options.say('Sign in with the Amazon account of your Alexa developer console. Open this address in a browser:');
      options.say(address);
      options.say(`Waiting for the browser to come back to ${callbackUrl(options.port)} … (browser on another machine? paste the address it ended on here and press Enter)`);
    });
    if (options.input) {
      lines = createInterface({ input: options.input, terminal: false });
      lines.on('line', (line) => {
        if (line.trim()) take(line);
      });
    }
  });
}

interface TokenAnswer {
  accessToken: string;
  refreshToken?: string;
  expiresAt: number;
}

async function tokenRequest(options: LwaEndpoints & { clientId: string; clientSecret: string }, grant: Record<string, string>): Promise<TokenAnswer> {
  let response: Response;
  try {
    response = await fetch(options.tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded;charset=UTF-8', accept: 'application/json' },
      body: new URLSearchParams({ ...grant, client_id: options.clientId, client_secret: options.clientSecret }),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (err) {
    throw new LoginError('NETWORK', `Login with Amazon could not be reached at ${new URL(options.tokenUrl).host}: ${(err as Error).message}`);
  }
  const body = (await response.json().catch(() => undefined)) as Record<string, unknown> | undefined;
  if (!response.ok) {
    const error = typeof body?.error === 'string' ? body.error : `HTTP ${response.status}`;
    const description = typeof body?.error_description === 'string' ? ` (${body.error_description})` : '';
    if (error === 'invalid_client') {
      throw new LoginError('TOKEN_REFUSED', `Login with Amazon refused the security profile's client id or secret: invalid_client${description}. Check --lwa-client-id/--lwa-client-secret (LWA_CLIENT_ID/LWA_CLIENT_SECRET)`);
    }
    throw new LoginError(grant.grant_type === 'refresh_token' ? 'RELOGIN_NEEDED' : 'TOKEN_REFUSED', `Login with Amazon refused the ${grant.grant_type === 'refresh_token' ? 'stored login' : 'code'}: ${error}${description}`);
  }
  const accessToken = body?.access_token;
  const expiresIn = body?.expires_in;
  if (typeof accessToken !== 'string' || typeof expiresIn !== 'number') {
    throw new LoginError('TOKEN_REFUSED', 'Login with Amazon answered without access_token and expires_in');
  }
  return { accessToken, expiresAt: Date.now() + expiresIn * 1000, ...(typeof body?.refresh_token === 'string' && { refreshToken: body.refresh_token }) };
}

/**
 * The developer's SMAPI access, kept fresh: a token that is about to lapse, or that SMAPI
 * refused, is refreshed once; a refused refresh means logging in again.
 */
export class LwaSession {
  #login: StoredLogin;
  readonly #endpoints: LwaEndpoints;
  readonly #saved: (login: StoredLogin) => void;
  #refreshing: Promise<string> | undefined;

  constructor(login: StoredLogin, endpoints: LwaEndpoints, saved: (login: StoredLogin) => void) {
    this.#login = login;
    this.#endpoints = endpoints;
    this.#saved = saved;
  }

  /** Every token this session has held, to scrub from output. */
  readonly seenTokens = new Set<string>();

  async token(): Promise<string> {
    const { accessToken, expiresAt } = this.#login;
    if (accessToken && expiresAt && expiresAt - REFRESH_AHEAD_MS > Date.now()) {
      this.seenTokens.add(accessToken);
      return accessToken;
    }
    return this.refresh();
  }

  refresh(): Promise<string> {
    this.#refreshing ??= this.#refresh().finally(() => (this.#refreshing = undefined));
    return this.#refreshing;
  }

  async #refresh(): Promise<string> {
    let answer: TokenAnswer;
    try {
      answer = await tokenRequest({ ...this.#endpoints, clientId: this.#login.clientId, clientSecret: this.#login.clientSecret }, { grant_type: 'refresh_token', refresh_token: this.#login.refreshToken });
    } catch (err) {
      if (err instanceof LoginError && err.code !== 'NETWORK') {
        throw new LoginError('RELOGIN_NEEDED', `${err.message}: log in again with porchlight skill setup (it opens the login when the stored one no longer works)`);
      }
      throw err;
    }
    this.#login = { ...this.#login, accessToken: answer.accessToken, expiresAt: answer.expiresAt, ...(answer.refreshToken && { refreshToken: answer.refreshToken }) };
    this.seenTokens.add(answer.accessToken);
    this.#saved(this.#login);
    return answer.accessToken;
  }
}
