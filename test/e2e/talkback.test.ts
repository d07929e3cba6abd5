/**
 * Talkback end to end: Chromium's fake microphone → POST /alexa sendrecv offer → werift → ffmpeg
 * (Opus → µ-law) → the camera's ONVIF backchannel, captured to a file by the GStreamer camera.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as sdpTransform from 'sdp-transform';
import { decodeMuLaw } from '../../src/camera/g711.ts';
import { assertValidAlexaMessage } from '../helpers/alexa-schema.ts';
import { ADMIN_TOKEN, startBridge, type TestBridge } from '../helpers/bridge.ts';
import { launchChromium, type ChromiumBrowser, type ChromiumViewer } from '../helpers/chromium-viewer.ts';
import { directive, discoverDirective } from '../helpers/directives.ts';
import { until } from '../helpers/until.ts';
import { startFakeCamera, type FakeCamera } from '../fixtures/fake-camera.ts';

const RTC = 'Alexa.RTCSessionController';

function audioDirection(answer: string): string | undefined {
  return sdpTransform.parse(answer).media.find((m) => m.type === 'audio')?.direction;
}

/** Root mean square of µ-law audio, on the 16-bit scale. */
function rms(mulaw: Buffer): number {
  const samples = decodeMuLaw(mulaw);
  let sum = 0;
  for (const sample of samples) sum += sample * sample;
  return Math.sqrt(sum / Math.max(1, samples.length));
}

describe('talkback through the ONVIF backchannel', () => {
  const dir = mkdtempSync(join(tmpdir(), 'porchlight-talk-'));
  const capture = join(dir, 'backchannel.ulaw');
  let door: FakeCamera;
  let yard: FakeCamera;
  let bridge: TestBridge;
  let browser: ChromiumBrowser;

  before(async () => {
    [door, yard, browser] = await Promise.all([
      startFakeCamera({ audio: 'pcmu', backchannel: capture, user: 'admin', password: 'talk-secret', auth: 'digest' }),
      startFakeCamera({ audio: 'pcmu' }),
      launchChromium(),
    ]);
    bridge = await startBridge({
      webrtc: { hostAddresses: ['127.0.0.1'], udpPorts: '41700-41800' },
      cameras: [
        { id: 'door', name: 'Door', kind: 'doorbell', url: door.urlWithCredentials, talkback: 'onvif' },
        { id: 'yard', name: 'Yard', url: yard.url, talkback: 'onvif' },
        { id: 'plain', name: 'Plain', url: yard.url },
      ],
    });
  });
  after(async () => {
    await browser?.close();
    await bridge?.close();
    await Promise.all([door?.close(), yard?.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  async function talk(viewer: ChromiumViewer, endpointId: string, sessionId: string): Promise<string> {
    const offer = await viewer.createOffer({ audio: 'sendrecv' });
    const { json } = await bridge.postAlexa(directive(RTC, 'InitiateSessionWithOffer', { endpointId, payload: { sessionId, offer: { format: 'SDP', value: offer } } }));
    assertValidAlexaMessage(json);
    assert.equal(json.event.header.name, 'AnswerGeneratedForSession', JSON.stringify(json.event.payload));
    await viewer.setAnswer(json.event.payload.answer.value);
    return json.event.payload.answer.value;
  }

  test('discovery advertises full duplex only where the backchannel works', async () => {
    await until('the talkback checks', () => bridge.app.talkback.status('door')?.capability === 'available' && bridge.app.talkback.status('yard')?.capability === 'unsupported', 15_000);
    const { json } = await bridge.postAlexa(discoverDirective());
    assertValidAlexaMessage(json);
    const duplex = Object.fromEntries(json.event.payload.endpoints.map((e: any) => [e.endpointId, e.capabilities[0].configuration.isFullDuplexAudioSupported]));
    assert.deepEqual(duplex, { door: true, yard: false, plain: false });
  });

  test('the browser microphone reaches the camera speaker; a second talker gets one-way audio', async () => {
    const first = await browser.newViewer();
    assert.equal(audioDirection(await talk(first, 'door', 'talk-1')), 'sendrecv');
    await first.waitFor((s) => s.framesDecoded >= 10, 20_000);
    // One second of 8 kHz µ-law is 8000 bytes.
    await until('one second of audio at the camera', () => existsSync(capture) && readFileSync(capture).length >= 8000, 20_000);
    const audio = readFileSync(capture);
    assert.ok(rms(audio) > 300, `the captured audio is silent (rms ${rms(audio).toFixed(0)})`);
    assert.equal(bridge.app.talkback.status('door')?.talker, 'talk-1');

    const second = await browser.newViewer();
    assert.equal(audioDirection(await talk(second, 'door', 'talk-2')), 'sendonly', 'one talker per camera');
    await second.waitFor((s) => s.framesDecoded >= 5, 20_000);

    for (const [viewer, id] of [[first, 'talk-1'], [second, 'talk-2']] as const) {
      await viewer.closePeer();
      await bridge.postAlexa(directive(RTC, 'SessionDisconnected', { endpointId: 'door', payload: { sessionId: id } }));
    }
    await until('the talker released', () => bridge.app.talkback.status('door')?.talker === undefined, 5000);
  });

  test('a camera without a backchannel answers sendonly audio and the video plays', async () => {
    const viewer = await browser.newViewer();
    assert.equal(audioDirection(await talk(viewer, 'yard', 'yard-1')), 'sendonly');
    await viewer.waitFor((s) => s.framesDecoded >= 10, 20_000);
    await viewer.closePeer();
    await bridge.postAlexa(directive(RTC, 'SessionDisconnected', { endpointId: 'yard', payload: { sessionId: 'yard-1' } }));
    const ready = (await (await fetch(`${bridge.url}/readyz`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json()) as any;
    assert.equal(ready.checks.cameras.yard.talkback.capability, 'unsupported');
    assert.match(ready.checks.cameras.yard.talkback.reason, /backchannel/i);
    assert.ok(!bridge.logText().includes('talk-secret'), 'camera password in the log');
  });
});
