/**
 * Inspecting ONVIF devices: fake ONVIF cameras (test/fixtures/fake-onvif-camera.ts, with their
 * media services) whose stream URIs point at GStreamer RTSP servers (test/fixtures/fake-camera.ts)
 * serving what the profiles say, so the chosen stream's DESCRIBE is real.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspectOnvifDevice, InspectError, streamProfile, type Inspection, type InspectOptions } from '../../src/onboarding/inspect.ts';
import { startFakeCamera, type FakeCamera } from '../fixtures/fake-camera.ts';
import { startFakeOnvifCamera, type FakeMediaProfile, type FakeOnvifCamera, type FakeOnvifCameraOptions } from '../fixtures/fake-onvif-camera.ts';
import { runPorchlight } from '../helpers/run-porchlight.ts';

const PASSWORD = 'onvif-secret';
const MOTION = { topic: 'tns1:RuleEngine/CellMotionDetector/Motion', dataItem: 'IsMotion' };

describe('inspecting an ONVIF camera', () => {
  let mainStream: FakeCamera; // H.264 1280×720, as the cameras' main profiles say
  let subStream: FakeCamera; // H.264 640×360
  const devices: FakeOnvifCamera[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'porchlight-inspect-'));
  const passwordFile = join(dir, 'password');

  before(async () => {
    [mainStream, subStream] = await Promise.all([
      startFakeCamera({ path: '/live/main', width: 1280, height: 720, fps: 10, bitrate: 1500, user: 'admin', password: PASSWORD }),
      startFakeCamera({ path: '/live/sub', width: 640, height: 360, fps: 10, bitrate: 500, user: 'admin', password: PASSWORD }),
    ]);
    writeFileSync(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
  });
  after(async () => {
    await Promise.all([...devices.map((d) => d.close()), mainStream?.close(), subStream?.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  async function device(options: FakeOnvifCameraOptions): Promise<FakeOnvifCamera> {
    const cam = await startFakeOnvifCamera(options);
    devices.push(cam);
    return cam;
  }
  const main = (overrides: Partial<FakeMediaProfile> = {}): FakeMediaProfile =>
    ({ token: 'main', name: 'mainStream', encoding: 'H264', width: 1280, height: 720, fps: 10, bitrateKbps: 1500, audio: 'G711', streamUri: mainStream.url, ...overrides });
  const sub = (overrides: Partial<FakeMediaProfile> = {}): FakeMediaProfile =>
    ({ token: 'sub', name: 'subStream', encoding: 'H264', width: 640, height: 360, fps: 10, bitrateKbps: 500, streamUri: subStream.url, ...overrides });
  const inspect = (cam: FakeOnvifCamera, options: Partial<InspectOptions> = {}) =>
    inspectOnvifDevice({ onvifUrl: `http://127.0.0.1:${cam.port}`, username: 'admin', password: PASSWORD, ...options });
  async function failure(promise: Promise<Inspection>): Promise<InspectError> {
    const err = await promise.then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof InspectError, `expected an InspectError, got ${String(err)}`);
    return err;
  }

  test('an H.264 720p camera (Media1): every stream, the main one passed through and confirmed by DESCRIBE', async () => {
    const cam = await device({
      deviceInformation: { manufacturer: 'Hikvision', model: 'DS-2CD2043G2-I' },
      topics: [MOTION],
      media: { profiles: [main(), sub()] },
    });
    const inspection = await inspect(cam);
    assert.equal(inspection.mediaService, 'media');
    assert.deepEqual(inspection.device, { manufacturer: 'Hikvision', model: 'DS-2CD2043G2-I', firmwareVersion: '1.0.0', serialNumber: 'FAKE-0001', hardwareId: 'fake-onvif-1', types: [] });
    assert.deepEqual(inspection.profiles, [
      { token: 'main', name: 'mainStream', codec: 'H264', width: 1280, height: 720, fps: 10, bitrateKbps: 1500, uri: mainStream.url, audio: { codec: 'G.711 µ-law (PCMU)', sampleRateHz: 8000, bitrateKbps: 64 } },
      { token: 'sub', name: 'subStream', codec: 'H264', width: 640, height: 360, fps: 10, bitrateKbps: 500, uri: subStream.url },
    ]);
    assert.equal(inspection.choice.mode, 'passthrough');
    assert.equal('profile' in inspection.choice && inspection.choice.profile.token, 'main');
    assert.deepEqual(inspection.confirmed, { url: mainStream.url, status: 200, scheme: 'digest' });
    assert.match(inspection.snapshotUri ?? '', /^http:\/\/127\.0\.0\.1:\d+\/snapshot\.jpg$/);
    assert.equal(inspection.audio.codec, 'G.711 µ-law (PCMU)');
    assert.equal(inspection.audio.talkback, false);
    assert.equal(inspection.events.available, true);
    assert.deepEqual([inspection.events.motion.via, inspection.events.motion.topic], ['default', MOTION.topic]);
    assert.equal(inspection.events.doorbell.via, 'none');
    assert.equal(inspection.doorbell.likely, false);
    assert.ok(Math.abs(inspection.clockOffsetMs ?? Infinity) < 5000);
    // Nothing was sent unsigned but the clock, and no request was refused.
    assert.equal(cam.authFailures(), 0);
  });

  test('an H.265 doorbell (Media2) with an H.264 sub-stream: the sub-stream, DESCRIBE-confirmed; its clock 7 minutes off', async () => {
    const cam = await device({
      clockOffsetMs: -7 * 60_000,
      deviceInformation: { manufacturer: 'Porchlight', model: 'DB-1 Video Doorbell' },
      topics: [MOTION, { topic: 'tns1:Device/Trigger/DoorbellRing', dataItem: 'State' }],
      // The main stream's URI points at a path nothing serves: it must never be the one DESCRIBEd.
      media: { media2: true, audioOutputs: 1, profiles: [main({ encoding: 'H265', width: 1920, height: 1080, bitrateKbps: 4096, streamUri: `${mainStream.url}-hevc` }), sub({ audio: 'G711', audioOutput: true })] },
    });
    const inspection = await inspect(cam);
    assert.equal(inspection.mediaService, 'media2');
    assert.deepEqual(inspection.profiles.map((p) => [p.token, p.codec, p.width, p.height, p.uri]), [
      ['main', 'H265', 1920, 1080, `${mainStream.url}-hevc`],
      ['sub', 'H264', 640, 360, subStream.url],
    ]);
    assert.equal(inspection.choice.mode, 'passthrough');
    assert.equal('profile' in inspection.choice && inspection.choice.profile.token, 'sub');
    assert.match(inspection.choice.reason, /main stream is H\.265 1920×1080, which an Echo cannot show.*sub-stream "subStream"/);
    assert.deepEqual(inspection.confirmed, { url: subStream.url, status: 200, scheme: 'digest' });
    assert.ok(Math.abs((inspection.clockOffsetMs ?? 0) + 7 * 60_000) < 5000, `clock offset ${inspection.clockOffsetMs}`);
    assert.deepEqual([inspection.audio.talkback, inspection.audio.codec], [true, 'G.711 µ-law (PCMU)']);
    assert.deepEqual(inspection.events.doorbell.override, { doorbellTopic: 'tns1:Device/Trigger/DoorbellRing' });
    assert.equal(inspection.events.motion.via, 'default');
    assert.deepEqual(inspection.doorbell, { likely: true, why: 'model "DB-1 Video Doorbell" says doorbell' });
    assert.equal(cam.authFailures(), 0, 'every signed request carried the camera\'s clock');
  });

  test('a wrong password: ONVIF refused the credentials, at GetDeviceInformation', async () => {
    const cam = await device({ media: { profiles: [main()] } });
    const err = await failure(inspect(cam, { password: 'not-the-password' }));
    assert.deepEqual([err.code, err.step], ['CREDENTIALS', 'GetDeviceInformation']);
    assert.match(err.message, /ONVIF refused the credentials \(GetDeviceInformation\)/);
    assert.ok(!err.message.includes('not-the-password'));
    assert.ok(cam.authFailures() >= 1);
  });

  test('ONVIF accepts, RTSP refuses: the stream URI given but DESCRIBE 401, named, with what was learned', async () => {
    const cam = await device({ password: 'another-password', media: { profiles: [main()] } });
    const err = await failure(inspect(cam, { password: 'another-password' }));
    assert.deepEqual([err.code, err.step], ['DESCRIBE_REFUSED', 'DESCRIBE']);
    assert.match(err.message, new RegExp(`stream URI ${mainStream.url.replace(/[.]/g, '\\.')}, but its DESCRIBE refuses these credentials \\(401\\)`));
    assert.equal(err.partial?.profiles.length, 1);
    assert.equal(err.partial?.confirmed, undefined);
  });

  test('a stream URI where nothing is served: DESCRIBE 404', async () => {
    const cam = await device({ media: { profiles: [main({ streamUri: mainStream.url.replace('/live/main', '/no/such/stream') })] } });
    const err = await failure(inspect(cam));
    assert.deepEqual([err.code, err.step], ['DESCRIBE_NOT_FOUND', 'DESCRIBE']);
    assert.match(err.message, /DESCRIBE answers 404/);
  });

  test('MJPEG only: a transcode that costs CPU — or, on a bridge that does not transcode, a codec an Echo cannot show', async () => {
    const cam = await device({ media: { profiles: [main({ encoding: 'JPEG', width: 1920, height: 1080 })] } });
    const inspection = await inspect(cam);
    assert.equal(inspection.choice.mode, 'transcode');
    assert.match(inspection.choice.reason, /transcodes "mainStream" \(MJPEG 1920×1080\) to H\.264 720p, which costs CPU/);
    assert.equal(inspection.confirmed?.status, 200);
    const err = await failure(inspect(cam, { canTranscode: false }));
    assert.deepEqual([err.code, err.step], ['UNSUPPORTED_CODEC', 'choose']);
    assert.match(err.message, /no stream an Echo can show \(MJPEG 1920×1080.*does not transcode/);
  });

  test('nothing listening: no reply, named', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    await new Promise((resolve) => server.close(resolve));
    const err = await failure(inspectOnvifDevice({ onvifUrl: `http://127.0.0.1:${port}`, username: 'admin', password: PASSWORD }));
    assert.deepEqual([err.code, err.step], ['NO_REPLY', 'GetSystemDateAndTime']);
    assert.match(err.message, new RegExp(`no ONVIF reply from 127\\.0\\.0\\.1:${port}`));
  });

  test('a device without a media service says so', async () => {
    const cam = await device({});
    const err = await failure(inspect(cam));
    assert.deepEqual([err.code, err.step], ['NO_MEDIA', 'GetServices']);
  });

  test('`porchlight cameras inspect`: the report, the password read from a file and never printed', async () => {
    const cam = await device({
      deviceInformation: { model: 'DB-1 Video Doorbell' },
      media: { media2: true, audioOutputs: 1, profiles: [main({ encoding: 'H265', width: 1920, height: 1080, streamUri: `${mainStream.url}-hevc` }), sub()] },
    });
    const text = await runPorchlight(['cameras', 'inspect', '--onvif', `http://127.0.0.1:${cam.port}`, '--user', 'admin', '--password-file', passwordFile]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^Echo\s+subStream, passed through: the main stream is H\.265/m);
    assert.match(text.stdout, new RegExp(`✔ DESCRIBE ${subStream.url.replace(/[.]/g, '\\.')}: 200 \\(digest auth\\)`));
    assert.match(text.stdout, /^Doorbell\s+looks like one/m);
    const json = await runPorchlight(['cameras', 'inspect', '--onvif', `http://127.0.0.1:${cam.port}`, '--user', 'admin', '--password-file', passwordFile, '--json']);
    assert.equal(json.code, 0, json.stderr);
    assert.equal((JSON.parse(json.stdout) as { onvif: Inspection }).onvif.confirmed?.url, subStream.url);
    const wrongFile = join(dir, 'wrong');
    writeFileSync(wrongFile, 'wrong-password-1234\n');
    const refused = await runPorchlight(['cameras', 'inspect', '--onvif', `http://127.0.0.1:${cam.port}`, '--user', 'admin', '--password-file', wrongFile]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /✘ GetDeviceInformation: ONVIF refused the credentials/);
    assert.match(refused.stderr, /--rtsp-host/);
    for (const r of [text, json, refused]) {
      assert.ok(!`${r.stdout}${r.stderr}`.includes(PASSWORD) && !`${r.stdout}${r.stderr}`.includes('wrong-password-1234'), 'no password in the output');
    }
  });

  test('profiles as the package parses them: sizes, rates and audio units of Media1 and Media2', () => {
    assert.deepEqual(streamProfile({ $: { token: 't' }, name: 'n', videoEncoderConfiguration: { encoding: 'H264', resolution: { width: 1920, height: 1080 }, rateControl: { frameRateLimit: 25, bitrateLimit: 4096 } }, audioEncoderConfiguration: { encoding: 'AAC', sampleRate: 16, bitrate: 32 } }, 0),
      { token: 't', name: 'n', codec: 'H264', width: 1920, height: 1080, fps: 25, bitrateKbps: 4096, audio: { codec: 'AAC', sampleRateHz: 16000, bitrateKbps: 32 } });
    assert.deepEqual(streamProfile({ $: { token: 't' }, videoEncoderConfiguration: { encoding: 'H265' }, audioEncoderConfiguration: { encoding: 'MP4A-LATM', sampleRate: 16000 } }, 0),
      { token: 't', name: 't', codec: 'H265', audio: { codec: 'AAC', sampleRateHz: 16000 } });
    assert.deepEqual(streamProfile(undefined, 2), { token: 'profile-3', name: 'profile 3', codec: 'unknown' });
  });
});

