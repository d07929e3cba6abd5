// The ONVIF backchannel client against GStreamer's RTSPOnvifServer (the fake camera): digest auth,
// audio reaching the camera intact, the errors it reports, and a camera going away mid-stream.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeMuLaw, encodeMuLaw } from '../../src/camera/g711.ts';
import { Backchannel } from '../../src/camera/rtsp-backchannel.ts';
import { startFakeCamera, type FakeCamera } from '../fixtures/fake-camera.ts';
import { closedEvent, log, rejectsWith, until } from './rtsp-backchannel-helpers.ts';

describe('against the GStreamer fake camera', () => {
  const dir = mkdtempSync(join(tmpdir(), 'porchlight-backchannel-'));
  const talkFile = join(dir, 'talk.ulaw');
  let talk: FakeCamera;
  let plain: FakeCamera;
  let doomed: FakeCamera;
  const open: Backchannel[] = [];
  before(async () => {
    [talk, plain, doomed] = await Promise.all([
      startFakeCamera({ audio: 'pcmu', backchannel: talkFile, user: 'admin', password: 's3cret!', auth: 'digest' }),
      startFakeCamera({ audio: 'pcmu' }),
      startFakeCamera({ audio: 'pcmu', backchannel: join(dir, 'doomed.ulaw') }),
    ]);
  });
  after(async () => {
    await Promise.all(open.map((b) => b.close()));
    await Promise.all([talk?.close(), plain?.close(), doomed?.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  test('digest auth, PCMU: 1 s of 440 Hz reaches the camera intact', async (t) => {
    const started = performance.now();
    const backchannel = await Backchannel.open({ url: talk.urlWithCredentials, log });
    open.push(backchannel);
    const openMs = performance.now() - started;
    assert.deepEqual(backchannel.codec, { encoding: 'PCMU', payloadType: 0, clockRate: 8000 });

    const pcm = Int16Array.from({ length: 8000 }, (_, i) => Math.round(16000 * Math.sin((2 * Math.PI * 440 * i) / 8000)));
    const ulaw = encodeMuLaw(pcm);
    // Paced against the clock, as the talkback pipeline delivers 20 ms frames.
    const t0 = performance.now();
    for (let i = 0; i < 50; i++) {
      backchannel.sendAudio(ulaw.subarray(i * 160, (i + 1) * 160));
      const wait = t0 + (i + 1) * 20 - performance.now();
      if (wait > 0) await sleep(wait);
    }
    assert.equal(backchannel.packetsSent, 50);
    const size = () => { try { return statSync(talkFile).size; } catch { return 0; } };
    await until(() => size() >= 8000, 3000);
    assert.equal(size(), 8000);

    const received = decodeMuLaw(readFileSync(talkFile));
    const rms = Math.sqrt(received.reduce((sum, s) => sum + s * s, 0) / received.length);
    let crossings = 0;
    for (let i = 1; i < received.length; i++) if ((received[i - 1]! < 0) !== (received[i]! < 0)) crossings++;
    assert.ok(rms > 10_000, `RMS ${rms}`); // 16000/√2 ≈ 11300 sent
    assert.ok(Math.abs(crossings - 880) <= 4, `${crossings} zero crossings for 1 s of 440 Hz`);

    const closed = closedEvent(backchannel);
    const closeStarted = performance.now();
    await Promise.all([backchannel.close(), backchannel.close()]);
    assert.deepEqual(await closed, { reason: 'closed', detail: undefined });
    backchannel.sendAudio(ulaw.subarray(0, 160)); // no-op once closed
    assert.equal(backchannel.packetsSent, 50);
    t.diagnostic(`open ${openMs.toFixed(0)} ms, close ${(performance.now() - closeStarted).toFixed(0)} ms, RMS ${rms.toFixed(0)}`);
  });

  test('a camera without the backchannel → UNSUPPORTED, saying why', async () => {
    await rejectsWith(Backchannel.open({ url: plain.url, log }), 'UNSUPPORTED', /no ONVIF audio backchannel.*551 Option not supported/);
  });

  test('credentials: wrong → AUTH, missing → AUTH asking for them; wrong path → NOT_FOUND', async () => {
    const wrong = new URL(talk.url);
    [wrong.username, wrong.password] = ['admin', 'nope'];
    await rejectsWith(Backchannel.open({ url: wrong.href, log }), 'AUTH', /rejected the credentials/);
    await rejectsWith(Backchannel.open({ url: talk.url, log }), 'AUTH', /asks for credentials/);
    await rejectsWith(Backchannel.open({ url: talk.urlWithCredentials.replace(/\/stream$/, '/nope'), log }), 'NOT_FOUND');
  });

  test('nothing listening → NETWORK', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    await new Promise((resolve) => server.close(resolve));
    await rejectsWith(Backchannel.open({ url: `rtsp://127.0.0.1:${port}/stream`, log }), 'NETWORK', /ECONNREFUSED/);
  });

  test('the camera going away mid-stream → closed(camera-closed), nothing thrown', async () => {
    const backchannel = await Backchannel.open({ url: doomed.url, log });
    open.push(backchannel);
    const closed = closedEvent(backchannel);
    const talking = setInterval(() => backchannel.sendAudio(Buffer.alloc(160, 0xff)), 20);
    try {
      await sleep(200);
      await doomed.close();
      const result = await Promise.race([closed, sleep(5000).then(() => undefined)]);
      assert.equal(result?.reason, 'camera-closed');
      backchannel.sendAudio(Buffer.alloc(160, 0xff)); // still no throw
    } finally {
      clearInterval(talking);
    }
    await backchannel.close(); // already closed: a no-op
  });
});
