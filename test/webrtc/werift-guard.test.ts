import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { checkWeriftPatch, unpatchedWeriftMessage, WERIFT_PATCH_MARKERS } from '../../src/webrtc/werift-guard.ts';

test('the guard knows one marker per change the patch makes to the ESM bundle, taken from the patch itself', () => {
  const patch = readFileSync(new URL('../../patches/werift+0.25.2.patch', import.meta.url), 'utf8');
  const bundle = patch.split(/^diff --git /m).find((section) => section.startsWith('a/node_modules/werift/lib/index.mjs'));
  assert.ok(bundle, 'the patch changes lib/index.mjs');
  const added = bundle.split('\n').filter((line) => line.startsWith('+') && line.includes('porchlight patch'));
  const markers = added.map((line) => line.replace(/^\+\s*\/\/\s*/, ''));
  assert.deepEqual([...WERIFT_PATCH_MARKERS], markers);
});

test('the werift Node loads carries every change; a bundle missing one is named as such', () => {
  assert.deepEqual(checkWeriftPatch(), { patched: true, missing: [] });
  const source = readFileSync(new URL(import.meta.resolve('werift')), 'utf8');
  const partly = source.replace(WERIFT_PATCH_MARKERS[7], 'an unpatched line');
  const check = checkWeriftPatch(partly);
  assert.equal(check.patched, false);
  assert.deepEqual(check.missing, [WERIFT_PATCH_MARKERS[7]]);
  assert.match(unpatchedWeriftMessage(check), /1 of 14 changes missing/);
});
