/**
 * What Alexa last did with this bridge, kept in the store so it survives restarts and
 * `porchlight skill status` can read it: the last directive and which way it came, the last
 * Discover and how many cameras it returned, the last AcceptGrant and whether it worked. These
 * are what tell a skill that never reaches the bridge from one that does.
 */
import type { CloudStore } from './store.ts';

export type DirectiveTransport = 'http' | 'relay';

export interface AlexaActivity {
  lastDirective?: { namespace: string; name: string; at: string; via: DirectiveTransport };
  lastDiscover?: { at: string; endpoints: number };
  lastAcceptGrant?: { at: string; ok: boolean; error?: string };
  /** The last event the gateway accepted. */
  lastEventAccepted?: { name: string; at: string };
}

const ACTIVITY_KEY = 'alexa.activity';

interface EventShape {
  event?: { header?: { namespace?: string; name?: string }; payload?: { endpoints?: unknown[]; type?: string; message?: string } };
  directive?: { header?: { namespace?: string; name?: string } };
}

export class AlexaActivityLog {
  readonly #store: CloudStore;
  readonly #now: () => Date;

  constructor(store: CloudStore, now: () => Date = () => new Date()) {
    this.#store = store;
    this.#now = now;
  }

  read(): AlexaActivity {
    return this.#store.getJson<AlexaActivity>(ACTIVITY_KEY) ?? {};
  }

  /** A directive Alexa sent (through the Lambda) and the bridge's reply to it. */
  directive(via: DirectiveTransport, directive: unknown, reply: unknown): void {
    const header = (directive as EventShape | undefined)?.directive?.header;
    if (typeof header?.namespace !== 'string' || typeof header.name !== 'string') return;
    const at = this.#now().toISOString();
    const activity = this.read();
    activity.lastDirective = { namespace: header.namespace, name: header.name, at, via };
    const answer = (reply as EventShape | undefined)?.event;
    if (header.namespace === 'Alexa.Discovery' && header.name === 'Discover' && answer?.header?.name === 'Discover.Response') {
      activity.lastDiscover = { at, endpoints: answer.payload?.endpoints?.length ?? 0 };
    }
    if (header.name === 'AcceptGrant') {
      const ok = answer?.header?.name === 'AcceptGrant.Response';
      activity.lastAcceptGrant = { at, ok, ...(!ok && { error: answer?.payload?.message ?? answer?.payload?.type ?? 'no answer' }) };
    }
    this.#store.setJson(ACTIVITY_KEY, activity);
  }

  eventAccepted(name: string): void {
    this.#store.setJson(ACTIVITY_KEY, { ...this.read(), lastEventAccepted: { name, at: this.#now().toISOString() } });
  }
}
