/**
 * SessionManager's clean-up rules with real parts: the demo clip through CameraStreams (real
 * ffmpeg), werift sessions, and a werift viewer on loopback. Timeouts are shortened.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CameraStreams } from '../../src/camera/camera-streams.ts';
import { DEMO_CLIP } from '../../src/config/load.ts';
import type { CameraConfig } from '../../src/config/schema.ts';
import { createLogger } from '../../src/log.ts';
import { spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import * as sdpTransform from 'sdp-transform';
import { UdpPortPool } from '../../src/webrtc/port-pool.ts';
import { SessionManager, type SessionManagerOptions } from '../../src/webrtc/session-manager.ts';
import { echoViewer, fixture } from '../helpers/echo-offer.ts';
import { until } from '../helpers/until.ts';

const log = createLogger({ level: 'silent' });
const demo: CameraConfig = { id: 'demo', name: 'Demo', kind: 'camera', url: `file:${DEMO_CLIP}`, talkback: 'none', transcode: 'auto', preload: false };

const owned: Array<{ close(): unknown }> = [];
after(async () => {
  for (const resource of owned.reverse()) await resource.close();
});

function manager(overrides: Partial<SessionManagerOptions> = {}): { sessions: SessionManager; streams: CameraStreams } {
  const streams = new CameraStreams({ cameras: [demo], defaultLingerSec: 0, ffmpegPath: () => 'ffmpeg', log });
  const sessions = new SessionManager({
    streams,
    ice: { iceServers: [], hostAddresses: ['127.0.0.1'], excludedAddresses: [] },
    // This file's ports are 41500-41599: test files run in parallel, each on a range of its own.
    ports: new UdpPortPool([41500, 41549], 1),
    answerTimeoutMs: 5000,
    connectTimeoutMs: 30_000,
    maxSessionMs: 600_000,
    maxViewersPerCamera: 10,
    log,
    ...overrides,
  });
  owned.push(streams, sessions);
  return { sessions, streams };
}

describe('SessionManager clean-up', () => {
  test('a session that never connects is closed after the connect timeout, and the camera stops', async () => {
    const { sessions, streams } = manager({ connectTimeoutMs: 400 });
    await sessions.offer({ sessionId: 'never', cameraId: 'demo', offerSdp: fixture('echo-show-design') });
    assert.equal(sessions.size, 1);
    assert.equal(streams.peek('demo')?.viewerCount, 1);
    await until('the connect timeout', () => sessions.size === 0, 3000);
    assert.equal(streams.peek('demo')?.viewerCount, 0);
    await until('the stream to stop (linger 0)', () => streams.peek('demo')?.state === 'idle', 3000);
  });

  test('a connected session ends at the maximum lifetime', async () => {
    const { sessions } = manager({ maxSessionMs: 1500 });
    const viewer = await echoViewer();
    owned.push(viewer.pc);
    const answer = await sessions.offer({ sessionId: 'long', cameraId: 'demo', offerSdp: viewer.offer });
    await viewer.pc.setRemoteDescription({ type: 'answer', sdp: answer });
    await until('connected', () => sessions.list()[0]?.state === 'connected', 5000);
    await until('the lifetime to pass', () => sessions.size === 0, 4000);
  });

  test('a viewer that goes silent (hung up, lost power) is noticed by its missing RTCP reports', async () => {
    const { sessions } = manager({ silenceTimeoutMs: 2000 });
    const viewer = await echoViewer();
    owned.push(viewer.pc);
    const answer = await sessions.offer({ sessionId: 'hangup', cameraId: 'demo', offerSdp: viewer.offer });
    await viewer.pc.setRemoteDescription({ type: 'answer', sdp: answer });
    await until('connected', () => sessions.list()[0]?.state === 'connected', 5000);
    // A live viewer's reports keep the session well past the silence timeout.
    await new Promise((resolve) => setTimeout(resolve, 3500));
    assert.equal(sessions.size, 1, 'a live viewer was taken for a silent one');
    assert.ok(sessions.list()[0]!.packetsSent > 20);
    await viewer.pc.close();
    await until('the session to close after the viewer left', () => sessions.size === 0, 5000);
  });

  test('close() ends every session and refuses new offers', async () => {
    const { sessions } = manager();
    await sessions.offer({ sessionId: 'a', cameraId: 'demo', offerSdp: fixture('echo-show-design') });
    await sessions.offer({ sessionId: 'b', cameraId: 'demo', offerSdp: fixture('echo-show-design') });
    assert.equal(sessions.size, 2);
    sessions.close();
    assert.equal(sessions.size, 0);
    await assert.rejects(sessions.offer({ sessionId: 'c', cameraId: 'demo', offerSdp: fixture('echo-show-design') }), { code: 'UNREACHABLE' });
  });

  test('offers still being answered: a newer one for the same session wins, and they count against the viewer limit', async () => {
    const { sessions } = manager({ maxViewersPerCamera: 2 });
    const offer = (sessionId: string) => sessions.offer({ sessionId, cameraId: 'demo', offerSdp: fixture('echo-show-design') });
    const older = offer('same');
    const newer = offer('same');
    const other = offer('other');
    await assert.rejects(offer('third'), { code: 'BUSY' }, 'two offers being answered fill a limit of two');
    await assert.rejects(older, (err: Error & { code?: string }) => err.code === 'BUSY' && /offered again/.test(err.message));
    await newer;
    await other;
    assert.deepEqual(sessions.list().map((s) => s.id).sort(), ['other', 'same']);
    assert.deepEqual(sessions.ended(), [], 'a refused offer is no ended session');
    await sessions.close();
    await until('every port block back', () => sessions.leasedPortBlocks === 0, 5000);
  });
});

/**
 * Whether UDP `port` on 127.0.0.1 can be bound right now: another process tries, synchronously, so
 * nothing in this one (werift closing its sockets) moves meanwhile. dgram's own bind is deferred.
 */
