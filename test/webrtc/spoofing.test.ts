/**
 * Spoofed datagrams against a live view. A host on the LAN (127.0.0.9 here: all of 127/8 is
 * loopback on Linux) that can reach the bridge's UDP range must not be able to end a live view
 * with one forged DTLS record, nor use the bridge's ICE agent as a STUN reflector/amplifier.
 * Fixed in werift 0.25 by patches/werift+0.25.2.patch (applied by patch-package at install):
 *  - DTLS: after the handshake, records that are not protected by the negotiated keys (epoch-0
 *    plaintext, unknown content types, plaintext "alerts" at a later epoch) are dropped;
 *  - ICE: datagrams from any address but the selected pair's remote are dropped; a STUN request
 *    is answered (and a peer-reflexive candidate learned) only with USERNAME = "<local ufrag>:…"
 *    and a MESSAGE-INTEGRITY made with the local password; at most 50 remote candidates.
 *
 * Each test opens its own viewer (a werift Echo stand-in) and checks that its video keeps coming
 * at the rate it had before the attack.
 */
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { crc32 } from 'node:zlib';
import { Connection, type RTCPeerConnection, type RtpPacket } from 'werift';
import { DEMO_CLIP } from '../../src/config/load.ts';
import { startBridge, type TestBridge } from '../helpers/bridge.ts';
import { directive } from '../helpers/directives.ts';
import { echoViewer } from '../helpers/echo-offer.ts';
import { until } from '../helpers/until.ts';
import { checkWeriftPatch } from '../../src/webrtc/werift-guard.ts';

const RTC = 'Alexa.RTCSessionController';
/** No other test uses these ports. */
const FIRST_PORT = 44400;
const LAST_PORT = 44499;
const ATTACKER = '127.0.0.9';
/** The cap on remote candidates per ICE agent that the werift patch sets. */
const MAX_REMOTE_CANDIDATES = 50;

let bridge: TestBridge;
const peers: RTCPeerConnection[] = [];
const sockets: Socket[] = [];

/**
 * The bridge's werift ICE agents, to read a session's remote candidates (Session keeps its peer
 * connection private). Recorded when an agent gathers; behaviour is unchanged.
 */
const agents = new Set<Connection>();
const originalGather = Connection.prototype.gatherCandidates;

before(async () => {
  Connection.prototype.gatherCandidates = function gatherCandidates(this: Connection) {
    agents.add(this);
    return originalGather.call(this);
  };
  bridge = await startBridge({
    webrtc: { hostAddresses: ['127.0.0.1'], udpPorts: `${FIRST_PORT}-${LAST_PORT}` },
    cameras: [{ id: 'demo', name: 'Demo', url: `file:${DEMO_CLIP}` }],
  });
});

