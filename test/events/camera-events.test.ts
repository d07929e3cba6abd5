import { afterEach, beforeEach, describe, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { CameraEvents, MOTION_MAX_MS, type MotionReading } from '../../src/events/camera-events.ts';

const HOLD_MS = 30_000;

describe('CameraEvents: motion state, holds, presses', () => {
  let events: CameraEvents;
  let changes: Array<[string, string]>;
  let presses: Array<[string, string]>;

  beforeEach(() => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'], now: Date.parse('2026-12-03T08:00:00Z') });
    events = new CameraEvents({
      cameras: [
        { id: 'door', kind: 'doorbell', motion: true },
        { id: 'yard', kind: 'camera', motion: true },
        { id: 'shed', kind: 'camera', motion: false },
      ],
      motionHoldMs: HOLD_MS,
      log: pino({ level: 'silent' }),
    });
    changes = [];
    presses = [];
    events.on('motion', (id, reading: MotionReading) => changes.push([id, reading.value]));
    events.on('press', (id, source) => presses.push([id, source]));
  });
  afterEach(() => {
    events.close();
    mock.timers.reset();
  });

  test('on → DETECTED, off → NOT_DETECTED, each once', () => {
    assert.equal(events.report('yard', 'motion', true, 'mqtt'), 'motion-changed');
    assert.equal(events.report('yard', 'motion', true, 'mqtt'), 'motion-unchanged');
    assert.equal(events.motion('yard')?.value, 'DETECTED');
    assert.equal(events.report('yard', 'motion', false, 'mqtt'), 'motion-changed');
    assert.deepEqual(changes, [['yard', 'DETECTED'], ['yard', 'NOT_DETECTED']]);
  });

  test('a source that never says "off" reverts after the hold; a repeated "on" restarts the hold and sends nothing', () => {
    events.report('yard', 'motion', true, 'http');
    mock.timers.tick(HOLD_MS - 1000);
    events.report('yard', 'motion', true, 'http');
    mock.timers.tick(HOLD_MS - 1000);
    assert.deepEqual(changes, [['yard', 'DETECTED']]);
    mock.timers.tick(1000);
    assert.deepEqual(changes, [['yard', 'DETECTED'], ['yard', 'NOT_DETECTED']]);
  });

  test('a source known to say "off" is not cut short by the hold, only by a lost "off" after MOTION_MAX_MS', () => {
    events.report('yard', 'motion', true, 'onvif', true);
    mock.timers.tick(HOLD_MS * 4);
    assert.equal(events.motion('yard')?.value, 'DETECTED');
    mock.timers.tick(MOTION_MAX_MS);
    assert.equal(events.motion('yard')?.value, 'NOT_DETECTED');
    // An MQTT source learns it: after its first "off", its "on" waits for the next "off".
    events.report('door', 'motion', false, 'mqtt');
    events.report('door', 'motion', true, 'mqtt');
    mock.timers.tick(HOLD_MS * 2);
    assert.equal(events.motion('door')?.value, 'DETECTED');
  });

  test('motion from two sources: DETECTED while either sees it', () => {
    events.report('yard', 'motion', true, 'onvif', true);
    events.report('yard', 'motion', true, 'mqtt');
    events.report('yard', 'motion', false, 'onvif', true);
    assert.equal(events.motion('yard')?.value, 'DETECTED');
    events.report('yard', 'motion', false, 'mqtt');
    assert.deepEqual(changes, [['yard', 'DETECTED'], ['yard', 'NOT_DETECTED']]);
  });

  test('presses: doorbells only, "off" is no press; every press is passed on (the cloud debounces)', () => {
    assert.equal(events.report('door', 'doorbell', true, 'onvif'), 'press');
    assert.equal(events.report('door', 'doorbell', false, 'onvif'), 'ignored');
    assert.equal(events.report('door', 'doorbell', true, 'mqtt'), 'press');
    assert.equal(events.report('yard', 'doorbell', true, 'mqtt'), 'not-a-doorbell');
    assert.deepEqual(presses, [['door', 'onvif'], ['door', 'mqtt']]);
  });

  test('a press from the API returns what its handler made of it; no press for a camera that is no doorbell', () => {
    const fates = ['queued', 'folded'] as const;
    let handled = 0;
    const withHandler = new CameraEvents({
      cameras: [{ id: 'door', kind: 'doorbell', motion: false }, { id: 'yard', kind: 'camera', motion: true }],
      motionHoldMs: HOLD_MS,
      log: pino({ level: 'silent' }),
      onPress: () => fates[handled++]!,
    });
    assert.equal(withHandler.press('door', 'http'), 'queued');
    assert.equal(withHandler.press('door', 'http'), 'folded');
    assert.equal(withHandler.press('yard', 'http'), 'not-a-doorbell');
    assert.equal(withHandler.press('gate', 'http'), 'unknown-camera');
    assert.equal(handled, 2);
    assert.equal(withHandler.recent('door').length, 2, 'remembered like any press');
    withHandler.close();
  });

  test('unknown cameras and cameras without a motion sensor are refused, with no state', () => {
    assert.equal(events.report('garage', 'motion', true, 'mqtt'), 'unknown-camera');
    assert.equal(events.report('shed', 'motion', true, 'mqtt'), 'no-motion-sensor');
    assert.equal(events.motion('shed'), undefined);
    assert.deepEqual(changes, []);
  });

  test('the last 20 events, newest first, and counts per camera, kind and source', () => {
    for (let i = 0; i < 25; i++) events.report('yard', 'motion', i % 2 === 0, 'mqtt');
    events.report('door', 'doorbell', true, 'http');
    const recent = events.recent('yard');
    assert.equal(recent.length, 20);
    assert.deepEqual(recent[0], { kind: 'motion', source: 'mqtt', value: 'on', at: '2026-12-03T08:00:00.000Z' });
    assert.deepEqual(events.counts().sort((a, b) => a.camera.localeCompare(b.camera)), [
      { camera: 'door', kind: 'doorbell', source: 'http', count: 1 },
      { camera: 'yard', kind: 'motion', source: 'mqtt', count: 25 },
    ]);
  });

  test('close() clears the hold timers: nothing fires afterwards', () => {
    events.report('yard', 'motion', true, 'http');
    events.close();
    mock.timers.tick(HOLD_MS * 2);
    assert.deepEqual(changes, [['yard', 'DETECTED']]);
  });
});

