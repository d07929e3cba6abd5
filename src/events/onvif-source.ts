import { EventEmitter } from 'node:events';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import onvif from 'onvif';
import type { Logger } from 'pino';
import { redactSecrets } from '../util/redact.ts';
import { OncePerCause } from '../util/once-per-cause.ts';
import { backoffDelayMs, CONNECTION_BACKOFF, type Backoff } from '../util/retry.ts';
import { classifyOnvifError, OnvifError } from './onvif-errors.ts';
import { fromParsedNotification, matchNotification, topicRules, topicSetNames, type CameraEventKind, type TopicOverrides, type TopicRule } from './onvif-topics.ts';

export interface OnvifTarget {
  /** The device service, without credentials: http://host[:port]/onvif/device_service. */
  url: string;
  username?: string;
  password?: string;
}

export interface OnvifSourceOptions {
  cameraId: string;
  target: OnvifTarget;
  topics?: TopicOverrides;
  log: Logger;
  /** One SOAP request other than PullMessages may take this long (default 10 s). */
  requestTimeoutMs?: number;
  /** Re-subscribing after a failure (default 1 s doubling to 60 s). */
  retry?: Backoff;
}

export type OnvifState = 'connecting' | 'subscribed' | 'failing' | 'closed';

export interface OnvifStatus {
  state: OnvifState;
  url: string;
  since: string;
  reason?: string;
  /** Camera clock minus ours, as GetSystemDateAndTime said. */
  clockOffsetMs?: number;
  events: number;
  failures: number;
}

export interface OnvifSourceEvents {
  /** `statesBothEdges`: ONVIF property events report motion ending as well as starting. */
  event: [kind: CameraEventKind, on: boolean];
  state: [state: OnvifState];
}

const REQUEST_TIMEOUT_MS = 10_000;
/** A camera that answers PullMessages at once with nothing is not allowed to make us spin. */
const MIN_PULL_INTERVAL_MS = 1000;
const UNSUBSCRIBE_TIMEOUT_MS = 1000;
const RENEW_MIN_MS = 2_000;
const RENEW_MAX_MS = 10 * 60_000;

type Callback = (err: Error | null, data?: any, xml?: string) => void;

/**
 * One camera's ONVIF events: GetSystemDateAndTime (WS-Security digests use the camera's clock),
 * GetCapabilities, GetEventProperties (its topics logged once), CreatePullPointSubscription,
 * then PullMessages long-polls with a Renew timer at half the lease. Any failure (camera reboot,
 * subscription gone, a fault) re-subscribes with backoff, 1 s doubling to 60 s. Built on the
 * `onvif` package; close() cuts a waiting PullMessages through the HTTP agent it owns.
 */