after(async () => {
  for (const socket of sockets) socket.close();
  await Promise.all(peers.map((pc) => pc.close()));
  await bridge?.close();
  Connection.prototype.gatherCandidates = originalGather;
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Viewer {
  sessionId: string;
  pc: RTCPeerConnection;
  /** The bridge's ICE credentials and UDP ports, from its answer. */
  ufrag: string;
  pwd: string;
  ports: number[];
  /** The bridge's ICE agent for this session. */
  agent: Connection;
  videoPackets: number;
}

/** An Echo-shaped werift viewer with a live session on the bridge, video already flowing. */
async function openViewer(sessionId: string): Promise<Viewer> {
  const { pc, offer } = await echoViewer();
  peers.push(pc);
  const { status, json } = await bridge.postAlexa(directive(RTC, 'InitiateSessionWithOffer', {
    endpointId: 'demo', payload: { sessionId, offer: { format: 'SDP', value: offer } },
  }));
  assert.equal(status, 200);
  assert.equal(json.event.header.name, 'AnswerGeneratedForSession', JSON.stringify(json.event.payload));
  const answer: string = json.event.payload.answer.value;
  await pc.setRemoteDescription({ type: 'answer', sdp: answer });
  const ufrag = /^a=ice-ufrag:(\S+)/m.exec(answer)?.[1];
  const pwd = /^a=ice-pwd:(\S+)/m.exec(answer)?.[1];
  const ports = [...answer.matchAll(/^a=candidate:\S+ 1 udp \d+ 127\.0\.0\.1 (\d+) typ host/gim)].map((m) => Number(m[1]));
  assert.ok(ufrag && pwd && ports.length > 0, answer);
  const agent = [...agents].find((a) => a.localUsername === ufrag);
  assert.ok(agent, 'the bridge\'s ICE agent for this session');
  const viewer: Viewer = { sessionId, pc, ufrag, pwd, ports, agent, videoPackets: 0 };
  const video = pc.getTransceivers().find((t) => t.kind === 'video')!;
  video.receiver.track.onReceiveRtp.subscribe((_rtp: RtpPacket) => {
    viewer.videoPackets += 1;
  });
  await until('video at the viewer', () => viewer.videoPackets > 0, 10_000);
  return viewer;
}

/** Hangs up: the viewer closes and Alexa says so. */
async function closeViewer(viewer: Viewer): Promise<void> {
  await viewer.pc.close();
  await bridge.postAlexa(directive(RTC, 'SessionDisconnected', { endpointId: 'demo', payload: { sessionId: viewer.sessionId } }));
}

/** Video packets per second at the viewer over `ms`. */
async function videoRate(viewer: Viewer, ms: number): Promise<number> {
  const start = viewer.videoPackets;
  await sleep(ms);
  return ((viewer.videoPackets - start) * 1000) / ms;
}

async function assertVideoKeepsFlowing(t: TestContext, viewer: Viewer, before: number, what: string): Promise<void> {
  const afterRate = await videoRate(viewer, 3000);
  t.diagnostic(`${what}: ${before.toFixed(1)} video packets/s before, ${afterRate.toFixed(1)} after`);
  assert.ok(afterRate >= before * 0.5 && afterRate > 0, `${what}: video at ${afterRate.toFixed(1)} packets/s after, ${before.toFixed(1)} before`);
  const session = bridge.app.sessions.list().find((s) => s.id === viewer.sessionId);
  assert.equal(session?.state, 'connected', 'the session is still connected');
}

/** A UDP socket on the attacker's address, recording what it receives. */
async function attackerSocket(): Promise<Socket & { received: Buffer[] }> {
  const socket = Object.assign(createSocket('udp4'), { received: [] as Buffer[] });
  sockets.push(socket);
  socket.on('message', (message) => socket.received.push(message));
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, ATTACKER, () => resolve());
  });
  return socket;
}

function send(socket: Socket, data: Buffer, port: number): Promise<void> {
  return new Promise((resolve, reject) => socket.send(data, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
}

// --- DTLS records (RFC 6347 §4.1), built by hand ------------------------------------------------

function dtlsRecord(contentType: number, epoch: number, fragment: Buffer, sequence = 1): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt8(contentType, 0);
  header.writeUInt16BE(0xfefd, 1); // DTLS 1.2
  header.writeUInt16BE(epoch, 3);
  header.writeUIntBE(sequence, 5, 6);
  header.writeUInt16BE(fragment.length, 11);
  return Buffer.concat([header, fragment]);
}

const WARNING = 1;
const FATAL = 2;
/** A plaintext alert record: 15 bytes. */
const alert = (level: number, description: number, epoch = 0) => dtlsRecord(21, epoch, Buffer.from([level, description]));

/** A close_notify encrypted with the viewer's DTLS keys: what a real viewer sends when it hangs up. */
function genuineCloseNotify(pc: RTCPeerConnection): Buffer {
  const socket = pc.dtlsTransports[0]?.dtls;
  assert.ok(socket, 'the viewer\'s DTLS session');
  const header = {
    contentType: 21, protocolVersion: socket.dtls.version, epoch: socket.dtls.epoch,
    sequenceNumber: ++socket.dtls.recordSequenceNumber, contentLen: 2,
  };
  type Plaintext = Parameters<typeof socket.cipher.encryptPacket>[0];
  const sealed = socket.cipher.encryptPacket({ recordLayerHeader: header, fragment: Buffer.from([WARNING, 0]) } as unknown as Plaintext);
  return dtlsRecord(21, header.epoch, sealed.fragment, header.sequenceNumber);
}

/** Everything an attacker can forge without the session keys. */
function forgedRecords(): Buffer[] {
  const handshakeHeader = Buffer.alloc(12);
  handshakeHeader.writeUInt8(3, 0); // hello_verify_request
  handshakeHeader.writeUIntBE(20, 1, 3);
  handshakeHeader.writeUIntBE(20, 9, 3);
  return [
    alert(WARNING, 0), // close_notify, epoch 0
    alert(FATAL, 40), // handshake_failure, epoch 0
    alert(WARNING, 0, 1), // a plaintext close_notify claiming epoch 1
    alert(FATAL, 10, 1),
    dtlsRecord(20, 0, Buffer.from([1])), // change_cipher_spec, epoch 0
    dtlsRecord(22, 0, Buffer.concat([handshakeHeader, randomBytes(20)])), // a garbled handshake message, epoch 0
    dtlsRecord(23, 1, randomBytes(40)), // application data that fails authentication
    dtlsRecord(24, 0, randomBytes(20)), // unknown content types
    dtlsRecord(25, 1, randomBytes(20)),
    dtlsRecord(63, 0, randomBytes(3)),
    Buffer.concat([Buffer.from([40]), randomBytes(100)]), // garbage classified as DTLS
    Buffer.from([22, 0xfe]), // a truncated record
    randomBytes(64),
  ];
}

// --- STUN (RFC 5389), built by hand -------------------------------------------------------------

const MAGIC_COOKIE = 0x2112a442;

function stunAttribute(type: number, value: Buffer): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt16BE(type, 0);
  header.writeUInt16BE(value.length, 2);
  return Buffer.concat([header, value, Buffer.alloc((4 - (value.length % 4)) % 4)]);
}

