/**
 * STUN and TURN servers in answers (issue 14), on loopback: which servers werift really asks,
 * answers that stay inside answerTimeoutMs when a server is dead (a swallowing UDP socket, a TCP
 * listener that never answers), and Debian's coturn giving srflx and relay candidates. The
 * credential is a fresh random string that must never show up in the log.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { createServer, type Server, type Socket as TcpSocket } from 'node:net';
import { Writable } from 'node:stream';
import { CameraStreams } from '../../src/camera/camera-streams.ts';
import { DEMO_CLIP } from '../../src/config/load.ts';
import { createLogger } from '../../src/log.ts';
import { candidateTypes } from '../../src/webrtc/ice-diagnosis.ts';
import { gatherBudgetMs, iceServersForWerift, IceServerWatch, parseIceServerUrl } from '../../src/webrtc/ice-servers.ts';
import { peerConfig } from '../../src/webrtc/peer-config.ts';
import { UdpPortPool } from '../../src/webrtc/port-pool.ts';
import { SessionManager } from '../../src/webrtc/session-manager.ts';
import { coturnInstalled, startCoturn, type Coturn } from '../helpers/coturn.ts';
import { echoViewer } from '../helpers/echo-offer.ts';
import { until } from '../helpers/until.ts';

const SECRET = 'never-log-this-credential';

function captureLog() {
  const lines: string[] = [];
  const destination = new Writable({ write(chunk, _encoding, done) { lines.push(chunk.toString()); done(); } });
  return { log: createLogger({ level: 'debug', destination }), text: () => lines.join(''), entries: () => lines.join('').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) };
}

describe('webrtc.iceServers as werift 0.25 uses them', () => {
  test('URLs become labels without credentials, with werift\'s default ports and transports', () => {
    assert.deepEqual(parseIceServerUrl('turn:turn.example.com?transport=tcp'), { kind: 'turn', label: 'turn:turn.example.com:3478?transport=tcp', host: 'turn.example.com', port: 3478, transport: 'tcp' });
    assert.equal(parseIceServerUrl('turns:t.example.com')?.label, 'turns:t.example.com:5349');
    assert.equal(parseIceServerUrl('turns:t.example.com')?.transport, 'tls');
    assert.equal(parseIceServerUrl('stun:[2001:db8::1]:3479')?.label, 'stun:[2001:db8::1]:3479');
    assert.equal(parseIceServerUrl('turn:user:pass@t.example.com')?.label, 'turn:t.example.com:3478');
    assert.equal(parseIceServerUrl('http://x'), undefined);
  });

  test('the first STUN URL and the first TURN URL with credentials; the rest is reported as ignored', () => {
    const picked = iceServersForWerift([
      { urls: ['stun:a.example', 'stun:b.example'] },
      { urls: 'turn:no-creds.example' },
      { urls: 'turn:t1.example?transport=tcp', username: 'u', credential: SECRET },
      { urls: 'turn:t2.example', username: 'u', credential: SECRET },
    ]);
    assert.deepEqual(picked.servers, [{ urls: 'stun:a.example' }, { urls: 'turn:t1.example?transport=tcp', username: 'u', credential: SECRET }]);
    assert.equal(picked.turn?.label, 'turn:t1.example:3478?transport=tcp');
    assert.equal(picked.ignored.length, 3);
    assert.match(picked.ignored.join('\n'), /stun:b\.example:3478.*first STUN/);
    assert.match(picked.ignored.join('\n'), /no-creds.*needs username and credential/);
    assert.ok(!picked.ignored.join('\n').includes(SECRET));
  });

  test('TURN over UDP alone is asked for the server-reflexive address too; werift never falls back to Google', () => {
    const udp = iceServersForWerift([{ urls: 'turn:10.0.0.5:3478', username: 'u', credential: SECRET }]);
    assert.deepEqual(udp.servers[0], { urls: 'stun:10.0.0.5:3478' });
    assert.equal(udp.stun?.label, 'stun:10.0.0.5:3478 (the TURN server)');
    const tcp = peerConfig({ iceServers: [{ urls: 'turn:10.0.0.5?transport=tcp', username: 'u', credential: SECRET }], udpPorts: [40000, 40002], excludedAddresses: [], gatherTimeoutMs: 2000 });
    assert.deepEqual(tcp.iceServers?.map((s) => s.urls), ['turn:10.0.0.5?transport=tcp', 'stun:127.0.0.1:9']);
    assert.equal(tcp.iceStunGatherTimeout, 0, 'no STUN server to wait for');
    assert.equal(tcp.iceTurnConnectTimeout, 2, 'the whole TURN allocation is bounded (patched werift)');
    const none = peerConfig({ iceServers: [], udpPorts: [40000, 40002], excludedAddresses: [] });
    assert.deepEqual(none.iceServers, [{ urls: 'stun:127.0.0.1:9' }]);
    assert.equal(none.iceStunGatherTimeout, 0);
  });

  test('hostAddresses of this machine are bound; another (Docker bridge networking: the host\'s) is advertised, every address bound', () => {
    const own = peerConfig({ iceServers: [], udpPorts: [40000, 40002], hostAddresses: ['127.0.0.1'], excludedAddresses: [] });
    assert.deepEqual([own.iceAdditionalHostAddresses, own.iceInterfaceAddresses], [['127.0.0.1'], { udp4: '127.0.0.1' }]);
    const mapped = peerConfig({ iceServers: [], udpPorts: [40000, 40002], hostAddresses: ['203.0.113.7'], excludedAddresses: [] });
    assert.deepEqual([mapped.iceAdditionalHostAddresses, mapped.iceInterfaceAddresses, mapped.iceUseIpv4], [['203.0.113.7'], undefined, false]);
  });

  test('STUN/TURN may cost 40 % of answerTimeoutMs, at most 2 s', () => {
    assert.equal(gatherBudgetMs(5000), 2000);
    assert.equal(gatherBudgetMs(2000), 800);
    assert.equal(gatherBudgetMs(500), 200);
  });

  test('a failing server is logged once, by its label, and once more when it recovers', () => {
    const { log, entries } = captureLog();
    const watch = new IceServerWatch([{ urls: 'stun:s.example' }, { urls: 'turn:t.example', username: 'u', credential: SECRET }], 2000, log);
    watch.noteAnswer(new Set(['host', 'srflx']));
    watch.noteAnswer(new Set(['host', 'srflx']));
    watch.noteAnswer(new Set(['host', 'srflx', 'relay']));
    watch.noteAnswer(new Set(['host', 'relay']));
    const messages = entries().map((e) => `${e.level} ${e.msg}`);
    assert.equal(messages.filter((m) => m.startsWith('warn TURN server turn:t.example:3478 gave no relay candidate within 2000 ms')).length, 1, messages.join('\n'));
    assert.equal(messages.filter((m) => m === 'info TURN server turn:t.example:3478 answers again').length, 1);
    assert.equal(messages.filter((m) => m.startsWith('warn STUN server stun:s.example:3478 gave no server-reflexive candidate')).length, 1);
    assert.deepEqual(watch.failing, ['stun:s.example:3478']);
  });
});

describe('answers with STUN/TURN servers on loopback', () => {
  const owned: Array<{ close(): unknown }> = [];
  const demo = { id: 'demo', name: 'Demo', kind: 'camera' as const, url: `file:${DEMO_CLIP}`, talkback: 'none' as const, transcode: 'auto' as const, preload: false };
  after(async () => {
    for (const resource of owned.reverse()) await resource.close();
  });

  function manager(iceServers: Array<{ urls: string; username?: string; credential?: string }>, log = createLogger({ level: 'silent' })) {
    const streams = new CameraStreams({ cameras: [demo], defaultLingerSec: 0, ffmpegPath: () => 'ffmpeg', log });
    const sessions = new SessionManager({
      streams, log,
      ice: { iceServers, hostAddresses: ['127.0.0.1'], excludedAddresses: [] },
      ports: new UdpPortPool([45600, 45649], 2),
      answerTimeoutMs: 5000, connectTimeoutMs: 30_000, maxSessionMs: 600_000, maxViewersPerCamera: 10,
    });
    owned.push(streams, sessions);
    return sessions;
  }

  async function answer(sessions: SessionManager, sessionId: string): Promise<{ sdp: string; ms: number }> {
    const viewer = await echoViewer();
    owned.push(viewer.pc);
    const started = performance.now();
    const sdp = await sessions.offer({ sessionId, cameraId: 'demo', offerSdp: viewer.offer });
    return { sdp, ms: performance.now() - started };
  }

  /** A UDP "server" that counts what it is sent and never answers. */
  async function blackHole(): Promise<{ port: number; received: () => number }> {
    const socket: Socket = createSocket('udp4');
    let received = 0;
    socket.on('message', () => (received += 1));
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    owned.push({ close: () => new Promise<void>((resolve) => socket.close(() => resolve())) });
    return { port: socket.address().port, received: () => received };
  }

  test('a STUN/TURN server that swallows every packet costs at most the gather slice; logged once, credential never', async () => {
    const [stun, turn] = await Promise.all([blackHole(), blackHole()]);
    const { log, text } = captureLog();
    const sessions = manager([{ urls: `stun:127.0.0.1:${stun.port}` }, { urls: `turn:127.0.0.1:${turn.port}`, username: 'u', credential: SECRET }], log);
    for (const id of ['dead-1', 'dead-2']) {
      const { sdp, ms } = await answer(sessions, id);
      // Unpatched werift: 6.35 s of ALLOCATE retransmissions, past answerTimeoutMs (a TIMEOUT for every offer).
      assert.ok(ms < 2000 + 1500, `answered after ${Math.round(ms)} ms`);
      assert.deepEqual([...candidateTypes(sdp)], ['host']);
    }
    const warnings = text().split('\n').filter((l) => l.includes('"level":"warn"'));
    assert.equal(warnings.filter((l) => l.includes(`turn:127.0.0.1:${turn.port}`)).length, 1, warnings.join('\n'));
    assert.equal(warnings.filter((l) => l.includes(`stun:127.0.0.1:${stun.port}`)).length, 1);
    assert.ok(!text().includes(SECRET), 'the TURN credential reached the log');
    // The aborted allocation closed its socket: no retransmission after the deadline (the next
    // would come 3.15 s after the first send, 1.15 s after the deadline).
    const sent = turn.received();
    assert.ok(sent >= 6, `${sent} ALLOCATE transmissions`);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal(turn.received(), sent, 'the TURN client kept sending after gathering ended');
    sessions.close();
  });

  test('TURN over TCP to a server that accepts and never answers: bounded the same way', async () => {
    const sockets = new Set<TcpSocket>();
    const mute: Server = createServer((socket) => {
      socket.resume(); // read, or its end is never seen
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => mute.listen(0, '127.0.0.1', resolve));
    owned.push({ close: () => new Promise<void>((resolve) => { for (const s of sockets) s.destroy(); mute.close(() => resolve()); }) });
    const port = (mute.address() as { port: number }).port;
    const sessions = manager([{ urls: `turn:127.0.0.1:${port}?transport=tcp`, username: 'u', credential: SECRET }]);
    const { sdp, ms } = await answer(sessions, 'mute-tcp');
    assert.ok(ms < 2000 + 1500, `answered after ${Math.round(ms)} ms`);
    assert.deepEqual([...candidateTypes(sdp)], ['host']);
    sessions.close();
    await until('the TURN client to hang up', () => sockets.size === 0, 3000);
  });

  describe('with coturn', { skip: coturnInstalled() ? false : 'Debian coturn (turnserver) is not installed: scripts/setup.sh --test installs it' }, () => {
    let coturn: Coturn;
    before(async () => {
      coturn = await startCoturn({ listenIp: '127.0.0.1', port: await freePort(), relayPorts: [45900, 45949], loopbackPeers: true });
    });
    after(async () => {
      await coturn?.stop();
    });

    test('STUN + TURN over UDP: host, srflx and relay candidates', async () => {
      const { log, text } = captureLog();
      const sessions = manager([{ urls: `stun:127.0.0.1:${coturn.port}` }, { urls: `turn:127.0.0.1:${coturn.port}`, username: coturn.username, credential: coturn.credential }], log);
      const { sdp } = await answer(sessions, 'turn-udp');
      assert.deepEqual([...candidateTypes(sdp)].sort(), ['host', 'relay', 'srflx']);
      assert.match(sdp, new RegExp(`typ relay raddr 127\\.0\\.0\\.1`));
      assert.ok(!text().includes(coturn.credential));
      sessions.close();
    });

    test('TURN over TCP (turn:…?transport=tcp): a relay candidate', async () => {
      const sessions = manager([{ urls: `turn:127.0.0.1:${coturn.port}?transport=tcp`, username: coturn.username, credential: coturn.credential }]);
      const { sdp } = await answer(sessions, 'turn-tcp');
      assert.deepEqual([...candidateTypes(sdp)].sort(), ['host', 'relay']);
      sessions.close();
    });

    test('a refused credential: no relay, the answer still comes, the warning says why without the credential', async () => {
      const { log, text } = captureLog();
      const wrong = `${coturn.credential}-wrong`;
      const sessions = manager([{ urls: `turn:127.0.0.1:${coturn.port}`, username: coturn.username, credential: wrong }], log);
      const { sdp, ms } = await answer(sessions, 'turn-refused');
      assert.ok(ms < 2000 + 1500, `answered after ${Math.round(ms)} ms`);
      assert.deepEqual([...candidateTypes(sdp)].sort(), ['host', 'srflx'], 'the TURN server still answers STUN');
      assert.match(text(), /TURN server turn:127\.0\.0\.1:\d+ gave no relay candidate.*refused the username\/credential/);
      assert.ok(!text().includes(wrong) && !text().includes(coturn.credential));
      sessions.close();
    });
  });
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
