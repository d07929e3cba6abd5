import type { ApiError } from './console-api.ts';
import type { ConsoleStore } from './store.js';

/** The API refused the admin token: the console signs out. */
export class Unauthorized extends Error {}

interface RequestOptions {
  method?: string;
  body?: unknown;
  /** Lets the request outlive the page. */
  keepalive?: boolean;
}

/** The console's API: the store's admin token on every call. */
export class ApiClient {
  readonly #store: ConsoleStore;

  constructor(store: ConsoleStore) {
    this.#store = store;
  }

  async request<T>(path: string, options: RequestOptions = {}): Promise<T> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.#store.token ?? ''}` };
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(path, {
      method: options.method ?? 'GET',
      headers,
      cache: 'no-store',
      ...(options.body !== undefined && { body: JSON.stringify(options.body) }),
      ...(options.keepalive && { keepalive: true }),
    });
    if (response.status === 401) throw new Unauthorized('wrong token');
    const json: unknown = await response.json().catch(() => ({}));
    if (!response.ok) {
      const error = json as Partial<ApiError>;
      throw new Error(error.reason ?? error.error ?? `HTTP ${response.status}`);
    }
    return json as T;
  }

  hangUp(sessionId: string, options: { keepalive?: boolean } = {}): Promise<unknown> {
    return this.request(`/api/sessions/${encodeURIComponent(sessionId)}/hangup`, { method: 'POST', ...options });
  }
}
