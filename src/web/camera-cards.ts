// A card per camera: health, video, events, and the Watch, Talk and Ring buttons.
import type { CameraView } from './console-api.ts';
import { button, el, type Item } from './dom.js';
import { watch } from './live-view.js';
import type { ConsolePage } from './page.js';

export function cameraCard(page: ConsolePage, first: CameraView): Item<CameraView> {
  const id = first.id;
  const name = el('strong');
  const kind = el('span', { class: 'pill' });
  const health = el('span', { class: 'pill' });
  const video = el('div', { class: 'muted' });
  const reason = el('div', { class: 'error' });
  const eventLine = el('div', { class: 'muted', 'data-events': '' });
  const recent = el('ul', { class: 'muted recent-events' });
  const recentBox = el('details', {}, el('summary', {}, 'Recent events'), recent);
  const watchButton = button('Watch', () => watch(page, id, false), page.showError);
  const talkButton = button('Talk', () => watch(page, id, true), page.showError, 'quiet');
  const ringButton = button('Ring', async () => {
    const { status } = await page.api.request<{ status: string }>(`/api/cameras/${encodeURIComponent(id)}/doorbell`, { method: 'POST' });
    const cameraName = page.store.cameraName(id);
    page.notify(status === 'folded' ? `${cameraName}: pressed again within the debounce time, one press for Alexa` : `${cameraName}: DoorbellPress sent to Alexa`);
  }, page.showError, 'quiet');
  const root = el('li', { 'data-camera': id },
    el('div', { class: 'card-title' }, name, kind, health),
    video,
    eventLine,
    recentBox,
    reason,
    el('div', { class: 'actions' }, watchButton, talkButton, ringButton),
  );
  return {
    root,
    update(c) {
      name.textContent = c.name;
      kind.textContent = c.kind;
      health.textContent = c.connectivity === 'OK' ? 'OK' : c.connectivity === 'UNREACHABLE' ? 'unreachable' : 'checking…';
      health.className = `pill health ${c.connectivity === 'OK' ? 'ok' : c.connectivity === 'UNREACHABLE' ? 'bad' : ''}`.trim();
      health.setAttribute('data-health', c.connectivity);
      const facts = [
        c.codec && c.codec.toUpperCase(),
        c.width && c.height && `${c.width}×${c.height}`,
        c.plan,
        c.bitrateKbps !== undefined && `${c.bitrateKbps.toLocaleString()} kb/s`,
        c.stream,
        `${c.viewers} viewer${c.viewers === 1 ? '' : 's'}`,
      ].filter(Boolean);
      video.textContent = facts.join(' · ');
      const talk = c.talkback;
      reason.textContent = c.reason ?? (talk?.capability === 'unsupported' && talk.reason ? `talkback: ${talk.reason}` : '');
      reason.hidden = !reason.textContent;
      talkButton.hidden = !talk || talk.capability === 'unsupported';
      talkButton.title = talk?.talker ? 'someone is talking through this camera now' : '';
      ringButton.hidden = c.kind !== 'doorbell';
      renderEvents(c, eventLine, recentBox, recent);
    },
  };
}

/** Motion, each event source's state, and the last events (kind, source, time). */
function renderEvents(c: CameraView, line: HTMLElement, box: HTMLElement, list: HTMLElement): void {
  const events = c.events;
  line.hidden = !events;
  box.hidden = !events || events.recent.length === 0;
  if (!events) return;
  const parts = [
    events.motion && (events.motion === 'DETECTED' ? 'motion detected' : 'no motion'),
    ...events.sources.map((s) => `${s.name.toUpperCase()}: ${s.state}${s.reason ? ` (${s.reason})` : ''}`),
  ].filter(Boolean);
  line.textContent = parts.join(' · ');
  line.setAttribute('data-motion', events.motion ?? '');
  const rows = events.recent.map((e) => {
    const what = e.kind === 'doorbell' ? 'doorbell press' : `motion ${e.value}`;
    return el('li', {}, `${new Date(e.at).toLocaleTimeString()} ${what} via ${e.source}`);
  });
  list.replaceChildren(...rows);
}
