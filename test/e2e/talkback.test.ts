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
// The door camera's password holds a raw `@`, a `:` and (in its URL) a `%40`, and its URL carries
// secrets in query values, as some cameras want: no piece of them may reach the log.
const DOOR_PASSWORD = 'Seg1alpha@Seg2bravo:Seg3charlie@Seg4delta';
const DOOR_USERINFO = 'admin:Seg1alpha@Seg2bravo:Seg3charlie%40Seg4delta@';
const DOOR_QUERY = '?pwd=Qry5echo&password=Qry6foxtrot';
const SECRET_PIECES = ['Seg1alpha', 'Seg2bravo', 'Seg3charlie', 'Seg4delta', 'Qry5echo', 'Qry6foxtrot'];

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
      startFakeCamera({ audio: 'pcmu', backchannel: capture, user: 'admin', password: DOOR_PASSWORD, auth: 'digest' }),
      startFakeCamera({ audio: 'pcmu' }),
      launchChromium(),
    ]);
    bridge = await startBridge({
      webrtc: { hostAddresses: ['127.0.0.1'], udpPorts: '41700-41800' },
      cameras: [
        { id: 'door', name: 'Door', kind: 'doorbell', url: door.url.replace('rtsp://', `rtsp://${DOOR_USERINFO}`) + DOOR_QUERY, talkback: 'onvif' },
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
  });

  test('no piece of a camera password (raw @ and :, %40, pwd= and password= query values) in any log line', () => {
    const text = bridge.logText();
    assert.match(text, /backchannel open/, 'the log covers a talkback session');
    for (const piece of SECRET_PIECES) assert.ok(!text.includes(piece), `${piece} in the log:\n${text.split('\n').filter((l) => l.includes(piece)).join('\n')}`);
  });
});
