// The Alexa section: is Alexa reaching this bridge, and how its events are getting there.
import type { ChecklistItemView, OutboxView, RelayView } from './console-api.ts';
import { el } from './dom.js';
import type { Ui } from './page.js';

/** The bridge's side of `porchlight skill status`: each step with its fix. */
export function renderChecklist(ui: Ui, items: ChecklistItemView[]): void {
  ui.checklist.replaceChildren(...items.map((item) => el('li', { 'data-ok': String(item.ok), 'data-id': item.id }, item.what,
    ...(item.ok || !item.fix ? [] : [el('span', { class: 'fix' }, `→ ${item.fix}`)]))));
}

/** The event outbox to Alexa, and the relay when there is one. */
export function renderOutbox(ui: Ui, alexa: OutboxView, relay: RelayView | undefined): void {
  const facts: [string, string][] = alexa.configured
    ? [
        ['Linked', alexa.linked ? 'yes' : 'no: enable the skill in the Alexa app to link it'],
        ['Queued', String(alexa.queued)],
        ['Delivered', String(alexa.delivered)],
        ['Dropped', String(alexa.dropped)],
        ['Failing', alexa.failing ? `yes, retrying${alexa.lastError ? `: ${alexa.lastError}` : ''}` : 'no'],
        ['Re-link needed', alexa.relinkNeeded ? `YES: disable and enable the skill in the Alexa app${alexa.lastError ? ` (${alexa.lastError})` : ''}` : 'no'],
      ]
    : [['Events', 'off: porchlight skill setup gives the bridge the skill\'s event credentials (or set alexa.clientId and alexa.clientSecret)']];
  if (relay) {
    facts.push(['Relay', `${relay.state} (bridge id ${relay.bridgeId})${relay.lastError ? `: ${relay.lastError}` : ''}`]);
    facts.push(['Through the relay', `${relay.served} answered, ${relay.refused} refused`]);
  }
  ui.outbox.replaceChildren(...facts.flatMap(([term, value]) => [el('dt', {}, term), el('dd', {}, value)]));
}
