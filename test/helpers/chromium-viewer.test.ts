/**
 * Self-test of the Chromium viewer with werift as the answerer (no porchlight code): real H.264
 * and Opus from ffmpeg reach Chromium's decoder, and Chromium's fake microphone reaches werift.
 * Loopback only: werift binds and advertises 127.0.0.1 alone, the viewer's offer carries only
 * 127.0.0.1, and every candidate pair Chromium formed is checked to be 127.0.0.1 on both ends.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  MediaStreamTrack, RTCPeerConnection, RTCRtpCodecParameters, type RTCPeerConnectionConfig, type RtpPacket,
} from 'werift';
import { launchChromium, loopbackOnly, type ChromiumBrowser, type ChromiumViewer, type ViewerOptions } from './chromium-viewer.ts';

const LOOPBACK_ONLY: RTCPeerConnectionConfig = {
  iceUseIpv4: false,
  iceUseIpv6: false,
  iceAdditionalHostAddresses: ['127.0.0.1'],
  iceInterfaceAddresses: { udp4: '127.0.0.1' },
  // werift cannot switch STUN off (no iceServers means Google's): a dead loopback port, not waited for.
  iceServers: [{ urls: 'stun:127.0.0.1:9' }],
  iceStunGatherTimeout: 0,
  // Belt and braces: never answer a connectivity check from another address (werift otherwise
  // replies to whatever source a check came from).
  iceFilterStunResponse: (_message, [host]) => host === '127.0.0.1',
  iceFilterCandidatePair: (pair) => pair.remoteCandidate.host === '127.0.0.1',
  codecs: {
    video: [new RTCRtpCodecParameters({
      mimeType: 'video/H264', clockRate: 90000, rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }],
    })],
    audio: [new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2 })],
  },
};

/** One ffmpeg making live H.264 (640x360, 15 fps, 1 s GOP) and Opus RTP, fanned out to every track. */
class RtpSource {
  readonly video = new Set<MediaStreamTrack>();
  readonly audio = new Set<MediaStreamTrack>();
  private sockets: Socket[] = [];
  private ffmpeg?: ChildProcess;
  private stderr = '';

