/**
 * The Alexa Skill Management API calls `porchlight skill setup|status|remove` make, with the
 * developer's Login with Amazon token: 401 refreshes the token once; 429 and 503 are retried
 * with backoff honouring Retry-After; every other refusal is an SmapiError with Amazon's words.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { amazonMessage, parseJson, requestId, retryAfterMs } from '../cloud/amazon-api.ts';
import { retryWaitMs, type Backoff } from '../util/retry.ts';
import { CodedError } from '../util/coded-error.ts';
import { printable } from '../util/printable.ts';
import type { LwaSession } from './lwa-login.ts';
import type { AccountLinkingRequest, SkillManifest } from './skill-plan.ts';

export type SmapiErrorCode = 'NOT_FOUND' | 'REFUSED' | 'THROTTLED' | 'NETWORK' | 'MANIFEST_FAILED' | 'TIMEOUT';

export class SmapiError extends CodedError<SmapiErrorCode> {
  readonly status: number | undefined;
  constructor(code: SmapiErrorCode, message: string, status?: number) {
    super(code, message);
    this.status = status;
  }
}

const RETRY: Backoff = { initialMs: 1_000, maxMs: 32_000 };
const MAX_RETRIES = 6;
const REQUEST_TIMEOUT_MS = 30_000;
const STATUS_DEADLINE_MS = 5 * 60_000;

export interface SmapiOptions {
  url: string;
  session: LwaSession;
  /** Waiting between retries and polls; tests pass a quick one. */
  sleep?: (ms: number) => Promise<void>;
  say?: (line: string) => void;
}

export interface ManifestStatus {
  status: 'IN_PROGRESS' | 'SUCCEEDED' | 'FAILED' | string;
  errors: string[];
}

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

export class SmapiClient {
  readonly #options: SmapiOptions;
  readonly #sleep: (ms: number) => Promise<void>;

  constructor(options: SmapiOptions) {
    this.#options = options;
    this.#sleep = options.sleep ?? ((ms) => delay(ms));
  }

  /** The developer's vendor id (the first vendor the account may administer). */
  async vendorId(): Promise<string> {
    const { body } = await this.#call('GET', '/v1/vendors');
    const vendors = (body as { vendors?: Array<{ id?: string; roles?: string[] }> } | undefined)?.vendors ?? [];
    const vendor = vendors.find((v) => v.id && (!v.roles || v.roles.some((r) => /ADMIN|DEVELOPER/.test(r)))) ?? vendors.find((v) => v.id);
    if (!vendor?.id) throw new SmapiError('REFUSED', 'SMAPI lists no vendor for this Amazon account: sign in to developer.amazon.com once to create the developer account, then run again');
    return checked('vendor id', vendor.id, VENDOR_ID);
  }

  async createSkill(vendorId: string, manifest: SkillManifest): Promise<string> {
    const { body } = await this.#call('POST', '/v1/skills', { vendorId, manifest });
    const skillId = (body as { skillId?: string } | undefined)?.skillId;
    if (!skillId) throw new SmapiError('REFUSED', 'SMAPI created the skill but named no skillId');
    return checked('skill id', skillId, SKILL_ID);
  }

  /** The development manifest with its ETag, or undefined when the skill does not exist. */
  async manifest(skillId: string): Promise<{ manifest: SkillManifest; eTag?: string } | undefined> {
    const answer = await this.#call('GET', `${skillPath(skillId)}/stages/development/manifest`, undefined, { allow404: true });
    if (answer.status === 404) return undefined;
    return { manifest: (answer.body as { manifest: SkillManifest }).manifest, ...(answer.eTag && { eTag: answer.eTag }) };
  }

  async putManifest(skillId: string, manifest: SkillManifest, eTag?: string): Promise<void> {
    await this.#call('PUT', `${skillPath(skillId)}/stages/development/manifest`, { manifest }, { ...(eTag && { ifMatch: eTag }) });
  }

  async manifestStatus(skillId: string): Promise<ManifestStatus | undefined> {
    const answer = await this.#call('GET', `${skillPath(skillId)}/status?resource=manifest`, undefined, { allow404: true });
    if (answer.status === 404) return undefined;
    const last = (answer.body as { manifest?: { lastUpdateRequest?: { status?: string; errors?: Array<{ message?: string }> } } } | undefined)?.manifest?.lastUpdateRequest;
    return { status: printable(last?.status ?? 'UNKNOWN', 40), errors: (last?.errors ?? []).map((e) => printable(e.message ?? JSON.stringify(e))) };
  }

  /** Polls the manifest's status until SUCCEEDED; FAILED is an error listing Amazon's violations. */
  async waitForManifest(skillId: string, deadlineMs = STATUS_DEADLINE_MS): Promise<void> {
    const until = Date.now() + deadlineMs;
    for (let poll = 0; ; poll++) {
      const status = await this.manifestStatus(skillId);
      if (status?.status === 'SUCCEEDED') return;
      if (status?.status === 'FAILED') {
        throw new SmapiError('MANIFEST_FAILED', `Amazon refused the skill manifest:\n${status.errors.map((e) => `  - ${e}`).join('\n') || '  (no reason given)'}`);
      }
      if (Date.now() >= until) throw new SmapiError('TIMEOUT', `the skill manifest was still ${status?.status ?? 'unknown'} after ${Math.round(deadlineMs / 1000)} s: run the command again later`);
      await this.#sleep(Math.min(500 * 2 ** poll, 5_000));
    }
  }

