/**
 * The "is Alexa reaching this bridge?" checklist, from what the bridge itself knows: the relay,
 * Alexa's last call and Discover, account linking, and events. Each item says what is wrong and
 * the one thing to do about it. Pure; `porchlight skill status` adds the cloud side before it,
 * the console shows it as its Alexa card.
 */
import type { AlexaActivity } from './alexa-activity.ts';

export interface ChecklistItem {
  /** Stable, for scripts (`skill status --json`). */
  id: string;
  ok: boolean;
  what: string;
  /** The one fix, when not ok. */
  fix?: string;
}

export interface BridgeAlexaFacts {
  activity: AlexaActivity;
  events: { configured: boolean; linked: boolean; relinkNeeded: boolean; lastError?: string };
  relay?: { state: string; lastError?: string };
}

export const NEVER_CALLED_FIX = 'Alexa only calls a function in the region of your Alexa account (us-east-1 North America, eu-west-1 Europe/India, us-west-2 Far East), '
  + 'through the function\'s Alexa Smart Home trigger naming this skill, once the skill is enabled: Alexa app → More → Skills & Games → Your Skills → Dev → porchlight → Enable to use';

export function ago(at: string, now: Date): string {
  const seconds = Math.max(0, Math.round((now.getTime() - Date.parse(at)) / 1000));
  if (seconds < 90) return `${seconds} s ago`;
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 36 * 3600) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86400)} days ago`;
}

export function bridgeChecklist(facts: BridgeAlexaFacts, now = new Date()): ChecklistItem[] {
  const items: ChecklistItem[] = [];
  const { activity, events, relay } = facts;
  if (relay) {
    items.push(relay.state === 'connected'
      ? { id: 'relay', ok: true, what: 'relay connected to the broker' }
      : { id: 'relay', ok: false, what: `relay ${relay.state}${relay.lastError ? `: ${relay.lastError}` : ''}`, fix: 'check relay.url and the certificate files (porchlight skill setup or relay setup makes them), and that the bridge can reach port 8883' });
  }
  const last = activity.lastDirective;
  items.push(last
    ? { id: 'directives', ok: true, what: `Alexa last called this bridge ${ago(last.at, now)} (${last.namespace} ${last.name}, via ${last.via === 'relay' ? 'the relay' : 'HTTP'})` }
    : { id: 'directives', ok: false, what: 'Alexa has never called this bridge', fix: NEVER_CALLED_FIX });
  const discover = activity.lastDiscover;
  if (!discover) {
    items.push({ id: 'discovery', ok: false, what: 'Alexa has not discovered the cameras yet', fix: 'enable the skill in the Alexa app (it discovers when linked), or say "Alexa, discover devices"' });
  } else {
    items.push(discover.endpoints > 0
      ? { id: 'discovery', ok: true, what: `last Discover ${ago(discover.at, now)} returned ${discover.endpoints} camera${discover.endpoints === 1 ? '' : 's'}` }
      : { id: 'discovery', ok: false, what: `last Discover ${ago(discover.at, now)} returned no camera`, fix: 'add cameras to the configuration, then say "Alexa, discover devices"' });
  }
  const grant = activity.lastAcceptGrant;
  if (!events.configured) {
    items.push({ id: 'linking', ok: false, what: 'the bridge has no skill event credentials (alexa.clientId/clientSecret)', fix: 'run porchlight skill setup (it stores them in secrets.json), then restart the bridge' });
  } else if (events.relinkNeeded) {
    items.push({ id: 'linking', ok: false, what: `Alexa refused the bridge's event token${events.lastError ? ` (${events.lastError})` : ''}`, fix: 'disable and enable the skill in the Alexa app to link it again' });
  } else if (events.linked) {
    items.push({ id: 'linking', ok: true, what: `account linked${grant ? ` (AcceptGrant ${ago(grant.at, now)})` : ''}` });
  } else if (grant && !grant.ok) {
    items.push({ id: 'linking', ok: false, what: `the last AcceptGrant failed: ${grant.error ?? 'no reason'}`, fix: 'check that alexa.clientId/clientSecret are this skill\'s Alexa Skill Messaging pair (porchlight skill setup writes them), restart, then disable and enable the skill in the Alexa app' });
  } else {
    items.push({ id: 'linking', ok: false, what: 'account not linked (no AcceptGrant received)', fix: 'enable the skill in the Alexa app: Alexa app → More → Skills & Games → Your Skills → Dev → porchlight → Enable to use' });
  }
  const accepted = activity.lastEventAccepted;
  if (events.lastError && !events.relinkNeeded) {
    items.push({ id: 'events', ok: false, what: `Send Alexa Events: the last event failed (${events.lastError})`, fix: 'the skill needs the "Send Alexa Events" permission (alexa::async_event:write; porchlight skill setup sets it) and a linked account' });
  } else if (accepted) {
    items.push({ id: 'events', ok: true, what: `Send Alexa Events: the gateway accepted ${accepted.name} ${ago(accepted.at, now)}` });
  } else {
    items.push({ id: 'events', ok: events.configured && events.linked, what: 'Send Alexa Events: no event sent yet', ...(!(events.configured && events.linked) && { fix: 'events start once the account is linked' }) });
  }
  return items;
}
