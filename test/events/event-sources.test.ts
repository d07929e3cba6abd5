import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hasMotion, onvifTarget } from '../../src/events/event-sources.ts';

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
