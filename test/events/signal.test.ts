import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSignal } from '../../src/events/signal.ts';

test('on/off payloads as hubs send them', () => {
  const cases: Array<[string, boolean]> = [
    ['ON', true], ['off', false], ['On', true], [' OFF\n', false],
    ['true', true], ['false', false], ['1', true], ['0', false],
    ['pressed', true], ['PRESSED', true],
    ['{"state":"ON"}', true], ['{"State":"off"}', false],
    ['{"value":true}', true], ['{"value":0}', false],
    ['{"detected":true,"zone":"porch"}', true], ['{"DETECTED":"false"}', false],
    ['{"occupancy":true,"state":"ON"}', true],
  ];
  for (const [payload, on] of cases) {
    assert.deepEqual(parseSignal(payload), { ok: true, on }, payload);
    assert.deepEqual(parseSignal(Buffer.from(payload)), { ok: true, on }, `${payload} as bytes`);
  }
});

test('unreadable payloads say why, without echoing them', () => {
  const cases: Array<[string | Buffer, RegExp]> = [
    ['', /empty/],
    ['maybe', /not ON\/OFF/],
    ['2', /not ON\/OFF/],
    ['{"state":', /does not parse/],
    ['{"state":"sideways"}', /"state" is not an on\/off value/],
    ['{"temperature":21}', /no "state", "value" or "detected"/],
    ['[true]', /not ON\/OFF/],
    [Buffer.alloc(10_000, 0x41), /too long/],
  ];
  for (const [payload, reason] of cases) {
    const signal = parseSignal(payload);
    assert.equal(signal.ok, false, String(payload).slice(0, 20));
    if (!signal.ok) {
      assert.match(signal.reason, reason);
      assert.ok(signal.reason.length < 100);
    }
  }
});
