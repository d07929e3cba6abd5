import type { ApiClient } from './api-client.js';
import { byId } from './dom.js';
import type { ConsoleStore } from './store.js';

/** The page's fixed elements (index.html). */
export function findUi() {
  return {
    live: byId<HTMLSpanElement>('live'),
    logout: byId<HTMLButtonElement>('logout'),
    login: byId<HTMLElement>('login'),
    loginForm: byId<HTMLFormElement>('login-form'),
    token: byId<HTMLInputElement>('token'),
    loginError: byId<HTMLParagraphElement>('login-error'),
    console: byId<HTMLDivElement>('console'),
    notice: byId<HTMLParagraphElement>('notice'),
    viewer: byId<HTMLElement>('viewer'),
    viewerTitle: byId<HTMLHeadingElement>('viewer-title'),
    video: byId<HTMLVideoElement>('video'),
    viewerState: byId<HTMLSpanElement>('viewer-state'),
    sound: byId<HTMLButtonElement>('sound'),
    stop: byId<HTMLButtonElement>('stop'),
    cameras: byId<HTMLUListElement>('cameras'),
    sessions: byId<HTMLUListElement>('sessions'),
    noSessions: byId<HTMLParagraphElement>('no-sessions'),
    endedBox: byId<HTMLDetailsElement>('ended-box'),
    ended: byId<HTMLUListElement>('ended-sessions'),
    outbox: byId<HTMLElement>('outbox'),
    checklist: byId<HTMLElement>('alexa-checklist'),
  };
}

export type Ui = ReturnType<typeof findUi>;

/**
 * What the page's parts share: its elements, the store, the API, and the few things any part may
 * need done. There is one, made by console.ts; the other modules take it as an argument, and call
 * signing out through it rather than import console.ts (which imports them).
 */
export interface ConsolePage {
  readonly ui: Ui;
  readonly store: ConsoleStore;
  readonly api: ApiClient;
  /** Shows a message above the cameras for a while. */
  notify(text: string): void;
  /** A failed action: a refused token signs out, anything else is a notice. Callable unbound. */
  readonly showError: (err: unknown) => void;
  signOut(error?: string, forget?: boolean): void;
}
