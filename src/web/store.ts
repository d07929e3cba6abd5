import type { CameraView, ConsoleStatus, EndedSessionView, SessionView } from './console-api.ts';
import type { Item } from './dom.js';
import type { Viewing } from './live-view.js';

/** The live updates' first reconnect delay, and where it starts again once a status arrives. */
export const FIRST_RECONNECT_DELAY_MS = 1000;

/**
 * Everything the console changes while it runs, in one object: console.ts makes it and hands it
 * to the page's parts, none of which keeps state of its own.
 */
export class ConsoleStore {
  /** The admin token in use; undefined when signed out. */
  token: string | undefined;
  /** The last status shown. */
  status: ConsoleStatus | undefined;
  /** This console's own live view, from Watch or Talk until Stop. */
  viewing: Viewing | undefined;
  /** Hides the notice a while after it was shown. */
  noticeTimer: number | undefined;
  /** The live updates' WebSocket, and the timer that opens the next one after it closed. */
  socket: WebSocket | undefined;
  reconnectTimer: number | undefined;
  reconnectDelayMs = FIRST_RECONNECT_DELAY_MS;
  /** What is on the page, by camera or session id. */
  readonly cameraCards = new Map<string, Item<CameraView>>();
  readonly sessionRows = new Map<string, Item<SessionView>>();
  readonly endedRows = new Map<string, Item<EndedSessionView>>();

  cameraName(id: string): string {
    return this.status?.cameras.find((c) => c.id === id)?.name ?? id;
  }
}