describe('CameraEvents.setCameras: a new camera list while running', () => {
  let events: CameraEvents;
  let changes: Array<[string, string]>;

  beforeEach(() => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'], now: Date.parse('2026-12-03T08:00:00Z') });
    events = new CameraEvents({
      cameras: [
        { id: 'door', kind: 'doorbell', motion: true },
        { id: 'yard', kind: 'camera', motion: true },
        { id: 'shed', kind: 'camera', motion: false },
      ],
      motionHoldMs: HOLD_MS,
      log: pino({ level: 'silent' }),
    });
    changes = [];
    events.on('motion', (id, reading: MotionReading) => changes.push([id, reading.value]));
  });
  afterEach(() => {
    events.close();
    mock.timers.reset();
  });

  test('a new camera starts NOT_DETECTED and is heard at once', () => {
    events.setCameras([
      { id: 'door', kind: 'doorbell', motion: true },
      { id: 'yard', kind: 'camera', motion: true },
      { id: 'shed', kind: 'camera', motion: false },
      { id: 'gate', kind: 'doorbell', motion: true },
    ]);
    assert.equal(events.motion('gate')?.value, 'NOT_DETECTED');
    assert.deepEqual(changes, [], 'adding says nothing');
    assert.equal(events.report('gate', 'doorbell', true, 'mqtt'), 'press');
    assert.equal(events.report('gate', 'motion', true, 'mqtt'), 'motion-changed');
    assert.deepEqual(changes, [['gate', 'DETECTED']]);
  });

  test('a removed camera is forgotten: hold cleared, no motion event afterwards, its state, events and counts gone', () => {
    events.report('yard', 'motion', true, 'http');
    events.report('door', 'doorbell', true, 'mqtt');
    events.setCameras([{ id: 'door', kind: 'doorbell', motion: true }, { id: 'shed', kind: 'camera', motion: false }]);
    mock.timers.tick(MOTION_MAX_MS * 2);
    assert.deepEqual(changes, [['yard', 'DETECTED']], 'nothing after the removal, not even the hold ending');
    assert.equal(events.motion('yard'), undefined);
    assert.deepEqual(events.recent('yard'), []);
    assert.equal(events.report('yard', 'motion', true, 'mqtt'), 'unknown-camera');
    assert.deepEqual(events.counts(), [{ camera: 'door', kind: 'doorbell', source: 'mqtt', count: 1 }]);
    // Added again: a camera like any new one.
    events.setCameras([{ id: 'yard', kind: 'camera', motion: true }]);
    assert.equal(events.motion('yard')?.value, 'NOT_DETECTED');
    assert.deepEqual(events.recent('yard'), []);
  });

  test('kind or motion changed: recent events kept, motion restarts (a DETECTED camera is told NOT_DETECTED), the old hold does not fire', () => {
    events.report('yard', 'motion', true, 'http');
    events.report('door', 'motion', true, 'onvif', true);
    events.report('door', 'doorbell', true, 'onvif');
    assert.equal(events.report('yard', 'doorbell', true, 'mqtt'), 'not-a-doorbell');
    mock.timers.tick(1000);
    events.setCameras([
      { id: 'door', kind: 'doorbell', motion: false },
      { id: 'yard', kind: 'doorbell', motion: true },
      { id: 'shed', kind: 'camera', motion: true },
    ]);
    assert.deepEqual(changes, [['yard', 'DETECTED'], ['door', 'DETECTED'], ['door', 'NOT_DETECTED'], ['yard', 'NOT_DETECTED']]);
    assert.equal(events.motion('yard')?.value, 'NOT_DETECTED');
    assert.equal(events.motion('yard')?.timeOfSample.toISOString(), '2026-12-03T08:00:01.000Z');
    assert.equal(events.motion('door'), undefined, 'no longer a motion sensor');
    assert.equal(events.motion('shed')?.value, 'NOT_DETECTED', 'a new motion sensor starts NOT_DETECTED, with no event');
    assert.equal(events.recent('yard').length, 1);
    assert.equal(events.recent('door').length, 2);
    assert.equal(events.report('yard', 'doorbell', true, 'mqtt'), 'press', 'now a doorbell');
    assert.equal(events.report('door', 'motion', true, 'mqtt'), 'no-motion-sensor');
    mock.timers.tick(MOTION_MAX_MS * 2);
    assert.equal(changes.length, 4, 'the holds of the old state fired nothing');
  });

  test('unchanged cameras are untouched, and the same list twice changes nothing', () => {
    const cameras = [
      { id: 'door', kind: 'doorbell' as const, motion: true },
      { id: 'yard', kind: 'camera' as const, motion: true },
    ];
    events.report('yard', 'motion', true, 'http');
    const reading = events.motion('yard');
    events.setCameras(cameras);
    events.setCameras(cameras);
    assert.deepEqual(events.motion('yard'), reading);
    assert.equal(events.recent('yard').length, 1);
    mock.timers.tick(HOLD_MS);
    assert.deepEqual(changes, [['yard', 'DETECTED'], ['yard', 'NOT_DETECTED']], 'its hold still ends its motion');
  });

  test('after close() a new list changes nothing and says nothing', () => {
    events.report('yard', 'motion', true, 'http');
    events.close();
    events.setCameras([{ id: 'yard', kind: 'doorbell', motion: true }, { id: 'gate', kind: 'camera', motion: true }]);
    assert.deepEqual(changes, [['yard', 'DETECTED']]);
    assert.equal(events.motion('gate'), undefined);
  });
});
