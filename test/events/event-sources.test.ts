import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import type { CameraConfig, MqttConfig } from '../../src/config/schema.ts';
import { CameraEvents, type EventSourceName } from '../../src/events/camera-events.ts';
import { EventSources, hasMotion, onvifTarget } from '../../src/events/event-sources.ts';
import { startFakeOnvifCamera, type FakeOnvifCamera } from '../fixtures/fake-onvif-camera.ts';
import { startMosquitto, type Mosquitto } from '../fixtures/mosquitto.ts';
import { until } from '../helpers/until.ts';

test('onvif: true → the device service on port 80 of the RTSP host, with the RTSP credentials', () => {
  assert.deepEqual(onvifTarget({ url: 'rtsp://admin:p%40ss%3Aword@192.168.1.20:554/stream1', onvif: true }), {
    url: 'http://192.168.1.20/onvif/device_service',
    username: 'admin',
    password: 'p@ss:word',
  });
  assert.deepEqual(onvifTarget({ url: 'rtsp://[fd00::20]:554/s', onvif: true }), { url: 'http://[fd00::20]/onvif/device_service' });
});

test('onvif: { url, username, password } overrides each part; the rest still comes from the RTSP URL', () => {
  assert.deepEqual(onvifTarget({ url: 'rtsp://admin:secret@cam.lan/s', onvif: { url: 'http://cam.lan:8000/onvif/device_service' } }), {
    url: 'http://cam.lan:8000/onvif/device_service',
    username: 'admin',
    password: 'secret',
  });
  assert.deepEqual(onvifTarget({ url: 'rtsp://admin:secret@cam.lan/s', onvif: { username: 'events', password: 'other' } }), {
    url: 'http://cam.lan/onvif/device_service',
    username: 'events',
    password: 'other',
  });
  assert.deepEqual(onvifTarget({ url: 'file:/clips/x.mp4', onvif: { url: 'http://127.0.0.1:8080/onvif/device_service' } }), {
    url: 'http://127.0.0.1:8080/onvif/device_service',
  });
  assert.equal(onvifTarget({ url: 'rtsp://cam.lan/s', onvif: false }), undefined);
  assert.equal(onvifTarget({ url: 'rtsp://cam.lan/s' }), undefined);
});

test('a camera is a motion sensor when it says so, else when it has a motion source', () => {
  const mqtt = { url: 'mqtt://broker', topicPrefix: 'porchlight' };
  assert.equal(hasMotion({}, undefined), false);
  assert.equal(hasMotion({ onvif: true }, undefined), true);
  assert.equal(hasMotion({}, mqtt), true);
  assert.equal(hasMotion({ motion: false, onvif: true }, mqtt), false);
  assert.equal(hasMotion({ motion: true }, undefined), true);
});

const VISITOR = 'tns1:RuleEngine/MyRuleDetector/Visitor';
const MOTION = 'tns1:RuleEngine/CellMotionDetector/Motion';
const FAST_RETRY = { initialMs: 100, maxMs: 500 };
const silent = pino({ level: 'silent' });

function camera(id: string, settings: Partial<CameraConfig> = {}): CameraConfig {
  return { id, name: id, kind: 'camera', url: 'file:/clips/demo.mp4', talkback: 'none', transcode: 'auto', preload: false, ...settings };
}

function onvifOf(fake: FakeOnvifCamera, password = 'onvif-secret'): CameraConfig['onvif'] {
  return { url: fake.url, username: 'admin', password };
}

const count = (fake: FakeOnvifCamera, operation: string) => fake.requests.filter((r) => r.operation === operation).length;

/** CameraEvents and EventSources as the app builds them, with what CameraEvents hears. */
function eventsFor(cameras: CameraConfig[], mqtt: MqttConfig | undefined) {
  const eventCameras = (list: CameraConfig[], broker: MqttConfig | undefined) => list.map((c) => ({ id: c.id, kind: c.kind, motion: hasMotion(c, broker) }));
  const events = new CameraEvents({ cameras: eventCameras(cameras, mqtt), motionHoldMs: 30_000, log: silent });
  const sources = new EventSources({ cameras, mqtt, events, log: silent, retry: FAST_RETRY });
  const heard: Array<{ cameraId: string; what: 'press' | 'DETECTED' | 'NOT_DETECTED'; source?: EventSourceName }> = [];
  events.on('press', (cameraId, source) => heard.push({ cameraId, what: 'press', source }));
  events.on('motion', (cameraId, reading) => heard.push({ cameraId, what: reading.value }));
  return {
    events,
    sources,
    heard,
    /** What the app does with a new list: CameraEvents first, then the sources. */
    apply: (list: CameraConfig[], broker: MqttConfig | undefined) => {
      events.setCameras(eventCameras(list, broker));
      return sources.setCameras(list, broker);
    },
    close: async () => {
      await sources.close();
      events.close();
    },
  };
}

