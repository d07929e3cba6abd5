import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { withAccessToken } from '../alexa/events.ts';
import type { AlexaEvent } from '../alexa/messages.ts';
import { postEvent, type SendOutcome } from './event-gateway.ts';
import { LwaError, type LwaTokens } from './lwa.ts';
import type { CloudStore } from './store.ts';
import { ALEXA_BACKOFF, retryWaitMs, type Backoff } from '../util/retry.ts';

export interface OutboxOptions {
  store: CloudStore;
  tokens: LwaTokens;
  gatewayUrl: string;
  log: Logger;
  /** The oldest events are dropped beyond this many (a gateway down for days). */
  maxEntries?: number;
  /** Between tries of the head event (default: Alexa's 1 s doubling to 256 s); a longer Retry-After wins. */
  retry?: Backoff;
  /** How long one POST to the gateway may take before it counts as failed (default 10 s). */
  requestTimeoutMs?: number;
}

export interface EnqueueOptions {
  /** An undelivered event with the same key is replaced: only the newest state matters. */
  coalesceKey?: string;
  /** Not worth delivering after this long (a doorbell press hours late is a false alarm). */
  ttlMs?: number;
}

export interface OutboxStatus {
  queued: number;
  delivered: number;
  dropped: number;
  /** The last attempt failed and a retry is scheduled. */
  failing: boolean;
  relinkNeeded: boolean;
  lastError?: string;
}

export interface OutboxEvents {
  delivered: [messageId: string, name: string];
  /** The gateway said 403 or the grant is dead: the user must re-enable / re-link the skill. */
  relinkNeeded: [reason: string];
}

interface Row {
  id: number;
  message_id: string;
  name: string;
  body: string;
  expires_at: number | null;
  attempts: number;
  next_attempt_at: number;
}

export const RELINK_KEY = 'alexa.relinkNeeded';

/**
 * The durable event outbox. An event is written to SQLite before anything is sent and deleted
 * only once the gateway accepted it (2xx), so it survives gateway outages and restarts; retries
 * keep its messageId (at-least-once). Delivery is in order, one at a time: a failing head event
 * holds the rest back rather than letting them hammer a struggling gateway.
 */
export class EventOutbox extends EventEmitter<OutboxEvents> {
  readonly #options: OutboxOptions;
  readonly #log: Logger;
  #timer: NodeJS.Timeout | undefined;
  #pumping: Promise<void> | undefined;
  /** Work arrived while a pump was finishing: run another. */
  #kickAgain = false;
  #started = false;
  #closed = false;
  /** Aborts the request in flight at close(): shutdown does not wait out a hanging gateway. */
  readonly #closing = new AbortController();
  #delivered = 0;
  #dropped = 0;
  /** Motion reports evicted by a full outbox (logged once when it starts). */
  #droppedMotion = 0;
  #failing = false;
  #lastError: string | undefined;

  constructor(options: OutboxOptions) {
    super();
    this.#options = options;
    this.#log = options.log;
  }

  get relinkNeeded(): boolean {
    return this.#options.store.getJson<string>(RELINK_KEY) !== undefined;
  }