function canBindNow(port: number): boolean {
  const script = `import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.bind(("127.0.0.1", ${port}))`;
  return spawnSync('python3', ['-c', script], { timeout: 5000, stdio: 'ignore' }).status === 0;
}

describe('SessionManager UDP ports', () => {
  const candidatePorts = (sdp: string) => sdpTransform.parse(sdp).media.flatMap((m) => (m.candidates ?? []).map((c) => c.port));
  const uniquePorts = (sdp: string) => [...new Set(candidatePorts(sdp))];

  test('20 offers at once each gather on a port of their own inside webrtc.udpPorts', async () => {
    const { sessions } = manager({ ports: new UdpPortPool([41550, 41589], 1), maxViewersPerCamera: 30 });
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => sessions.offer({ sessionId: `crowd-${i}`, cameraId: 'demo', offerSdp: fixture('echo-show-design') })));
    const ports = answers.map(uniquePorts);
    for (const list of ports) assert.equal(list.length, 1);
    const all = ports.map((list) => list[0]!);
    assert.equal(new Set(all).size, 20, `ports shared: ${all.join(' ')}`);
    for (const port of all) assert.ok(port >= 41550 && port <= 41589);
    sessions.close();
  });

  test('ports another program holds are skipped; a full range refuses naming webrtc.udpPorts; a hang-up frees its ports', async () => {
    for (const port of [41590, 41591]) {
      const squatter = createSocket('udp4');
      await new Promise<void>((resolve) => squatter.bind(port, '127.0.0.1', resolve));
      owned.push({ close: () => new Promise<void>((resolve) => squatter.close(() => resolve())) });
    }
    const { sessions } = manager({ ports: new UdpPortPool([41590, 41595], 1) });
    const offer = (sessionId: string) => sessions.offer({ sessionId, cameraId: 'demo', offerSdp: fixture('echo-show-design') });
    assert.deepEqual(uniquePorts(await offer('p1')), [41592], 'the next block, both ports of the first being taken');
    assert.deepEqual(uniquePorts(await offer('p2')), [41594]);
    await assert.rejects(offer('p3'), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'BUSY');
      assert.match(err.message, /webrtc\.udpPorts/);
      return true;
    });
    await sessions.disconnect('p1');
    assert.deepEqual(uniquePorts(await offer('p4')), [41592], 'the freed block');
    await sessions.close();
  });

  test('a hang-up frees its ports once the peer connection has closed, not before (issue 26 bug 2)', async () => {
    // The moment a lease is released its port must be bindable (the next session binds it then):
    // checked with a bind in that very tick.
    const bindable: boolean[] = [];
    class WatchedPool extends UdpPortPool {
      override lease() {
        const lease = super.lease();
        if (!lease) return lease;
        return { ports: lease.ports, release: () => {
          bindable.push(canBindNow(lease.ports[0]));
          lease.release();
        } };
      }
    }
    const { sessions } = manager({ ports: new WatchedPool([41596, 41597], 1) });
    assert.deepEqual(uniquePorts(await sessions.offer({ sessionId: 'h1', cameraId: 'demo', offerSdp: fixture('echo-show-design') })), [41596]);
    await sessions.disconnect('h1');
    await until('the lease released', () => bindable.length === 1, 5000);
    assert.deepEqual(bindable, [true], 'the port was still bound when its lease was handed back');
    await sessions.close();
  });

  test('an answer ready too late for Alexa ends as answer-timeout (before: connect-timeout, the DTLS outcome), its ports freed', async () => {
    const { sessions } = manager({ ports: new UdpPortPool([41598, 41599], 1), answerTimeoutMs: 1 });
    await assert.rejects(sessions.offer({ sessionId: 'late', cameraId: 'demo', offerSdp: fixture('echo-show-design') }), { code: 'TIMEOUT' });
    await until('the late session noted', () => sessions.ended().some((e) => e.id === 'late'), 10_000);
    assert.equal(sessions.ended().find((e) => e.id === 'late')!.outcome, 'answer-timeout');
    await until('its ports freed', () => sessions.leasedPortBlocks === 0, 10_000);
    await sessions.close();
  });
});