describe('EventSources.setCameras: ONVIF subscriptions follow the camera list', () => {
  let door: FakeOnvifCamera;
  let yard: FakeOnvifCamera;
  let porch: FakeOnvifCamera;
  let gate: FakeOnvifCamera;

  before(async () => {
    [door, yard, porch, gate] = await Promise.all([
      startFakeOnvifCamera(),
      startFakeOnvifCamera(),
      startFakeOnvifCamera({ password: 'the-real-password' }),
      startFakeOnvifCamera(),
    ]);
  });
  after(async () => {
    await Promise.all([door, yard, porch, gate].map((fake) => fake?.close()));
  });

  test('unchanged: the same source, never re-subscribed; removed: unsubscribed and silent; changed: replaced, failures carried; new: its presses arrive', async () => {
    const bridge = eventsFor([
      camera('door', { kind: 'doorbell', onvif: onvifOf(door) }),
      camera('yard', { onvif: onvifOf(yard) }),
      camera('porch', { kind: 'doorbell', onvif: onvifOf(porch, 'a-wrong-password') }),
    ], undefined);
    const { sources, heard } = bridge;
    try {
      sources.start();
      await until('door and yard subscribed, porch refused twice', () =>
        sources.onvifStatus('door')?.state === 'subscribed' && sources.onvifStatus('yard')?.state === 'subscribed' && sources.onvifStatus('porch')!.failures >= 2, 10_000);
      // Just answered, yard's source is pacing its next pull when it is removed: it must still unsubscribe.
      yard.emit(MOTION, { IsMotion: 'true' });
      await until('yard\'s motion heard', () => heard.some((e) => e.cameraId === 'yard' && e.what === 'DETECTED'), 5000);
      const doorSource = sources.onvifSource('door');
      const porchFailures = sources.failures().find((row) => row.camera === 'porch')!.failures;

      const next = [
        camera('door', { kind: 'doorbell', onvif: onvifOf(door) }),
        camera('porch', { kind: 'doorbell', onvif: onvifOf(porch, 'the-real-password') }),
        camera('gate', { kind: 'doorbell', onvif: onvifOf(gate) }),
      ];
      await bridge.apply(next, undefined);

      assert.equal(sources.onvifSource('door'), doorSource, 'the unchanged camera keeps its source');
      assert.equal(sources.onvifSource('yard'), undefined);
      assert.equal(count(yard, 'Unsubscribe'), 1, 'the removed camera unsubscribed');
      assert.equal(yard.subscriptionCount(), 0);
      assert.ok(sources.failures().find((row) => row.camera === 'porch')!.failures >= porchFailures, 'the replaced camera\'s failures do not go backwards');
      assert.deepEqual(sources.sourcesOf('yard'), []);
      assert.deepEqual(sources.sourcesOf('gate'), ['onvif']);
      await until('porch and gate subscribed', () => sources.onvifStatus('porch')?.state === 'subscribed' && sources.onvifStatus('gate')?.state === 'subscribed', 10_000);

      yard.emit(MOTION, { IsMotion: 'false' });
      gate.emit(VISITOR, { State: 'true' });
      porch.emit(VISITOR, { State: 'true' });
      door.emit(VISITOR, { State: 'true' });
      await until('presses from gate, porch and door', () => ['gate', 'porch', 'door'].every((id) => heard.some((e) => e.cameraId === id && e.what === 'press')), 5000);
      assert.deepEqual(heard.filter((e) => e.cameraId === 'yard').map((e) => e.what), ['DETECTED'], 'nothing from the removed camera since');
      assert.equal(count(door, 'CreatePullPointSubscription'), 1, 'the unchanged camera was never subscribed again');
      assert.equal(count(door, 'Unsubscribe'), 0);

      // The same list again: nothing replaced.
      const [porchSource, gateSource] = [sources.onvifSource('porch'), sources.onvifSource('gate')];
      await bridge.apply(next, undefined);
      assert.equal(sources.onvifSource('porch'), porchSource);
      assert.equal(sources.onvifSource('gate'), gateSource);
      assert.equal(sources.onvifSource('door'), doorSource);
    } finally {
      await bridge.close();
    }
    assert.equal(count(door, 'Unsubscribe'), 1, 'close() still unsubscribes every camera');
    assert.equal(gate.subscriptionCount() + porch.subscriptionCount() + door.subscriptionCount(), 0);
  });

  test('before start(), a new camera\'s source waits for start()', async () => {
    const bridge = eventsFor([camera('door', { kind: 'doorbell', onvif: onvifOf(door) })], undefined);
    const gateRequests = gate.requests.length;
    try {
      await bridge.apply([camera('gate', { kind: 'doorbell', onvif: onvifOf(gate) })], undefined);
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(gate.requests.length, gateRequests, 'not started');
      bridge.sources.start();
      await until('gate subscribed once started', () => bridge.sources.onvifStatus('gate')?.state === 'subscribed', 10_000);
    } finally {
      await bridge.close();
    }
  });
});

