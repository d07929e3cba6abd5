import { createHash, randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { addOrUpdateReport, deleteReport, doorbellPress, healthChangeReport, motionChangeReport } from '../alexa/events.ts';
import type { AccountLinking, Connectivity, Detection } from '../alexa/ports.ts';
import type { Config } from '../config/schema.ts';
import { AlexaActivityLog, type AlexaActivity, type DirectiveTransport } from './alexa-activity.ts';
import { EVENT_GATEWAYS } from './event-gateway.ts';
import { MotionPacer } from './motion-pacer.ts';
import { LwaTokens } from './lwa.ts';
import { EventOutbox, type OutboxOptions, type OutboxStatus } from './outbox.ts';
import type { SignatureLedger } from '../signing/signature.ts';
import { StoredSignatureLedger } from './signature-ledger.ts';
import { CloudStore } from './store.ts';

export interface AlexaCloudOptions {
  dataDir: string;
  alexa: Config['alexa'];
  doorbellDebounceMs: number;
  /** The Discover.Response endpoints for the configured cameras, to keep Alexa's list in step. */
  currentEndpoints: () => Record<string, unknown>[];
  log: Logger;
  /** Retry and timeout timing of event delivery; tests shorten it, production keeps the defaults. */
  delivery?: EventDeliveryTiming;
}

export type EventDeliveryTiming = Pick<OutboxOptions, 'retry' | 'requestTimeoutMs'>;

export interface AlexaCloudStatus extends OutboxStatus {
  configured: boolean;
  linked: boolean;
}

const REPORTED_CONNECTIVITY = 'reported.connectivity';
const REPORTED_ENDPOINTS = 'reported.endpoints';
/** A doorbell press or motion delivered later than this would announce a visitor long gone. */
const MOMENTARY_TTL_MS = 5 * 60_000;

/**
 * Everything porchlight tells Alexa unprompted: health ChangeReports, doorbell presses and
 * discovery updates, through the durable outbox, with the tokens from AcceptGrant.
 */
export class AlexaCloud implements AccountLinking {
  readonly #store: CloudStore;
  readonly #tokens: LwaTokens;
  readonly #outbox: EventOutbox;
  readonly #options: AlexaCloudOptions;
  readonly #lastPress = new Map<string, number>();
  readonly #activity: AlexaActivityLog;
  readonly #motion: MotionPacer;
  #closed = false;

  constructor(options: AlexaCloudOptions) {
    this.#options = options;
    this.#store = CloudStore.open(options.dataDir);
    this.#tokens = new LwaTokens({
      store: this.#store,
      ...(options.alexa.clientId && { clientId: options.alexa.clientId }),
      ...(options.alexa.clientSecret && { clientSecret: options.alexa.clientSecret }),
      ...(options.alexa.lwaTokenUrl && { tokenUrl: options.alexa.lwaTokenUrl }),
      log: options.log,
    });
    this.#outbox = new EventOutbox({
      store: this.#store,
      tokens: this.#tokens,
      gatewayUrl: options.alexa.eventGatewayUrl ?? EVENT_GATEWAYS[options.alexa.region],
      log: options.log,
      ...options.delivery,
    });
    this.#activity = new AlexaActivityLog(this.#store);
    this.#motion = new MotionPacer({
      send: (endpointId, value, timeOfSample) => {
        if (!this.#closed) this.#outbox.enqueue(motionChangeReport(randomUUID(), endpointId, value, timeOfSample), value === 'DETECTED' ? { ttlMs: MOMENTARY_TTL_MS } : {});
      },
    });
    this.#outbox.on('delivered', (_messageId, name) => this.#activity.eventAccepted(name));
  }

  /** A directive that came from Alexa (through the Lambda) and its reply: kept for `skill status` and the console. */
  noteDirective(via: DirectiveTransport, directive: unknown, reply: unknown): void {
    if (!this.#closed) this.#activity.directive(via, directive, reply);
  }

  activity(): AlexaActivity {
    return this.#activity.read();
  }

  /** Starts delivering what is queued and brings Alexa's endpoint list up to date. */
  start(): void {
    if (!this.#tokens.configured) {
      this.#options.log.info('alexa.clientId/clientSecret not set: porchlight will not send events (doorbell presses, health changes) to Alexa');
      return;
    }
    if (this.#tokens.linked) this.#syncDiscovery();
    this.#outbox.start();
  }

  async acceptGrant(code: string): Promise<void> {
    await this.#tokens.exchange(code);
    // Alexa runs discovery itself after linking: what it will learn is the new baseline.
    this.#store.setJson(REPORTED_ENDPOINTS, fingerprints(this.#options.currentEndpoints()));
    this.#outbox.relinked();
  }

  /** The cameras changed while running: Alexa is told what was added, changed or removed (when linked). */
  endpointsChanged(): void {
    if (!this.#tokens.configured || !this.#tokens.linked || this.#closed) return;
    this.#syncDiscovery();
  }

  /** Tells Alexa a camera's connectivity when it differs from what Alexa was last told. */
  reportConnectivity(endpointId: string, value: Connectivity, timeOfSample: Date): void {
    if (!this.#tokens.configured || this.#closed) return;
    const reported = this.#store.getJson<Record<string, Connectivity>>(REPORTED_CONNECTIVITY) ?? {};
    if (reported[endpointId] === value) return;
    this.#outbox.enqueue(healthChangeReport(randomUUID(), endpointId, value, timeOfSample), { coalesceKey: `health:${endpointId}` });
    this.#store.setJson(REPORTED_CONNECTIVITY, { ...reported, [endpointId]: value });
  }

  /**
   * Queues a MotionSensor ChangeReport. Not coalesced: a routine listens for DETECTED, so an
   * on-then-off pair must both reach Alexa; a DETECTED hours late would start a routine for
   * nothing, so it expires like a press.
   */
  reportMotion(endpointId: string, value: Detection, timeOfSample: Date): 'queued' | 'not-configured' {
    if (!this.#tokens.configured || this.#closed) return 'not-configured';
    // At most one transition per camera per second; the last state wins.
    this.#motion.report(endpointId, value, timeOfSample);
    return 'queued';
  }

  /** Queues a DoorbellPress; presses within the debounce window are one press. */
  pressDoorbell(endpointId: string, pressedAt = new Date()): 'queued' | 'folded' | 'not-configured' {
    if (!this.#tokens.configured) return 'not-configured';
    const last = this.#lastPress.get(endpointId);
    if (last !== undefined && pressedAt.getTime() - last < this.#options.doorbellDebounceMs) return 'folded';
    this.#lastPress.set(endpointId, pressedAt.getTime());
    this.#outbox.enqueue(doorbellPress(randomUUID(), endpointId, pressedAt), { ttlMs: MOMENTARY_TTL_MS });
    return 'queued';
  }

  status(): AlexaCloudStatus {
    return { configured: this.#tokens.configured, linked: this.#tokens.linked, ...this.#outbox.status() };
  }

  get outbox(): EventOutbox {
    return this.#outbox;
  }

  /** Proxy signatures seen within the window, in the same store: replays stay refused after a restart. */
  signatureLedger(): SignatureLedger {
    return new StoredSignatureLedger(this.#store);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#motion.close();
    await this.#outbox.close();
    this.#store.close();
  }

  /** AddOrUpdateReport for new or changed cameras, DeleteReport for removed ones. */
  #syncDiscovery(): void {
    const endpoints = this.#options.currentEndpoints();
    const current = fingerprints(endpoints);
    const reported = this.#store.getJson<Record<string, string>>(REPORTED_ENDPOINTS) ?? {};
    const changed = endpoints.filter((endpoint) => reported[endpoint.endpointId as string] !== current[endpoint.endpointId as string]);
    const removed = Object.keys(reported).filter((id) => !(id in current));
    if (changed.length > 0) this.#outbox.enqueue(addOrUpdateReport(randomUUID(), changed), { coalesceKey: 'discovery:add' });
    if (removed.length > 0) this.#outbox.enqueue(deleteReport(randomUUID(), removed));
    if (changed.length > 0 || removed.length > 0) {
      this.#options.log.info({ addedOrChanged: changed.map((e) => e.endpointId), removed }, 'telling Alexa about changed cameras');
      this.#store.setJson(REPORTED_ENDPOINTS, current);
    }
  }
}

/** A digest per endpoint, to notice a renamed camera or a changed capability. */
function fingerprints(endpoints: Record<string, unknown>[]): Record<string, string> {
  return Object.fromEntries(
    endpoints.map((endpoint) => {
      // The software version changes with every upgrade; that alone is no reason to tell Alexa.
      const attributes = { ...(endpoint.additionalAttributes as Record<string, unknown> | undefined), softwareVersion: undefined };
      const digest = createHash('sha256').update(JSON.stringify({ ...endpoint, additionalAttributes: attributes })).digest('hex').slice(0, 16);
      return [endpoint.endpointId as string, digest];
    }),
  );
}
