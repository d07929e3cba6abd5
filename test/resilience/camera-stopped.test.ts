/**
 * A session's life follows its camera: when the camera stays down past the bound, its sessions
 * end with `camera-stopped` (the Echo ends the call instead of staring at a frozen frame), their
 * UDP ports and viewer places are freed, and the reason is logged and counted.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { RtpPacket } from 'werift';
import { startBridge, type TestBridge } from '../helpers/bridge.ts';
import { directive } from '../helpers/directives.ts';
import { echoViewer } from '../helpers/echo-offer.ts';
import { until } from '../helpers/until.ts';
import { startFakeCamera, type FakeCamera } from '../fixtures/fake-camera.ts';

const RTC = 'Alexa.RTCSessionController';
let camera: FakeCamera;
let bridge: TestBridge;

before(async () => {
  camera = await startFakeCamera({ gop: 1 });
  bridge = await startBridge({
    webrtc: { hostAddresses: ['127.0.0.1'], udpPorts: '43400-43409' },
    cameras: [{ id: 'porch', name: 'Porch', url: camera.url, lingerSec: 1 }],
  }, { app: { cameraDownMs: 3000 } });
});
after(async () => {
  await bridge?.close();
  await camera?.close();
});

test('a camera down past the bound ends its sessions with camera-stopped and frees their ports', async () => {
  const viewer = await echoViewer();
  try {
    const { json: reply } = await bridge.postAlexa(directive(RTC, 'InitiateSessionWithOffer', { endpointId: 'porch', payload: { sessionId: 'porch-1', offer: { format: 'SDP', value: viewer.offer } } }));
    assert.equal(reply.event.header.name, 'AnswerGeneratedForSession', JSON.stringify(reply.event.payload));
    await viewer.pc.setRemoteDescription({ type: 'answer', sdp: reply.event.payload.answer.value });
    let packets = 0;
    viewer.pc.getTransceivers().find((t) => t.kind === 'video')!.receiver.track.onReceiveRtp.subscribe((_rtp: RtpPacket) => {
      packets += 1;
    });
    await until('video', () => packets > 10, 15_000);
    assert.equal(bridge.app.sessions.size, 1);
    assert.equal(bridge.app.sessions.leasedPortBlocks, 1);

    await camera.close();
    const stoppedAt = Date.now();
    await until('the session ended', () => bridge.app.sessions.size === 0, 20_000, 50);
    const waited = Date.now() - stoppedAt;
    assert.ok(waited >= 2500, `not before the bound (${waited} ms)`);
    const line = bridge.logText().split('\n').find((l) => l.includes('camera stopped: ending its sessions'));
    assert.match(line ?? '', /"reason":"no video from the camera for 3 s"/, 'the reason is logged');
    const metrics = await (await fetch(`${bridge.url}/metrics`)).text();
    assert.match(metrics, /porchlight_sessions_total\{outcome="camera_stopped"\} 1/);
    assert.equal(bridge.app.sessions.leasedPortBlocks, 0, 'its UDP ports are free again');
  } finally {
    await viewer.pc.close();
  }
});