describe('EventSources.setCameras: the MQTT client is rebuilt only when what it listens to changed', () => {
  let broker: Mosquitto;
  let yard: FakeOnvifCamera;

  before(async () => {
    [broker, yard] = await Promise.all([startMosquitto(), startFakeOnvifCamera()]);
  });
  after(async () => {
    await Promise.all([broker?.close(), yard?.close()]);
  });

  test('an ONVIF-only change keeps the client; a new route reconnects it, and the new camera\'s topic is heard', async () => {
    const mqtt: MqttConfig = { url: broker.url, username: broker.username, password: broker.password, topicPrefix: 'porchlight' };
    const first = [camera('front', { kind: 'doorbell' }), camera('yard', { onvif: onvifOf(yard) })];
    const bridge = eventsFor(first, mqtt);
    const { sources, heard } = bridge;
    try {
      sources.start();
      await until('MQTT connected, yard subscribed', () => sources.mqttStatus()?.state === 'connected' && sources.onvifStatus('yard')?.state === 'subscribed', 10_000);
      const client = sources.mqttSource();
      const since = sources.mqttStatus()!.since;

      // Only yard's ONVIF topics change: its subscription is replaced, the MQTT client is not.
      const onvifOnly = [camera('front', { kind: 'doorbell' }), camera('yard', { onvif: { ...onvifOf(yard) as object, motionTopic: 'tns1:VideoSource/MotionAlarm' } })];
      const yardSource = sources.onvifSource('yard');
      await bridge.apply(onvifOnly, mqtt);
      assert.notEqual(sources.onvifSource('yard'), yardSource, 'yard\'s ONVIF source replaced');
      assert.equal(count(yard, 'Unsubscribe'), 1);
      assert.equal(sources.mqttSource(), client, 'the same MQTT client');
      assert.equal(sources.mqttStatus()!.state, 'connected');
      assert.equal(sources.mqttStatus()!.since, since, 'never reconnected');
      // Reordered, it routes the same: still the same client.
      await bridge.apply([...onvifOnly].reverse(), mqtt);
      assert.equal(sources.mqttSource(), client);

      // A new doorbell with a topic of its own: a new client that listens to it.
      const withGate = [...onvifOnly, camera('gate', { kind: 'doorbell', mqtt: { doorbellTopic: 'hass/gate/pressed' } })];
      await bridge.apply(withGate, mqtt);
      assert.notEqual(sources.mqttSource(), client, 'a new MQTT client');
      assert.equal(client!.status().state, 'closed', 'the old one closed');
      await until('the new client connected', () => sources.mqttStatus()?.state === 'connected', 10_000);
      assert.ok(sources.mqttStatus()!.topics.includes('hass/gate/pressed'));
      await broker.publish('hass/gate/pressed', 'ON');
      await broker.publish('porchlight/front/doorbell', 'ON');
      await until('presses from gate and front', () => ['gate', 'front'].every((id) => heard.some((e) => e.cameraId === id && e.what === 'press')), 5000);

      // No broker any more: the client closes; the ONVIF source stays.
      const gateClient = sources.mqttSource();
      const yardAfter = sources.onvifSource('yard');
      await bridge.apply(withGate, undefined);
      assert.equal(sources.mqttStatus(), undefined);
      assert.equal(gateClient!.status().state, 'closed');
      assert.deepEqual(sources.sourcesOf('yard'), ['onvif']);
      assert.equal(sources.onvifSource('yard'), yardAfter);
    } finally {
      await bridge.close();
    }
  });
});
