import type { Logger } from 'pino';
import { CodedError } from '../util/coded-error.ts';
import type { CloudStore } from './store.ts';

/** Login with Amazon: the grant code from AcceptGrant → access and refresh tokens, kept fresh. */

export const DEFAULT_LWA_TOKEN_URL = 'https://api.amazon.com/auth/o2/token';
export const TOKENS_KEY = 'lwa.tokens';
/** Refresh this long before expiry so an event never leaves with a token about to lapse. */
const REFRESH_AHEAD_MS = 5 * 60_000;
const REQUEST_TIMEOUT_MS = 10_000;

export type LwaErrorCode = 'NOT_CONFIGURED' | 'NOT_LINKED' | 'INVALID_GRANT' | 'INVALID_CLIENT' | 'REJECTED' | 'NETWORK' | 'BAD_RESPONSE';

export class LwaError extends CodedError<LwaErrorCode> {}

interface StoredTokens {
  accessToken: string;
  refreshToken: string;
  expiresAt: number;
}

export interface LwaTokensOptions {
  store: CloudStore;
  clientId?: string;
  clientSecret?: string;
  tokenUrl?: string;
  log: Logger;
  now?: () => number;
}

export class LwaTokens {
  readonly #options: LwaTokensOptions;
  readonly #now: () => number;
  #refreshing: Promise<string> | undefined;

  constructor(options: LwaTokensOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  get configured(): boolean {
    return Boolean(this.#options.clientId && this.#options.clientSecret);
  }

  get linked(): boolean {
    return this.#options.store.getJson<StoredTokens>(TOKENS_KEY) !== undefined;
  }

  /** AcceptGrant: trade the code for tokens and store them. Throws LwaError saying why. */
  async exchange(code: string): Promise<void> {
    const tokens = await this.#request({ grant_type: 'authorization_code', code });
    this.#options.store.setJson(TOKENS_KEY, tokens);
    this.#options.log.info('Alexa account linked: event tokens stored');
  }

  /** A token valid for a while yet; refreshes ahead of expiry, one refresh at a time. */
  async accessToken(): Promise<string> {
    const tokens = this.#options.store.getJson<StoredTokens>(TOKENS_KEY);
    if (!tokens) throw new LwaError('NOT_LINKED', 'the Alexa account is not linked yet (no AcceptGrant received)');
    if (tokens.expiresAt - REFRESH_AHEAD_MS > this.#now()) return tokens.accessToken;
    return this.refresh();
  }

  /** A new access token now (the gateway said 401). Concurrent callers share one request. */
  refresh(): Promise<string> {
    this.#refreshing ??= this.#refresh().finally(() => (this.#refreshing = undefined));
    return this.#refreshing;
  }

  /** The user unlinked or the grant is dead: forget the tokens. */
  forget(): void {
    this.#options.store.delete(TOKENS_KEY);
  }

  async #refresh(): Promise<string> {
    const current = this.#options.store.getJson<StoredTokens>(TOKENS_KEY);
    if (!current) throw new LwaError('NOT_LINKED', 'the Alexa account is not linked yet (no AcceptGrant received)');
    const tokens = await this.#request({ grant_type: 'refresh_token', refresh_token: current.refreshToken });
    this.#options.store.setJson(TOKENS_KEY, tokens);
    this.#options.log.debug('Alexa access token refreshed');
    return tokens.accessToken;
  }

  async #request(grant: Record<string, string>): Promise<StoredTokens> {
    const { clientId, clientSecret } = this.#options;
    if (!clientId || !clientSecret) {
      throw new LwaError('NOT_CONFIGURED', 'alexa.clientId and alexa.clientSecret are not configured (the skill\'s "Send Alexa Events" credentials)');
    }
    let response: Response;
    try {
      response = await fetch(this.#options.tokenUrl ?? DEFAULT_LWA_TOKEN_URL, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded;charset=UTF-8', accept: 'application/json' },
        body: new URLSearchParams({ ...grant, client_id: clientId, client_secret: clientSecret }),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (err) {
      throw new LwaError('NETWORK', `Login with Amazon could not be reached: ${(err as Error).message}`);
    }
    const body = (await response.json().catch(() => undefined)) as Record<string, unknown> | undefined;
    if (!response.ok) {
      const error = typeof body?.error === 'string' ? body.error : `HTTP ${response.status}`;
      const description = typeof body?.error_description === 'string' ? `: ${body.error_description}` : '';
      if (error === 'invalid_grant') throw new LwaError('INVALID_GRANT', `Login with Amazon refused the grant (invalid_grant${description})`);
      if (error === 'invalid_client') throw new LwaError('INVALID_CLIENT', `Login with Amazon refused alexa.clientId/clientSecret (invalid_client${description})`);
      throw new LwaError('REJECTED', `Login with Amazon answered ${response.status} (${error}${description})`);
    }
    const { access_token: accessToken, refresh_token: refreshToken, expires_in: expiresIn } = body ?? {};
    if (typeof accessToken !== 'string' || typeof refreshToken !== 'string' || typeof expiresIn !== 'number') {
      throw new LwaError('BAD_RESPONSE', 'Login with Amazon answered without access_token, refresh_token and expires_in');
    }
    return { accessToken, refreshToken, expiresAt: this.#now() + expiresIn * 1000 };
  }
}