/** A STUN request; with `integrityKey`, MESSAGE-INTEGRITY made with it; always a FINGERPRINT. */
function stunRequest(options: { method?: number; username?: string; integrityKey?: string; controlling?: boolean }): Buffer {
  const attributes: Buffer[] = [];
  if (options.username !== undefined) attributes.push(stunAttribute(0x0006, Buffer.from(options.username)));
  const priority = Buffer.alloc(4);
  priority.writeUInt32BE(1853824767);
  attributes.push(stunAttribute(0x0024, priority));
  if (options.controlling ?? true) attributes.push(stunAttribute(0x802a, randomBytes(8))); // ICE-CONTROLLING
  const header = (extra: number, body: Buffer) => {
    const h = Buffer.alloc(20);
    h.writeUInt16BE(options.method ?? 0x0001, 0); // Binding request
    h.writeUInt16BE(body.length + extra, 2);
    h.writeUInt32BE(MAGIC_COOKIE, 4);
    transactionId.copy(h, 8);
    return h;
  };
  const transactionId = randomBytes(12);
  let body = Buffer.concat(attributes);
  if (options.integrityKey !== undefined) {
    const mac = createHmac('sha1', options.integrityKey).update(Buffer.concat([header(24, body), body])).digest();
    body = Buffer.concat([body, stunAttribute(0x0008, mac)]);
  }
  const fingerprint = Buffer.alloc(4);
  fingerprint.writeUInt32BE((crc32(Buffer.concat([header(8, body), body])) ^ 0x5354554e) >>> 0);
  body = Buffer.concat([body, stunAttribute(0x8028, fingerprint)]);
  return Buffer.concat([header(0, body), body]);
}

const isStunBindingRequest = (message: Buffer) => message.length >= 20 && message.readUInt16BE(0) === 0x0001 && message.readUInt32BE(4) === MAGIC_COOKIE;
const isStunSuccess = (message: Buffer) => message.length >= 20 && message.readUInt16BE(0) === 0x0101 && message.readUInt32BE(4) === MAGIC_COOKIE;

// --- the tests ------------------------------------------------------------------------------------

test('the werift that Node loads carries porchlight\'s patch', () => {
  assert.deepEqual(checkWeriftPatch().missing, [], 'werift is unpatched: run npm ci (its postinstall runs patch-package)');
});

test('DTLS alerts, unknown records and garbage from another host, to every port of the range, do not stop the video', async (t) => {
  const viewer = await openViewer('spoof-dtls-sweep');
  t.after(() => closeViewer(viewer));
  const rateBefore = await videoRate(viewer, 1500);
  const attacker = await attackerSocket();
  for (let round = 0; round < 2; round += 1) {
    for (let port = FIRST_PORT; port <= LAST_PORT; port += 1) {
      for (const record of forgedRecords()) await send(attacker, record, port);
    }
  }
  await assertVideoKeepsFlowing(t, viewer, rateBefore, 'after DTLS records from 127.0.0.9 to every port');
  assert.ok(!viewer.agent.remoteCandidates.some((c) => c.host === ATTACKER), 'no candidate learned from the attacker');
});

