// A row per live session, whether Alexa's or a console's, with its Hang up button.
import type { SessionView } from './console-api.ts';
import { button, bytes, el, since, type Item } from './dom.js';
import { stopWatching } from './live-view.js';
import type { ConsolePage } from './page.js';

export function sessionRow(page: ConsolePage, first: SessionView): Item<SessionView> {
  const { store } = page;
  const camera = el('strong');
  const when = el('span', { class: 'muted' });
  const state = el('span', { class: 'pill' });
  const sent = el('span');
  const origin = el('span', { class: 'pill' });
  const hangUp = button('Hang up', async () => {
    // This console's own live view: stopped as Stop does it, which hangs up as well.
    if (store.viewing?.sessionId === first.id) return stopWatching(page);
    await page.api.hangUp(first.id);
  }, page.showError, 'quiet');
  const root = el('li', { 'data-session': first.id }, camera, when, state, sent, origin, hangUp);
  return {
    root,
    update(s) {
      camera.textContent = store.cameraName(s.camera);
      when.textContent = `since ${since(s.since)}`;
      state.textContent = s.state;
      state.className = `pill ${s.state === 'connected' ? 'ok' : ''}`.trim();
      sent.textContent = bytes(s.bytesSent);
      origin.textContent = s.origin === 'console' ? (store.viewing?.sessionId === s.id ? 'this console' : 'console') : 'Alexa';
      root.setAttribute('data-origin', s.origin);
    },
  };
}