export class OnvifEventSource extends EventEmitter<OnvifSourceEvents> {
  readonly cameraId: string;
  readonly #options: OnvifSourceOptions;
  readonly #log: Logger;
  readonly #rules: TopicRule[];
  readonly #outage = new OncePerCause();
  readonly #unmatched = new OncePerCause(100);
  #state: OnvifState = 'connecting';
  #since = new Date();
  #reason: string | undefined;
  #clockOffsetMs: number | undefined;
  #topicsLogged = false;
  #attempt = 0;
  #events = 0;
  #failures = 0;
  #agent: HttpAgent | undefined;
  #cam: any;
  #running: Promise<void> | undefined;
  /** Ends the current subscription's wait (renew failed, or close). */
  #abort: ((err: Error) => void) | undefined;
  /** Wakes every sleep in progress (close). Each sleep owns its timer: a sleep left behind by an
   * aborted round must not cancel the next one's (it did, and the source never retried). */
  readonly #sleepers = new Set<() => void>();
  #renewTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: OnvifSourceOptions) {
    super();
    this.cameraId = options.cameraId;
    this.#options = options;
    this.#log = options.log;
    this.#rules = topicRules(options.topics);
  }

  start(): void {
    if (this.#running || this.#closed) return;
    this.#running = this.#run().catch((err: unknown) => this.#log.error({ err }, 'ONVIF event loop ended unexpectedly'));
  }

  status(): OnvifStatus {
    return {
      state: this.#state,
      url: this.#options.target.url,
      since: this.#since.toISOString(),
      ...(this.#reason && { reason: this.#reason }),
      ...(this.#clockOffsetMs !== undefined && { clockOffsetMs: this.#clockOffsetMs }),
      events: this.#events,
      failures: this.#failures,
    };
  }

  /** Idempotent: unsubscribes (briefly, best effort), cuts any waiting request, stops retrying. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#setState('closed');
    for (const wake of [...this.#sleepers]) wake();
    await this.#unsubscribe();
    this.#abort?.(new OnvifError('CLOSED', 'closed'));
    this.#endSession();
    await this.#running;
  }

  /**
   * Briefly, best effort, on an agent of its own: the loop, woken by close(), ends its session and
   * destroys the session's agent meanwhile, which cut the Unsubscribe of a source closed between
   * two pulls (the camera then kept the subscription until its lease ran out).
   */
  async #unsubscribe(): Promise<void> {
    const cam = this.#cam;
    const address = cam?.events?.subscription?.subscriptionReference?.address;
    if (!address) return;
    const agent = newAgent(this.#options.target.url);
    address.agent = agent;
    try {
      await Promise.race([this.#call(cam, 'unsubscribe', 'preserve').catch(() => {}), delay(UNSUBSCRIBE_TIMEOUT_MS)]);
    } finally {
      agent.destroy();
    }
  }

  async #run(): Promise<void> {
    while (!this.#closed) {
      try {
        await this.#subscribeAndPull();
      } catch (err) {
        if (this.#closed) break;
        this.#fail(err);
      } finally {
        this.#endSession();
      }
      if (this.#closed) break;
      this.#attempt += 1;
      await this.#sleep(backoffDelayMs(this.#attempt, this.#options.retry ?? CONNECTION_BACKOFF));
    }
  }

  async #subscribeAndPull(): Promise<void> {
    const target = new URL(this.#options.target.url);
    const secure = target.protocol === 'https:';
    // Our own agent: its sockets are the ones close() destroys.
    const agent = newAgent(this.#options.target.url);
    this.#agent = agent;
    const cam = new onvif.Cam({
      hostname: target.hostname.replace(/^\[|\]$/g, ''),
      port: target.port ? Number(target.port) : secure ? 443 : 80,
      path: target.pathname || '/onvif/device_service',
      ...(this.#options.target.username !== undefined && { username: this.#options.target.username }),
      ...(this.#options.target.password !== undefined && { password: this.#options.target.password }),
      timeout: this.#options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS,
      autoconnect: false,
      // Cameras often advertise service addresses they cannot be reached at (another
      // interface, a NAT): keep talking to the host and port the user configured.
      preserveAddress: true,
      useSecure: secure,
      // Cameras serve self-signed certificates; WS-Security digests never expose the password.
      secureOpts: { rejectUnauthorized: false },
      agent,
    });
    this.#cam = cam;
    const aborted = new Promise<never>((_, reject) => (this.#abort = reject));
    aborted.catch(() => {});
    const step = <T>(promise: Promise<T>) => Promise.race([promise, aborted]);

    this.#setState('connecting');
    const { data: cameraTime } = await step(this.#call(cam, 'getSystemDateAndTime'));
    if (cameraTime instanceof Date && !Number.isNaN(cameraTime.getTime())) this.#noteClock(cameraTime);
    await step(this.#call(cam, 'getCapabilities'));
    if (!cam.uri?.events) throw new OnvifError('NO_EVENT_SERVICE', 'the camera has no ONVIF event service (GetCapabilities lists none)');
    if (!this.#topicsLogged) await step(this.#logTopics(cam));
    const { data: subscription } = await step(this.#call(cam, 'createPullPointSubscription'));
    const address = cam.events?.subscription?.subscriptionReference?.address;
    if (!address) throw new OnvifError('BAD_RESPONSE', 'CreatePullPointSubscription gave no subscription address');
    // The package sends pull-point requests with the parsed address as request options: give
    // them our agent, so close() can cut a PullMessages that waits up to a minute.
    address.agent = agent;
    this.#attempt = 0;
    this.#outage.clear();
    this.#reason = undefined;
    this.#setState('subscribed');
    this.#log.info({ cameraId: this.cameraId, leaseSec: Math.round(leaseMs(subscription) / 1000) }, 'ONVIF events: subscribed');
    this.#scheduleRenew(cam, leaseMs(subscription));

    while (!this.#closed) {
      const started = Date.now();
      const { data } = await step(this.#call(cam, 'pullMessages', { messageLimit: 20 }));
      const messages = data?.notificationMessage === undefined ? [] : Array.isArray(data.notificationMessage) ? data.notificationMessage : [data.notificationMessage];
      for (const message of messages) this.#onNotification(message);
      // Paced whatever the answer: a camera answering at once with events, for ever, drove 7 927
      // pulls and 158 520 motion changes in 16 s before (it was paced only when empty).
      const elapsed = Date.now() - started;
      if (elapsed < MIN_PULL_INTERVAL_MS) await step(this.#sleep(MIN_PULL_INTERVAL_MS - elapsed));
    }
  }

  #scheduleRenew(cam: any, lease: number): void {
    clearTimeout(this.#renewTimer);
    this.#renewTimer = setTimeout(() => {
      this.#renewTimer = undefined;
      this.#call(cam, 'renew', {}).then(
        ({ data }) => {
          if (!this.#closed && this.#cam === cam) this.#scheduleRenew(cam, leaseMs(data, lease));
        },
        (err: unknown) => {
          // The subscription is gone (camera rebooted, lease lost): end this round, subscribe again.
          if (this.#cam === cam) this.#abort?.(err as Error);
        },
      );
    }, renewDelayMs(lease));
  }

  async #logTopics(cam: any): Promise<void> {
    try {
      const { data } = await this.#call(cam, 'getEventProperties');
      const topics = topicSetNames(data?.topicSet);
      this.#topicsLogged = true;
      this.#log.info({ cameraId: this.cameraId, topics }, 'ONVIF events: topics this camera offers (for onvif.doorbellTopic / motionTopic)');
    } catch (err) {
      // Some cameras do not implement it; subscribing may still work.
      this.#log.debug({ cameraId: this.cameraId, reason: classifyOnvifError(err).reason }, 'ONVIF GetEventProperties failed');
    }
  }

  #onNotification(raw: unknown): void {
    const notification = fromParsedNotification(raw);
    if (!notification) return;
    const matched = matchNotification(notification, this.#rules);
    if (!matched) {
      if (this.#unmatched.first(notification.topic)) this.#log.debug({ cameraId: this.cameraId, topic: notification.topic, data: notification.data }, 'ONVIF event with a topic porchlight does not use');
      return;
    }
    // A doorbell's Initialized state is the camera saying what it was at subscription time, not a press.
    if (matched.kind === 'doorbell' && matched.initialized) return;
    this.#events += 1;
    this.emit('event', matched.kind, matched.on);
  }

  #noteClock(cameraTime: Date): void {
    const offset = cameraTime.getTime() - Date.now();
    if (this.#clockOffsetMs === undefined || Math.abs(offset - this.#clockOffsetMs) > 5000) {
      if (Math.abs(offset) > 5000) this.#log.info({ cameraId: this.cameraId, clockOffsetSec: Math.round(offset / 1000) }, 'camera clock differs from ours: WS-Security uses the camera\'s');
    }
    this.#clockOffsetMs = offset;
  }

  #fail(err: unknown): void {
    const failure = classifyOnvifError(err);
    this.#failures += 1;
    this.#reason = failure.reason;
    this.#setState('failing');
    if (this.#outage.first(failure.code)) {
      this.#log.warn({ cameraId: this.cameraId, code: failure.code, reason: failure.reason, url: this.#options.target.url }, `ONVIF events: ${failure.reason}; retrying with backoff`);
    }
  }

  #endSession(): void {
    clearTimeout(this.#renewTimer);
    this.#renewTimer = undefined;
    this.#abort = undefined;
    this.#agent?.destroy();
    this.#agent = undefined;
  }

  #setState(state: OnvifState): void {
    if (this.#state === state || (this.#state === 'closed' && state !== 'closed')) return;
    this.#state = state;
    this.#since = new Date();
    this.emit('state', state);
  }

  #sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.#sleepers.add(wake);
    });
  }


  /** The package's callback API as a promise; the raw XML rides along on errors for classification. */
  #call(cam: any, method: string, ...args: unknown[]): Promise<{ data: any; xml?: string }> {
    return new Promise((resolve, reject) => {
      const callback: Callback = (err, data, xml) => {
        if (err) reject(Object.assign(err, { xml: typeof xml === 'string' ? redactSecrets(xml.slice(0, 2000)) : undefined }));
        else resolve({ data, ...(typeof xml === 'string' && { xml }) });
      };
      try {
        if (method === 'unsubscribe') cam.unsubscribe(callback, true);
        else cam[method](...args, callback);
      } catch (err) {
        reject(err);
      }
    });
  }
}

/**
 * When to renew: at half the lease, but between 2 s and 10 min whatever the camera says (a lease
 * until 2100 made half of it overflow Node's timer, which then fired every 1 ms: 6 894 renewals
 * in 15 s before).
 */
export function renewDelayMs(lease: number): number {
  return Math.min(RENEW_MAX_MS, Math.max(RENEW_MIN_MS, Math.floor(lease / 2)));
}

/** How long a subscription lives, from the camera's own CurrentTime and TerminationTime. */
function leaseMs(response: any, fallback = 60_000): number {
  const current = response?.currentTime;
  const termination = response?.terminationTime;
  if (current instanceof Date && termination instanceof Date) {
    const lease = termination.getTime() - current.getTime();
    if (Number.isFinite(lease) && lease > 0) return lease;
  }
  return fallback;
}

/** An agent of the source's own, so closing can destroy its sockets; cameras serve self-signed certificates. */
function newAgent(url: string): HttpAgent | HttpsAgent {
  return new URL(url).protocol === 'https:' ? new HttpsAgent({ keepAlive: false, rejectUnauthorized: false }) : new HttpAgent({ keepAlive: false });
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