test('DTLS records forged with the viewer\'s own address and port (a spoofed source) do not stop the video', async (t) => {
  const viewer = await openViewer('spoof-dtls-source');
  t.after(() => closeViewer(viewer));
  const rateBefore = await videoRate(viewer, 1500);
  // The viewer's selected pair: sending on its socket is what an attacker spoofing the viewer's
  // source address achieves. Only the DTLS layer can tell these records from the viewer's own.
  const [transport] = viewer.pc.iceTransports;
  const pair = transport?.connection.nominated;
  assert.ok(pair, 'the viewer has a selected candidate pair');
  assert.ok(viewer.ports.includes(pair.remoteAddr[1]), `the pair goes to the bridge's port ${pair.remoteAddr[1]}`);
  for (let round = 0; round < 3; round += 1) {
    for (const record of forgedRecords()) await pair.protocol.sendData(record, pair.remoteAddr);
  }
  await assertVideoKeepsFlowing(t, viewer, rateBefore, 'after DTLS records from the viewer\'s address');
  // The same path still carries what the viewer really says: its encrypted close_notify ends DTLS.
  await pair.protocol.sendData(genuineCloseNotify(viewer.pc), pair.remoteAddr);
  await sleep(300);
  assert.equal(await videoRate(viewer, 1000), 0, 'a genuine close_notify stops the video');
});

test('STUN requests without valid credentials get no answer and no triggered check, and teach no candidate', async (t) => {
  const viewer = await openViewer('spoof-stun');
  t.after(() => closeViewer(viewer));
  const rateBefore = await videoRate(viewer, 1000);
  const attacker = await attackerSocket();
  const candidatesBefore = viewer.agent.remoteCandidates.length;
  const requests = [
    stunRequest({ username: `${viewer.ufrag}:evil` }), // no MESSAGE-INTEGRITY
    stunRequest({ username: `wrong:evil`, integrityKey: viewer.pwd }), // not our ufrag
    stunRequest({ username: `${viewer.ufrag}:evil`, integrityKey: 'not-the-password-at-all' }), // wrong integrity
    stunRequest({ username: `${viewer.ufrag}:evil`, integrityKey: viewer.pwd.slice(1) }),
    stunRequest({}), // no USERNAME
    stunRequest({ username: `__proto__:evil`, integrityKey: viewer.pwd }),
    stunRequest({ method: 0x0003, username: `${viewer.ufrag}:evil` }), // not a Binding request
  ];
  let sentBytes = 0;
  for (let round = 0; round < 3; round += 1) {
    for (const port of viewer.ports) {
      for (const request of requests) {
        await send(attacker, request, port);
        sentBytes += request.length;
      }
    }
  }
  // werift's triggered checks start at once and retransmit from 50 ms on.
  await sleep(1500);
  const receivedBytes = attacker.received.reduce((n, m) => n + m.length, 0);
  const checks = attacker.received.filter(isStunBindingRequest).length;
  t.diagnostic(`attacker sent ${sentBytes} bytes, received ${receivedBytes} bytes in ${attacker.received.length} datagrams (${checks} Binding requests)`);
  assert.equal(checks, 0, `the bridge sent ${checks} Binding requests (triggered checks) to the attacker`);
  assert.ok(receivedBytes <= sentBytes, `the attacker sent ${sentBytes} bytes and received ${receivedBytes}`);
  assert.equal(attacker.received.length, 0, `${attacker.received.length} replies to unauthenticated requests`);
  assert.ok(!viewer.agent.remoteCandidates.some((c) => c.host === ATTACKER), 'no peer-reflexive candidate learned from the attacker');
  assert.equal(viewer.agent.remoteCandidates.length, candidatesBefore);
  await assertVideoKeepsFlowing(t, viewer, rateBefore, 'after unauthenticated STUN');
});

test(`remote candidates are capped at ${MAX_REMOTE_CANDIDATES}, even for a peer with the right credentials`, async (t) => {
  const viewer = await openViewer('spoof-stun-cap');
  t.after(() => closeViewer(viewer));
  const candidatesBefore = viewer.agent.remoteCandidates.length;
  // Correct credentials (a peer that read the answer) from 70 source ports: each one new.
  const sources = await Promise.all(Array.from({ length: MAX_REMOTE_CANDIDATES + 20 }, () => attackerSocket()));
  for (const socket of sources) await send(socket, stunRequest({ username: `${viewer.ufrag}:peer`, integrityKey: viewer.pwd }), viewer.ports[0]!);
  await sleep(300);
  const answered = sources.filter((socket) => socket.received.some(isStunSuccess)).length;
  const count = viewer.agent.remoteCandidates.length;
  t.diagnostic(`${count} remote candidates (${candidatesBefore} from the offer), ${answered} of ${sources.length} new sources answered`);
  assert.ok(count <= MAX_REMOTE_CANDIDATES, `${count} remote candidates (${candidatesBefore} from the offer)`);
  assert.ok(answered > 0, 'requests with the right credentials are answered');
  assert.equal(answered, MAX_REMOTE_CANDIDATES - candidatesBefore, `${answered} of ${sources.length} new sources answered`);
  const rate = await videoRate(viewer, 1000);
  assert.ok(rate > 0, 'video still flows');
});
