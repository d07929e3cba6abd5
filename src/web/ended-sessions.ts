// The recently ended sessions, under the live ones.
import type { EndedSessionView } from './console-api.ts';
import { el, type Item } from './dom.js';
import type { ConsolePage } from './page.js';

/** An ended session: when, and why (an ICE failure says what each side offered and what to add). */
export function endedRow(page: ConsolePage, first: EndedSessionView): Item<EndedSessionView> {
  const camera = el('strong');
  const when = el('span', { class: 'muted' });
  const outcome = el('span', { class: 'pill' });
  const detail = el('div', { class: 'error' });
  const root = el('li', { 'data-ended': first.id }, camera, when, outcome, detail);
  return {
    root,
    update(s) {
      camera.textContent = page.store.cameraName(s.camera);
      when.textContent = `ended ${new Date(s.endedAt).toLocaleTimeString()}`;
      outcome.textContent = s.outcome;
      outcome.className = `pill ${s.detail ? 'bad' : ''}`.trim();
      root.setAttribute('data-outcome', s.outcome);
      detail.textContent = s.detail ?? '';
      detail.hidden = !s.detail;
    },
  };
}
