/** The bridge's side of the Alexa checklist: each failure point named with its fix. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bridgeChecklist, type BridgeAlexaFacts } from '../../src/cloud/alexa-checklist.ts';

const NOW = new Date('2026-12-07T20:00:00Z');
const linked: BridgeAlexaFacts['events'] = { configured: true, linked: true, relinkNeeded: false };

function byId(facts: BridgeAlexaFacts) {
  return Object.fromEntries(bridgeChecklist(facts, NOW).map((item) => [item.id, item]));
}

test('a bridge Alexa never called: the region/trigger/enable hint; no credentials: run skill setup', () => {
  const items = byId({ activity: {}, events: { configured: false, linked: false, relinkNeeded: false } });
  assert.equal(items.directives!.ok, false);
  assert.match(items.directives!.fix!, /us-east-1.*eu-west-1.*us-west-2.*trigger.*Enable to use/);
  assert.match(items.linking!.fix!, /porchlight skill setup/);
  assert.equal(items.discovery!.ok, false);
});

test('a bridge that answered: when, which way, how many cameras, linked, events accepted', () => {
  const items = byId({
    activity: {
      lastDirective: { namespace: 'Alexa.Discovery', name: 'Discover', at: '2026-12-07T19:58:00Z', via: 'relay' },
      lastDiscover: { at: '2026-12-07T19:58:00Z', endpoints: 1 },
      lastAcceptGrant: { at: '2026-12-07T19:57:00Z', ok: true },
      lastEventAccepted: { name: 'ChangeReport', at: '2026-12-07T19:59:30Z' },
    },
    events: linked,
    relay: { state: 'connected' },
  });
  assert.ok(Object.values(items).every((item) => item.ok), JSON.stringify(items));
  assert.equal(items.directives!.what, 'Alexa last called this bridge 2 min ago (Alexa.Discovery Discover, via the relay)');
  assert.equal(items.discovery!.what, 'last Discover 2 min ago returned 1 camera');
  assert.equal(items.events!.what, 'Send Alexa Events: the gateway accepted ChangeReport 30 s ago');
});

test('failures: a relay that is down, an empty Discover, a failed AcceptGrant, a refused event token', () => {
  const items = byId({
    activity: { lastDiscover: { at: '2026-12-07T19:00:00Z', endpoints: 0 }, lastAcceptGrant: { at: '2026-12-07T19:00:00Z', ok: false, error: 'invalid_client' } },
    events: { configured: true, linked: false, relinkNeeded: false },
    relay: { state: 'connecting', lastError: 'the broker refused the subscription' },
  });
  assert.match(items.relay!.what, /relay connecting: the broker refused the subscription/);
  assert.match(items.discovery!.what, /returned no camera/);
  assert.match(items.linking!.what, /the last AcceptGrant failed: invalid_client/);
  const relink = byId({ activity: {}, events: { configured: true, linked: true, relinkNeeded: true, lastError: 'HTTP 403' } });
  assert.match(relink.linking!.fix!, /disable and enable the skill/);
});