  /** The account-linking settings as SMAPI shows them (never the secret), or undefined. */
  async accountLinking(skillId: string): Promise<Record<string, unknown> | undefined> {
    const answer = await this.#call('GET', `${skillPath(skillId)}/stages/development/accountLinkingClient`, undefined, { allow404: true });
    if (answer.status === 404) return undefined;
    return (answer.body as { accountLinkingResponse?: Record<string, unknown> } | undefined)?.accountLinkingResponse;
  }

  async putAccountLinking(skillId: string, request: AccountLinkingRequest): Promise<void> {
    await this.#call('PUT', `${skillPath(skillId)}/stages/development/accountLinkingClient`, { accountLinkingRequest: request });
  }

  /** The skill's "Alexa Skill Messaging" client id and secret: what the bridge sends events with. */
  async messagingCredentials(skillId: string): Promise<{ clientId: string; clientSecret: string }> {
    const { body } = await this.#call('GET', `${skillPath(skillId)}/credentials`);
    const credentials = (body as { skillMessagingCredentials?: { clientId?: string; clientSecret?: string } } | undefined)?.skillMessagingCredentials;
    if (!credentials?.clientId || !credentials.clientSecret) throw new SmapiError('REFUSED', 'SMAPI returned no skill messaging credentials');
    return { clientId: credentials.clientId, clientSecret: credentials.clientSecret };
  }

  /** True when deleted, false when there was no such skill. */
  async deleteSkill(skillId: string): Promise<boolean> {
    const answer = await this.#call('DELETE', skillPath(skillId), undefined, { allow404: true });
    return answer.status !== 404;
  }

  async #call(method: Method, path: string, body?: unknown, options: { allow404?: boolean; ifMatch?: string } = {}): Promise<{ status: number; body: unknown; eTag?: string }> {
    const url = `${this.#options.url.replace(/\/+$/, '')}${path}`;
    let refreshed = false;
    for (let attempt = 0; ; attempt++) {
      const token = await this.#options.session.token();
      let response: Response;
      let text: string;
      try {
        response = await fetch(url, {
          method,
          headers: {
            accept: 'application/json',
            authorization: `Bearer ${token}`,
            ...(body !== undefined && { 'content-type': 'application/json' }),
            ...(options.ifMatch && { 'if-match': options.ifMatch }),
          },
          ...(body !== undefined && { body: JSON.stringify(body) }),
          signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        });
        text = await response.text();
      } catch (err) {
        if (method === 'GET' && attempt < 2) {
          await this.#sleep(1_000);
          continue;
        }
        throw new SmapiError('NETWORK', `SMAPI (${new URL(url).host}) could not be reached for ${method} ${path.split('?')[0]}: ${(err as Error).message}`);
      }
      const parsed = parseJson(text);
      if (response.ok) return { status: response.status, body: parsed, ...(response.headers.get('etag') && { eTag: response.headers.get('etag')! }) };
      if (response.status === 404 && options.allow404) return { status: 404, body: parsed };
      const message = amazonMessage(parsed, text);
      const said = `HTTP ${response.status}${message ? `: ${printable(message)}` : ''}${printable(requestId(response), 120)}`;
      if (response.status === 401 && !refreshed) {
        refreshed = true;
        await this.#options.session.refresh();
        continue;
      }
      if ((response.status === 429 || response.status === 503) && attempt < MAX_RETRIES) {
        const wait = retryWaitMs(attempt + 1, RETRY, retryAfterMs(response, Date.now()));
        this.#options.say?.(`· SMAPI answered ${response.status}; retrying in ${Math.round(wait / 100) / 10} s`);
        await this.#sleep(wait);
        continue;
      }
      const code: SmapiErrorCode = response.status === 404 ? 'NOT_FOUND' : response.status === 429 || response.status === 503 ? 'THROTTLED' : 'REFUSED';
      throw new SmapiError(code, `SMAPI refused ${method} ${path.split('?')[0]} (${said})`, response.status);
    }
  }
}

// What SMAPI names is printed and stored: it must look like what it is.
const VENDOR_ID = /^[A-Z0-9]{1,64}$/;
const SKILL_ID = /^amzn1\.ask\.skill\.[A-Za-z0-9-]{1,128}$/;

function checked(what: string, value: string, shape: RegExp): string {
  if (!shape.test(value)) throw new SmapiError('REFUSED', `SMAPI returned a ${what} of an unexpected shape ("${printable(value, 80)}")`);
  return value;
}

function skillPath(skillId: string): string {
  return `/v1/skills/${encodeURIComponent(skillId)}`;
}
