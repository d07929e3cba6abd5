// The status on the page: every card and row, from /api/status or a live update.
import { renderChecklist, renderOutbox } from './alexa-card.js';
import { cameraCard } from './camera-cards.js';
import type { ConsoleStatus } from './console-api.ts';
import type { Item } from './dom.js';
import { endedRow } from './ended-sessions.js';
import type { ConsolePage } from './page.js';
import { sessionRow } from './session-rows.js';

export function renderStatus(page: ConsolePage, status: ConsoleStatus): void {
  const { ui, store } = page;
  store.status = status;
  sync(ui.cameras, store.cameraCards, status.cameras, (camera) => cameraCard(page, camera));
  sync(ui.sessions, store.sessionRows, status.sessions, (session) => sessionRow(page, session));
  ui.noSessions.hidden = status.sessions.length > 0;
  sync(ui.ended, store.endedRows, status.ended ?? [], (session) => endedRow(page, session));
  ui.endedBox.hidden = !status.ended?.length;
  renderOutbox(ui, status.alexa, status.relay);
  renderChecklist(ui, status.checklist ?? []);
}

/** Signing out: nothing of what the last token showed stays in the page. */
export function clearStatus(page: ConsolePage): void {
  const { ui, store } = page;
  store.status = undefined;
  for (const items of [store.cameraCards, store.sessionRows]) {
    for (const item of items.values()) item.root.remove();
    items.clear();
  }
  ui.outbox.replaceChildren();
  ui.checklist.replaceChildren();
}

/** Makes, updates and removes a list's items so that it shows `values`, in the server's order. */
function sync<T extends { id: string }>(list: HTMLElement, items: Map<string, Item<T>>, values: T[], make: (value: T) => Item<T>): void {
  const wanted = new Set(values.map((v) => v.id));
  for (const [id, item] of items) {
    if (!wanted.has(id)) {
      item.root.remove();
      items.delete(id);
    }
  }
  for (const value of values) {
    let item = items.get(value.id);
    if (!item) {
      item = make(value);
      items.set(value.id, item);
    }
    item.update(value);
    list.append(item.root); // keeps the server's order
  }
}