  async start(): Promise<void> {
    const [videoPort, audioPort] = [await this.socket(this.video), await this.socket(this.audio)];
    this.ffmpeg = spawn('/usr/bin/ffmpeg', [
      '-hide_banner', '-loglevel', 'error', '-nostdin',
      '-re', '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=15',
      '-re', '-f', 'lavfi', '-i', 'sine=f=440:sample_rate=48000',
      '-map', '0:v', '-c:v', 'libx264', '-profile:v', 'baseline', '-tune', 'zerolatency', '-g', '15', '-bf', '0',
      // RTCP to the same socket (dropped there), not to port + 1, which may be anyone's.
      '-f', 'rtp', '-payload_type', '96', `rtp://127.0.0.1:${videoPort}?pkt_size=1200&rtcpport=${videoPort}`,
      '-map', '1:a', '-c:a', 'libopus', '-b:a', '32k',
      '-f', 'rtp', '-payload_type', '111', `rtp://127.0.0.1:${audioPort}?pkt_size=1200&rtcpport=${audioPort}`,
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.ffmpeg.stderr!.on('data', (chunk: Buffer) => (this.stderr = (this.stderr + chunk).slice(-2000)));
  }

  /** A socket on 127.0.0.1 whose RTP (not RTCP: PT 200-204 after the marker bit) goes to tracks. */
  private async socket(tracks: Set<MediaStreamTrack>): Promise<number> {
    const socket = createSocket('udp4');
    this.sockets.push(socket);
    socket.on('message', (message) => {
      const payloadType = (message[1] ?? 0) & 0x7f;
      if (payloadType >= 72 && payloadType <= 76) return;
      for (const track of tracks) track.writeRtp(message);
    });
    socket.bind(0, '127.0.0.1');
    await once(socket, 'listening');
    return socket.address().port;
  }

  /** Fails fast with ffmpeg's own words if it died. */
  assertRunning(): void {
    assert.equal(this.ffmpeg?.exitCode, null, `ffmpeg exited: ${this.stderr}`);
  }

  async close(): Promise<void> {
    const ffmpeg = this.ffmpeg;
    if (ffmpeg && ffmpeg.exitCode === null && ffmpeg.signalCode === null) {
      const exited = once(ffmpeg, 'exit');
      ffmpeg.kill('SIGKILL');
      await exited;
    }
    for (const socket of this.sockets) socket.close();
    this.sockets = [];
  }
}

interface Answered {
  offer: string;
  pc: RTCPeerConnection;
  /** The page's clock just before the answer was applied. */
  answeredAt: number;
  /** RTP packets werift received on the audio transceiver (the viewer's microphone). */
  micPackets: RtpPacket[];
  /** Closes both peers and stops feeding this one. */
  hangUp(): Promise<void>;
}

/** The whole no-trickle exchange: viewer offer → werift answer → viewer. */
async function connect(viewer: ChromiumViewer, source: RtpSource, options: ViewerOptions): Promise<Answered> {
  const offer = await viewer.createOffer(options);
  const pc = new RTCPeerConnection(LOOPBACK_ONLY);
  peers.add(pc);
  const micPackets: RtpPacket[] = [];
  const tracks: MediaStreamTrack[] = [];
  pc.onTrack.subscribe((track) => {
    if (track.kind === 'audio') track.onReceiveRtp.subscribe((rtp) => micPackets.push(rtp));
  });
  await pc.setRemoteDescription({ type: 'offer', sdp: offer });
  for (const transceiver of pc.getTransceivers()) {
    const kind = transceiver.kind as 'video' | 'audio';
    // Talkback is answered sendrecv, as porchlight does for a camera with a backchannel.
    transceiver.setDirection(kind === 'audio' && options.audio === 'sendrecv' ? 'sendrecv' : 'sendonly');
    const track = new MediaStreamTrack({ kind });
    transceiver.sender.replaceTrack(track);
    source[kind].add(track);
    tracks.push(track);
  }
  await pc.setLocalDescription(await pc.createAnswer());
  const answer = pc.localDescription!.sdp;
  assert.match(answer, /a=candidate:\S+ 1 udp \d+ 127\.0\.0\.1 /);
  const answeredAt = await viewer.markAnswerTime();
  await viewer.setAnswer(answer);
  const hangUp = async () => {
    for (const track of tracks) source[track.kind as 'video' | 'audio'].delete(track);
    await viewer.closePeer();
    await pc.close();
    peers.delete(pc);
  };
  return { offer, pc, answeredAt, micPackets, hangUp };
}

/** Running (not zombie) processes in this process's tree whose command is chromium. */
function ourChromiumPids(): number[] {
  const rows = execFileSync('ps', ['-eo', 'pid=,ppid=,stat=,comm='], { encoding: 'utf8' }).trim().split('\n')
    .map((row) => row.trim().split(/\s+/)).map(([pid, ppid, stat, comm]) => ({ pid: Number(pid), ppid: Number(ppid), stat: stat ?? '', comm: comm ?? '' }));
  const tree = new Set([process.pid]);
  for (let grew = true; grew;) {
    grew = false;
    for (const row of rows) {
      if (!tree.has(row.pid) && tree.has(row.ppid)) {
        tree.add(row.pid);
        grew = true;
      }
    }
  }
  return rows.filter((row) => tree.has(row.pid) && row.comm === 'chromium' && !row.stat.startsWith('Z')).map((row) => row.pid);
}

const peers = new Set<RTCPeerConnection>();
const onlyLoopbackPairs = (pairs: string[]) => pairs.every((pair) => /^127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+ /.test(pair));

describe('Chromium viewer (werift answerer)', { timeout: 40_000 }, () => {
  let browser: ChromiumBrowser;
  const source = new RtpSource();

  before(async () => {
    [browser] = await Promise.all([launchChromium(), source.start()]);
  });
  after(async () => {
    await Promise.all([...peers].map((pc) => pc.close()));
    await source.close();
    await browser?.close();
  });

  test('loopbackOnly keeps IPv4 UDP host candidates on 127.0.0.1 and drops the rest', () => {
    const offer = [
      'v=0', 'm=video 50000 UDP/TLS/RTP/SAVPF 96', 'c=IN IP4 192.0.2.2',
      'a=candidate:1 1 udp 2113937151 192.0.2.2 50000 typ host generation 0 network-cost 999',
      'a=candidate:2 1 udp 2113937151 0b1c5e1e-2d52-4bd0-8d8a-1e2d3c4b5a69.local 50001 typ host',
      'a=candidate:3 1 udp 2113939711 2001:db8::1 50002 typ host',
      'a=candidate:4 1 tcp 1518280447 127.0.0.1 9 typ host tcptype active',
      'a=candidate:5 1 udp 1685987071 203.0.113.9 50003 typ srflx raddr 0.0.0.0 rport 0',
      'a=rtpmap:96 H264/90000', '',
    ].join('\r\n');
    assert.equal(loopbackOnly(offer), [
      'v=0', 'm=video 50000 UDP/TLS/RTP/SAVPF 96', 'c=IN IP4 127.0.0.1',
      'a=candidate:1 1 udp 2113937151 127.0.0.1 50000 typ host generation 0 network-cost 999',
      'a=rtpmap:96 H264/90000', '',
    ].join('\r\n'));
  });

  test('decodes real H.264 and receives Opus', async (t) => {
    const viewer = await browser.newViewer();
    const { offer, answeredAt, hangUp } = await connect(viewer, source, { audio: 'recvonly' });
    assert.match(offer, /a=rtpmap:\d+ H264\/90000/, 'this Chromium offers no H.264');
    const candidates = offer.match(/^a=candidate:.*$/gm) ?? [];
    assert.ok(candidates.length > 0 && candidates.every((line) => / udp \d+ 127\.0\.0\.1 \d+ typ host/.test(line)), candidates.join('\n'));
    source.assertRunning();
    const stats = await viewer.waitFor((s) => s.framesDecoded >= 30 && s.audioPacketsReceived > 0, 15_000);
    assert.equal(stats.frameWidth, 640);
    assert.equal(stats.frameHeight, 360);
    assert.equal(stats.codec, 'video/H264');
    assert.equal(stats.connectionState, 'connected');
    assert.ok(stats.videoBytesReceived > 0 && stats.audioBytesReceived > 0);
    assert.ok(stats.decoderImplementation, 'decoderImplementation reported');
    assert.ok(stats.firstFrameAtMs !== undefined && stats.firstFrameAtMs > answeredAt, 'first frame after the answer');
    assert.ok(onlyLoopbackPairs(stats.candidatePairs), stats.candidatePairs.join('\n'));
    t.diagnostic(`decoder ${stats.decoderImplementation}, audioLevel ${stats.audioLevel}, first frame ${Math.round(stats.firstFrameAtMs - answeredAt)} ms after the answer`);

    const dir = mkdtempSync(join(tmpdir(), 'porchlight-shot-'));
    try {
      await viewer.screenshot(join(dir, 'viewer.png'));
      assert.deepEqual([...readFileSync(join(dir, 'viewer.png')).subarray(1, 4)], [...Buffer.from('PNG')]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }

    await hangUp();
    assert.equal((await viewer.stats()).connectionState, 'closed');
  });

  test("werift receives Chromium's fake microphone (sendrecv)", async () => {
    const viewer = await browser.newViewer();
    const { pc, micPackets, hangUp } = await connect(viewer, source, { audio: 'sendrecv' });
    const stats = await viewer.waitFor((s) => s.framesDecoded >= 5 && s.audioPacketsReceived > 0, 15_000);
    assert.ok(onlyLoopbackPairs(stats.candidatePairs), stats.candidatePairs.join('\n'));
    const deadline = Date.now() + 5000;
    while (micPackets.length < 25 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.ok(micPackets.length >= 25, `werift got ${micPackets.length} RTP packets from the microphone`);
    const opus = pc.getTransceivers().find((t) => t.kind === 'audio')!.codecs.find((c) => c.mimeType.toLowerCase() === 'audio/opus');
    assert.ok(opus && micPackets.some((rtp) => rtp.header.payloadType === opus.payloadType), 'microphone RTP is Opus');
    assert.ok(micPackets.some((rtp) => rtp.payload.length > 10), 'microphone RTP carries audio, not only DTX');
    await hangUp();
  });

  test('close() leaves no Chromium process and can be called again', async () => {
    const before = ourChromiumPids();
    assert.ok(before.length >= 3, `browser, zygote and renderer expected, found ${before.length}`);
    await browser.close();
    await browser.close();
    const alive = ourChromiumPids().filter((pid) => before.includes(pid));
    assert.deepEqual(alive, []);
  });
});
