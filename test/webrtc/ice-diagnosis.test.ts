/**
 * Sessions that never connect (issue 14): the `ice-failed` reason, its explanation (candidate
 * types and networks of each side, the TURN hint; viewer addresses only at debug), and the ended
 * sessions the console lists. The real case runs a SessionManager on loopback against an offer
 * whose candidates (127.0.0.3) nobody answers on.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { CameraStreams } from '../../src/camera/camera-streams.ts';
import { DEMO_CLIP } from '../../src/config/load.ts';
import { ConsoleBackend } from '../../src/http/console-backend.ts';
import { createLogger } from '../../src/log.ts';
import { candidatesInSdp, explainIceFailure, networkOf, parseCandidate, summarizeCandidates } from '../../src/webrtc/ice-diagnosis.ts';
import { UdpPortPool } from '../../src/webrtc/port-pool.ts';
import { SessionManager } from '../../src/webrtc/session-manager.ts';
import { fixture } from '../helpers/echo-offer.ts';
import { until } from '../helpers/until.ts';

const c = (type: string, address: string, protocol = 'udp') => ({ type, protocol, address, port: 40000 });

describe('explaining a failed ICE', () => {
  test('networks are named, never the address', () => {
    const cases: Array<[string, string]> = [
      ['127.0.0.1', 'loopback'], ['10.1.2.3', 'private'], ['172.20.0.1', 'private'], ['172.32.0.1', 'public'],
      ['192.168.1.5', 'private'], ['100.70.0.1', 'carrier-grade NAT'], ['169.254.3.4', 'link-local'],
      ['52.94.236.248', 'public'], ['fe80::1', 'IPv6 link-local'], ['fd00::2', 'IPv6 private'],
      ['2600:1f18::1', 'IPv6 public'], ['3f2a8c1e-7c1b-4b1e-9d7a-1a2b3c4d5e6f.local', 'mDNS name'],
    ];
    for (const [address, network] of cases) assert.equal(networkOf(address), network, address);
  });

  test('candidates from SDP lines and from werift, summarized by type, transport and network', () => {
    assert.deepEqual(parseCandidate('candidate:1 1 UDP 2122260223 10.0.0.2 54321 typ host'), { type: 'host', protocol: 'udp', address: '10.0.0.2', port: 54321 });
    const sdp = 'v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=candidate:1 1 udp 1 10.0.0.2 40000 typ host\r\na=candidate:2 1 udp 1 52.1.2.3 40000 typ srflx raddr 10.0.0.2 rport 40000\r\n'
      + 'm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=candidate:1 1 udp 1 10.0.0.2 40000 typ host\r\n';
    const list = candidatesInSdp(sdp);
    assert.equal(list.length, 2, 'BUNDLE repeats candidates on each m-line: counted once');
    assert.equal(summarizeCandidates(list), 'host/udp private, srflx/udp public');
    assert.equal(summarizeCandidates([c('host', '10.0.0.2'), c('host', '10.0.0.3'), c('host', '1.2.3.4', 'tcp')]), 'host/udp private ×2, host/tcp public');
    assert.equal(summarizeCandidates([]), 'no candidates');
  });

  test('the hint fits what was offered', () => {
    const base = { remote: [c('host', '192.168.1.9'), c('srflx', '52.1.2.3')], pairs: 4, succeeded: 0 };
    const noTurn = explainIceFailure({ ...base, local: [c('host', '10.0.0.2')], turnConfigured: false });
    assert.equal(noTurn, 'ICE failed: no candidate pair succeeded (4 checked). porchlight offered host/udp private; the viewer offered host/udp private, srflx/udp public. '
      + 'Hint: porchlight and the viewer cannot reach each other directly: add a TURN server both can reach to webrtc.iceServers (turn:host:3478 with username and credential).');
    assert.match(explainIceFailure({ ...base, local: [c('host', '10.0.0.2')], turnConfigured: true }), /configured TURN server gave no relay for this session/);
    assert.match(explainIceFailure({ ...base, local: [c('host', '10.0.0.2'), c('relay', '52.9.9.9')], turnConfigured: true }), /carried a TURN relay but the viewer never reached it/);
    assert.match(explainIceFailure({ ...base, pairs: 0, local: [c('host', '10.0.0.2')], turnConfigured: false }), /no candidate pair could be formed/);
  });
});

describe('a session that never connects', () => {
  const owned: Array<{ close(): unknown }> = [];
  after(async () => {
    for (const resource of owned.reverse()) await resource.close();
  });

  test('ends as ice-failed with what each side offered; the viewer\'s addresses only at debug; the console lists it', async () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'debug', destination: new Writable({ write(chunk, _e, done) { lines.push(chunk.toString()); done(); } }) });
    const demo = { id: 'demo', name: 'Demo', kind: 'camera' as const, url: `file:${DEMO_CLIP}`, talkback: 'none' as const, transcode: 'auto' as const, preload: false };
    const streams = new CameraStreams({ cameras: [demo], defaultLingerSec: 0, ffmpegPath: () => 'ffmpeg', log });
    const outcomes: string[] = [];
    const sessions = new SessionManager({
      streams, log,
      ice: { iceServers: [], hostAddresses: ['127.0.0.1'], excludedAddresses: [] },
      ports: new UdpPortPool([45650, 45699], 1),
      answerTimeoutMs: 5000, connectTimeoutMs: 600, maxSessionMs: 600_000, maxViewersPerCamera: 10,
      observer: { answered: () => {}, refused: () => {}, closed: (reason) => outcomes.push(reason), firstMedia: () => {} },
    });
    owned.push(streams, sessions);
    // Loopback, but an address nothing listens on and porchlight does not use.
    const offer = fixture('echo-show-design').replace(/^(a=candidate:\S+ \d+ \S+ \d+ )127\.0\.0\.1/gm, '$1127.0.0.3');
    await sessions.offer({ sessionId: 'unreachable', cameraId: 'demo', offerSdp: offer });
    await until('the connect timeout', () => sessions.size === 0, 3000);

    assert.deepEqual(outcomes, ['ice-failed']);
    const [ended] = sessions.ended();
    assert.equal(ended?.id, 'unreachable');
    assert.equal(ended?.outcome, 'ice-failed');
    assert.match(ended?.detail ?? '', /^ICE failed: no candidate pair succeeded \(\d+ checked\)\. porchlight offered host\/udp loopback; the viewer offered host\/udp loopback.*Hint: .*add a TURN server/);

    const entries = lines.join('').trim().split('\n').map((l) => JSON.parse(l));
    const warning = entries.find((e) => e.level === 'warn' && e.reason === 'ice-failed');
    assert.ok(warning, 'no warning for the failed session');
    assert.equal(warning.msg, ended?.detail);
    assert.match(warning.viewer, /^host\/udp loopback, host\/tcp loopback/);
    for (const entry of entries.filter((e) => e.level !== 'debug' && e.level !== 'trace')) assert.ok(!JSON.stringify(entry).includes('127.0.0.3'), `viewer address above debug: ${JSON.stringify(entry)}`);
    assert.ok(entries.some((e) => e.level === 'debug' && String(e.viewer).includes('127.0.0.3')), 'the addresses are in the debug log');

    const backend = new ConsoleBackend({
      cameras: () => [{ id: 'demo', name: 'Demo', kind: 'camera', talkback: 'none' }],
      dispatch: async () => assert.fail('no directive expected'),
      health: () => undefined, stream: () => undefined, talkback: () => undefined, events: () => undefined,
      sessions: () => sessions.list(),
      endedSessions: () => sessions.ended(),
      alexa: () => ({ configured: false, linked: false, queued: 0, delivered: 0, dropped: 0, failing: false, relinkNeeded: false }),
    });
    const status = backend.status();
    assert.deepEqual(status.sessions, []);
    assert.deepEqual(status.ended?.map((s) => [s.id, s.camera, s.outcome, s.detail]), [['unreachable', 'demo', 'ice-failed', ended?.detail]]);
  });
});