  status(): OutboxStatus {
    const { count } = this.#options.store.db.prepare('SELECT COUNT(*) AS count FROM outbox').get() as { count: number };
    const relink = this.#options.store.getJson<string>(RELINK_KEY);
    return {
      queued: count,
      delivered: this.#delivered,
      dropped: this.#dropped,
      failing: this.#failing,
      relinkNeeded: relink !== undefined,
      ...((relink ?? this.#lastError) !== undefined && { lastError: relink ?? this.#lastError }),
    };
  }

  enqueue(event: AlexaEvent, options: EnqueueOptions = {}): void {
    const { db } = this.#options.store;
    const now = Date.now();
    const { messageId, name } = event.event.header;
    db.exec('BEGIN');
    try {
      if (options.coalesceKey) db.prepare('DELETE FROM outbox WHERE coalesce_key = ?').run(options.coalesceKey);
      db.prepare('INSERT INTO outbox (message_id, name, coalesce_key, body, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)')
        .run(messageId, name, options.coalesceKey ?? null, JSON.stringify(event), now, options.ttlMs === undefined ? null : now + options.ttlMs);
      this.#evictOverflow();
      db.exec('COMMIT');
    } catch (err) {
      db.exec('ROLLBACK');
      throw err;
    }
    this.#log.debug({ messageId, event: name }, 'event queued');
    this.#kick();
  }

  /**
   * Over capacity, what goes first is what matters least: motion ChangeReports, oldest first (a
   * flood of 1 500 motion lines once pushed a queued DoorbellPress out); then any other event but a
   * press or a health report. Presses and health reports are never evicted: they are few (debounced,
   * one per camera), and they expire or are replaced on their own.
   */
  #evictOverflow(): void {
    const { db } = this.#options.store;
    const max = this.#options.maxEntries ?? 1000;
    const { count } = db.prepare('SELECT COUNT(*) AS count FROM outbox').get() as { count: number };
    let excess = count - max;
    if (excess <= 0) return;
    const victims = [
      ...db.prepare(`SELECT id, name FROM outbox WHERE body LIKE '%"namespace":"Alexa.MotionSensor"%' ORDER BY id ASC LIMIT ?`).all(excess),
      ...db.prepare(`SELECT id, name FROM outbox WHERE name <> 'DoorbellPress' AND (coalesce_key IS NULL OR coalesce_key NOT LIKE 'health:%')
        AND body NOT LIKE '%"namespace":"Alexa.MotionSensor"%' ORDER BY id ASC LIMIT ?`).all(excess),
    ] as Array<{ id: number; name: string }>;
    let motion = 0;
    for (const row of victims) {
      if (excess <= 0) break;
      db.prepare('DELETE FROM outbox WHERE id = ?').run(row.id);
      this.#dropped += 1;
      excess -= 1;
      if (row.name === 'ChangeReport') motion += 1;
      else this.#log.warn({ event: row.name }, 'event outbox full: dropped the oldest event');
    }
    this.#droppedMotion += motion;
    if (motion > 0 && this.#droppedMotion === motion) this.#log.warn({ dropped: motion }, 'event outbox full: dropping the oldest motion reports (presses and health are kept)');
  }

  /** Starts delivering (what a previous run left, too). */
  start(): void {
    this.#started = true;
    this.#kick();
  }

  /** A new grant arrived: clear the re-link flag and deliver again. */
  relinked(): void {
    this.#options.store.delete(RELINK_KEY);
    this.#failing = false;
    this.#options.store.db.prepare('UPDATE outbox SET next_attempt_at = 0').run();
    this.#kick();
  }

  /** The event in flight, if any, stays queued for the next run. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#closing.abort();
    clearTimeout(this.#timer);
    await this.#pumping;
  }

  #kick(): void {
    if (!this.#started || this.#closed) return;
    if (this.#pumping) {
      this.#kickAgain = true;
      return;
    }
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#kickAgain = false;
    this.#pumping = this.#pump()
      .catch((err: unknown) => this.#log.error({ err }, 'event delivery failed unexpectedly'))
      .finally(() => {
        this.#pumping = undefined;
        if (this.#kickAgain) this.#kick();
      });
  }

  async #pump(): Promise<void> {
    const { db } = this.#options.store;
    while (!this.#closed && !this.relinkNeeded) {
      const row = db.prepare('SELECT id, message_id, name, body, expires_at, attempts, next_attempt_at FROM outbox ORDER BY id LIMIT 1').get() as Row | undefined;
      if (!row) return;
      const now = Date.now();
      if (row.expires_at !== null && row.expires_at <= now) {
        db.prepare('DELETE FROM outbox WHERE id = ?').run(row.id);
        this.#dropped += 1;
        this.#log.warn({ messageId: row.message_id, event: row.name }, 'event expired before Alexa could take it: dropped');
        continue;
      }
      if (row.next_attempt_at > now) {
        this.#timer = setTimeout(() => this.#kick(), row.next_attempt_at - now);
        return;
      }
      const outcome = await this.#send(JSON.parse(row.body) as AlexaEvent);
      if (outcome === 'stop' || this.#closed) return;
      this.#settle(row, outcome);
    }
  }

  /** One delivery attempt, refreshing the token once on a 401. */
  async #send(event: AlexaEvent): Promise<SendOutcome | 'stop'> {
    const { tokens, gatewayUrl } = this.#options;
    for (let attempt = 0; attempt < 2; attempt += 1) {
      let token: string;
      try {
        token = attempt === 0 ? await tokens.accessToken() : await tokens.refresh();
      } catch (err) {
        if (!(err instanceof LwaError)) throw err;
        if (err.code === 'NOT_LINKED' || err.code === 'NOT_CONFIGURED') return 'stop'; // waits for AcceptGrant
        if (err.code === 'INVALID_GRANT' || err.code === 'INVALID_CLIENT') return { kind: 'forbidden', reason: err.message };
        return { kind: 'retry', reason: err.message };
      }
      const outcome = await postEvent(gatewayUrl, withAccessToken(event, token), token, this.#options.requestTimeoutMs, this.#closing.signal);
      if (outcome.kind !== 'unauthorized' || attempt === 1) return outcome;
      this.#log.info('event gateway said 401: refreshing the access token once');
    }
    throw new Error('unreachable');
  }

  #settle(row: Row, outcome: SendOutcome): void {
    const { db } = this.#options.store;
    const log = this.#log.child({ messageId: row.message_id, event: row.name });
    switch (outcome.kind) {
      case 'accepted':
        db.prepare('DELETE FROM outbox WHERE id = ?').run(row.id);
        this.#delivered += 1;
        this.#failing = false;
        log.info({ attempts: row.attempts + 1 }, 'event delivered to Alexa');
        this.emit('delivered', row.message_id, row.name);
        return;
      case 'rejected':
        db.prepare('DELETE FROM outbox WHERE id = ?').run(row.id);
        this.#dropped += 1;
        this.#lastError = outcome.reason;
        log.error({ reason: outcome.reason }, 'Alexa refused the event: dropped (retrying would not help)');
        return;
      case 'forbidden':
        this.#options.store.setJson(RELINK_KEY, `Alexa refused porchlight's events (${outcome.reason}): disable and enable the skill in the Alexa app to link it again`);
        this.#failing = true;
        log.error({ reason: outcome.reason }, 'Alexa refused porchlight\'s events: the skill must be linked again; events are kept until then');
        this.emit('relinkNeeded', outcome.reason);
        return;
      case 'unauthorized':
      case 'retry': {
        const attempts = row.attempts + 1;
        const delay = retryWaitMs(attempts, this.#options.retry ?? ALEXA_BACKOFF, outcome.kind === 'retry' ? outcome.retryAfterMs : undefined);
        db.prepare('UPDATE outbox SET attempts = ?, next_attempt_at = ?, last_error = ? WHERE id = ?').run(attempts, Date.now() + delay, outcome.reason, row.id);
        this.#failing = true;
        this.#lastError = outcome.reason;
        log.warn({ reason: outcome.reason, attempts, retryInMs: delay }, 'event not delivered: will retry');
      }
    }
  }
}
