// Live updates: WebSocket /api/ws; the token is its first message (browsers cannot set headers).
import type { ConsoleStatus, WsHello } from './console-api.ts';
import type { ConsolePage, Ui } from './page.js';
import { renderStatus } from './status-view.js';
import { FIRST_RECONNECT_DELAY_MS, type ConsoleStore } from './store.js';

/** The WebSocket close code for a missing or wrong token (WS_UNAUTHORIZED in console-routes.ts). */
const WS_UNAUTHORIZED = 4401;
const MAX_RECONNECT_DELAY_MS = 15_000;

/** The pill in the header: live, reconnecting or offline. */
export function showLiveState(ui: Ui, text: string, className: string): void {
  ui.live.textContent = text;
  ui.live.className = `pill ${className}`.trim();
}

export function openLiveUpdates(page: ConsolePage): void {
  const { store, ui } = page;
  closeLiveUpdates(store);
  const url = new URL('/api/ws', location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(url);
  store.socket = ws;
  ws.addEventListener('open', () => {
    const hello: WsHello = { token: store.token ?? '' };
    ws.send(JSON.stringify(hello));
  });
  ws.addEventListener('message', (event) => {
    store.reconnectDelayMs = FIRST_RECONNECT_DELAY_MS;
    showLiveState(ui, 'live', 'ok');
    renderStatus(page, JSON.parse(String(event.data)) as ConsoleStatus);
  });
  ws.addEventListener('close', (event) => {
    if (store.socket !== ws) return;
    store.socket = undefined;
    if (event.code === WS_UNAUTHORIZED) return page.signOut('wrong token');
    showLiveState(ui, 'reconnecting', 'bad');
    store.reconnectTimer = setTimeout(() => openLiveUpdates(page), store.reconnectDelayMs);
    store.reconnectDelayMs = Math.min(store.reconnectDelayMs * 2, MAX_RECONNECT_DELAY_MS);
  });
}

export function closeLiveUpdates(store: ConsoleStore): void {
  clearTimeout(store.reconnectTimer);
  const ws = store.socket;
  store.socket = undefined;
  ws?.close();
}
