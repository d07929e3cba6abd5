import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { resolveFfmpegPath } from '../../src/camera/ffmpeg-path.ts';
import { carriesSps, extractParameterSets, nalUnitTypes, parseSpsDimensions, startsKeyframe } from '../../src/camera/h264.ts';
import { KeyframeCache, type KeyframeCacheOptions } from '../../src/camera/keyframe-cache.ts';
import { isRtcp, parseRtpHeader, rtpPayload, type RtpHeader } from '../../src/camera/rtp.ts';

const SSRC = 0xdeadbeef;

// H.264 RTP payloads (RFC 6184) by what they carry; -s/-m/-e: FU-A start, middle, end fragment.
const PAYLOADS = {
  sps: [0x67, 0x42, 0xc0, 0x1f, 0xd9, 0x00, 0x50, 0x05, 0xbb, 0x01],
  pps: [0x68, 0xcb, 0x83, 0xcb, 0x20],
  'stap-sps-pps': [0x78, 0x00, 0x04, 0x67, 0x42, 0xc0, 0x1f, 0x00, 0x03, 0x68, 0xcb, 0x83],
  sei: [0x06, 0x05, 0x01, 0x00],
  aud: [0x09, 0xf0],
  idr: [0x65, 0x88, 0x84, 0x00, 0x33],
  'idr-s': [0x7c, 0x85, 0x88, 0x84, 0x00, 0x33, 0x21],
  'idr-m': [0x7c, 0x05, 0x11, 0x22, 0x33, 0x44, 0x55],
  'idr-e': [0x7c, 0x45, 0x66, 0x77, 0x88],
  p: [0x41, 0x9a, 0x02, 0x03],
  'p-s': [0x5c, 0x81, 0x9a, 0x02, 0x03],
  'p-m': [0x5c, 0x01, 0x04, 0x05],
  'p-e': [0x5c, 0x41, 0x06],
} as const;
type Kind = keyof typeof PAYLOADS;
type Step = [Kind, number] | [Kind, number, { ssrc: number }]; // kind, RTP timestamp

interface Packet {
  packet: Buffer;
  header: RtpHeader;
}

function rtp(seq: number, timestamp: number, payload: readonly number[], ssrc = SSRC): Packet {
  const packet = Buffer.alloc(12 + payload.length);
  packet[0] = 0x80;
  packet[1] = 96;
  packet.writeUInt16BE(seq & 0xffff, 2);
  packet.writeUInt32BE(timestamp >>> 0, 4);
  packet.writeUInt32BE(ssrc, 8);
  Buffer.from(payload).copy(packet, 12);
  return { packet, header: parseRtpHeader(packet)! };
}

function build(steps: readonly Step[]): Packet[] {
  return steps.map(([kind, timestamp, extra], i) => rtp(1000 + i, timestamp, PAYLOADS[kind], extra?.ssrc));
}

/** Pushes every step and returns which step indexes the snapshot holds (by identity). */
function run(steps: readonly Step[], options?: KeyframeCacheOptions): { cache: KeyframeCache; packets: Packet[]; cached: number[] } {
  const cache = new KeyframeCache(options);
  const packets = build(steps);
  for (const { packet, header } of packets) cache.push(packet, header);
  const cached = cache.snapshot().map((buffer) => packets.findIndex((p) => p.packet === buffer));
  return { cache, packets, cached };
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('KeyframeCache: what is cached', () => {
  const cases: Array<[string, Step[], number[]]> = [
    ['nothing before the first keyframe', [['p', 0], ['p-s', 3000], ['p-m', 3000], ['p-e', 3000], ['idr-m', 6000], ['idr-e', 6000]], []],
    ['SPS + PPS + FU-A IDR + P-frames, in order',
      [['sps', 0], ['pps', 0], ['idr-s', 0], ['idr-m', 0], ['idr-e', 0], ['p', 6000], ['p-s', 12000], ['p-m', 12000], ['p-e', 12000]], range(0, 8)],
    ['P-frames before the first keyframe are skipped',
      [['p', 0], ['p-s', 3000], ['p-e', 3000], ['sps', 6000], ['pps', 6000], ['idr-s', 6000], ['idr-e', 6000], ['p', 9000]], range(3, 7)],
    ['a new keyframe starts over',
      [['sps', 0], ['pps', 0], ['idr', 0], ['p', 3000], ['sps', 6000], ['pps', 6000], ['idr-s', 6000], ['idr-e', 6000], ['p', 9000]], range(4, 8)],
    ['a multi-slice IDR (several starts, one timestamp) is one keyframe',
      [['sps', 0], ['pps', 0], ['idr-s', 0], ['idr-e', 0], ['idr-s', 0], ['idr-m', 0], ['idr-e', 0], ['idr', 0], ['p', 3000]], range(0, 8)],
    ['SPS repeated inside the keyframe is not a reset',
      [['sps', 0], ['pps', 0], ['idr-s', 0], ['sps', 0], ['pps', 0], ['idr-e', 0], ['p', 3000]], range(0, 6)],
    ['ffmpeg style: STAP-A SPS+PPS, then FU-A IDR',
      [['stap-sps-pps', 0], ['idr-s', 0], ['idr-e', 0], ['p', 3000], ['stap-sps-pps', 6000], ['idr-s', 6000], ['idr-e', 6000]], range(4, 6)],
    ['parameter sets only in the SDP: the IDR start begins the cache',
      [['p', 0], ['idr-s', 3000], ['idr-e', 3000], ['p', 6000], ['idr', 9000], ['p', 12000]], range(4, 5)],
    ['an SPS before a non-IDR I-frame is a keyframe too (cameras keying on recovery points)',
      [['aud', 0], ['sps', 3000], ['pps', 3000], ['sei', 3000], ['p-s', 3000], ['p-e', 3000], ['p', 6000]], range(1, 6)],
    ['keyframe at timestamp 0 then at 2^32 - 1',
      [['idr', 0], ['p', 3000], ['idr', 0xffffffff], ['p', 2999]], range(2, 3)],
    ['an IDR every frame: each one starts over', [['idr', 0], ['idr', 3000], ['idr', 6000]], [2]],
  ];
  for (const [name, steps, expected] of cases) {
    it(name, () => {
      const { cache, packets, cached } = run(steps);
      assert.deepEqual(cached, expected);
      assert.equal(cache.hasKeyframe, expected.length > 0);
      assert.equal(cache.packetCount, expected.length);
      assert.equal(cache.byteLength, expected.reduce((sum, i) => sum + packets[i]!.packet.length, 0));
      assert.equal(cache.overflowed, false);
    });
  }
});

describe('KeyframeCache: limits', () => {
  const GOP: Step[] = [['sps', 0], ['pps', 0], ['idr-s', 0], ['idr-e', 0], ['p', 3000], ['p', 6000], ['p', 9000]];
  const NEXT: Step[] = [['sps', 12000], ['idr', 12000], ['p', 15000]];
  const bytesOf = (steps: Step[]): number => build(steps).reduce((sum, p) => sum + p.packet.length, 0);
  const cases: Array<[string, KeyframeCacheOptions, Step[], number[], boolean]> = [
    ['maxPackets exactly reached is not an overflow', { maxPackets: 7 }, GOP, range(0, 6), false],
    ['maxPackets: appending stops at the limit', { maxPackets: 5 }, GOP, range(0, 4), true],
    ['maxPackets: the next keyframe starts over and clears overflowed', { maxPackets: 5 }, [...GOP, ...NEXT], range(7, 9), false],
    ['maxBytes: appending stops before the packet that would not fit', { maxBytes: bytesOf(GOP.slice(0, 5)) + 1 }, GOP, range(0, 4), true],
    ['maxBytes: a small packet that would fit after an overflow is not appended either',
      { maxBytes: bytesOf(GOP.slice(0, 5)) + 6 }, [...GOP.slice(0, 5), ['p', 6000], ['aud', 9000]], range(0, 4), true],
    ['a keyframe too big for the cache is dropped whole', { maxPackets: 3 }, GOP, [], true],
    ['its later slices (same timestamp) do not start a headless cache',
      { maxPackets: 3 }, [['sps', 0], ['pps', 0], ['idr-s', 0], ['idr-e', 0], ['idr-s', 0], ['idr-e', 0], ['p', 3000]], [], true],
    ['caching resumes at the next keyframe that fits', { maxPackets: 3 }, [...GOP, ...NEXT], range(7, 9), false],
  ];
  for (const [name, options, steps, expected, overflowed] of cases) {
    it(name, () => {
      const { cache, cached } = run(steps, options);
      assert.deepEqual(cached, expected);
      assert.equal(cache.overflowed, overflowed);
      assert.equal(cache.hasKeyframe, expected.length > 0);
    });
  }
});

describe('KeyframeCache: bookkeeping', () => {
  it('stores the packets themselves, and snapshot() is a copy of the list', () => {
    const cache = new KeyframeCache();
    const [a, b, c] = build([['idr', 0], ['p', 3000], ['p', 6000]]);
    cache.push(a!.packet, a!.header);
    cache.push(b!.packet, b!.header);
    const snapshot = cache.snapshot();
    cache.push(c!.packet, c!.header);
    assert.equal(snapshot.length, 2, 'later pushes do not grow an earlier snapshot');
    assert.equal(snapshot[0], a!.packet);
    assert.equal(cache.snapshot()[2], c!.packet);
  });

  it('keyframeAgeMs follows the injected clock and each new keyframe', () => {
    let now = 1_000;
    const cache = new KeyframeCache({ now: () => now });
    const packets = build([['p', 0], ['sps', 3000], ['idr', 3000], ['p', 6000], ['idr', 9000]]);
    const push = (i: number): void => cache.push(packets[i]!.packet, packets[i]!.header);
    push(0);
    assert.equal(cache.keyframeAgeMs(), undefined);
    assert.equal(cache.keyframeTimestamp, undefined);
    push(1);
    now = 1_040;
    push(2); // same keyframe: its age counts from the SPS
    now = 1_100;
    push(3);
    assert.equal(cache.keyframeAgeMs(), 100);
    assert.equal(cache.keyframeAgeMs(5_000), 4_000);
    assert.equal(cache.keyframeTimestamp, 3000);
    push(4);
    now = 1_130;
    assert.equal(cache.keyframeAgeMs(), 30);
    assert.equal(cache.keyframeTimestamp, 9000);
  });

  it('clear() forgets everything until the next keyframe', () => {
    const cache = new KeyframeCache();
    const packets = build([['idr', 0], ['p', 3000], ['p', 6000], ['idr', 9000]]);
    cache.push(packets[0]!.packet, packets[0]!.header);
    cache.push(packets[1]!.packet, packets[1]!.header);
    cache.clear();
    assert.deepEqual([cache.hasKeyframe, cache.packetCount, cache.byteLength, cache.keyframeAgeMs()], [false, 0, 0, undefined]);
    cache.push(packets[2]!.packet, packets[2]!.header);
    assert.equal(cache.hasKeyframe, false, 'a P-frame after clear() is not cached');
    cache.push(packets[3]!.packet, packets[3]!.header);
    assert.equal(cache.snapshot()[0], packets[3]!.packet);
  });

  it('a new SSRC (ffmpeg restarted) drops the old GOP', () => {
    const other = { ssrc: 0x01020304 };
    const { cached } = run([['idr', 0], ['p', 3000], ['p', 123456, other], ['p', 129456, other]]);
    assert.deepEqual(cached, []);
    const { cached: again } = run([['idr', 0], ['p', 3000], ['p', 123456, other], ['idr', 129456, other], ['p', 135456, other]]);
    assert.deepEqual(again, [3, 4]);
  });
});

// Real packets: libx264 through ffmpeg's RTP muxer (STAP-A SPS+PPS, FU-A slices, pkt_size 1200).
const ffmpeg = await resolveFfmpegPath();

describe('KeyframeCache on ffmpeg RTP output', { skip: ffmpeg === null ? 'no ffmpeg found' : false }, () => {
  let socket: Socket | undefined;
  let child: ChildProcess | undefined;

  after(() => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    socket?.close();
  });

  it('starts the cache at an SPS, finds a keyframe every 15 frames, reads 640x360', { timeout: 30_000 }, async () => {
    socket = createSocket('udp4');
    socket.bind(0, '127.0.0.1');
    await once(socket, 'listening');
    const messages: Buffer[] = [];
    socket.on('message', (message) => messages.push(message));

    const args = [
      '-hide_banner', '-nostdin', '-loglevel', 'error',
      '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=15', '-t', '3',
      // -sc_threshold 0: no extra scene-cut IDRs, so keyframes come exactly every -g frames
      '-c:v', 'libx264', '-g', '15', '-sc_threshold', '0', '-bf', '0', '-profile:v', 'baseline',
      '-f', 'rtp', '-payload_type', '96', `rtp://127.0.0.1:${socket.address().port}?pkt_size=1200`,
    ];
    const started = Date.now();
    child = spawn(ffmpeg!.path, args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 20_000 }); // stdout: the SDP
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 0, stderr);
    // Sent before exit, so already queued on the socket: wait for the event loop to drain it.
    for (let count = -1; count !== messages.length;) {
      count = messages.length;
      await sleep(50);
    }
    const ffmpegMs = Date.now() - started;

    const cache = new KeyframeCache();
    const frameTimestamps: number[] = [];
    const keyframeTimestamps: number[] = [];
    let keyframeStartPacket = -1;
    for (const message of messages) {
      if (isRtcp(message)) continue;
      const header = parseRtpHeader(message);
      assert.ok(header, 'ffmpeg sends valid RTP');
      assert.equal(header.payloadType, 96);
      const payload = rtpPayload(message, header);
      if (frameTimestamps.at(-1) !== header.timestamp) frameTimestamps.push(header.timestamp);
      if (startsKeyframe(payload) && keyframeTimestamps.at(-1) !== header.timestamp) {
        keyframeTimestamps.push(header.timestamp);
        keyframeStartPacket = messages.indexOf(message);
      }
      cache.push(message, header);
      // Whenever the cache holds something, it begins with a packet carrying the SPS.
      assert.ok(carriesSps(rtpPayload(cache.snapshot()[0]!, parseRtpHeader(cache.snapshot()[0]!)!)));
      assert.equal(cache.keyframeTimestamp, keyframeTimestamps.at(-1));
    }

    assert.equal(frameTimestamps.length, 45, '3 s at 15 fps');
    const keyframeIndexes = keyframeTimestamps.map((ts) => frameTimestamps.indexOf(ts));
    assert.deepEqual(keyframeIndexes, [0, 15, 30], 'one keyframe every 15 frames (-g 15)');
    for (let i = 1; i < keyframeTimestamps.length; i++) {
      assert.equal((keyframeTimestamps[i]! - keyframeTimestamps[i - 1]!) >>> 0, 15 * 6000, '15 frames of 6000 ticks (90 kHz)');
    }

    // The cache ends up holding exactly the last GOP: from the last keyframe's first packet on.
    const lastGop = messages.slice(keyframeStartPacket).filter((m) => !isRtcp(m));
    assert.deepEqual(cache.snapshot(), lastGop);
    assert.equal(cache.overflowed, false);
    const first = cache.snapshot()[0]!;
    const firstPayload = rtpPayload(first, parseRtpHeader(first)!);
    assert.deepEqual(nalUnitTypes(firstPayload).slice(0, 2), [7, 8], 'ffmpeg aggregates SPS+PPS in a STAP-A');
    const [sps] = extractParameterSets(firstPayload).sps;
    assert.ok(sps);
    const { levelIdc, ...size } = parseSpsDimensions(sps)!; // the level is x264's choice
    assert.deepEqual(size, { width: 640, height: 360, profileIdc: 66 });
    assert.ok(levelIdc >= 10 && levelIdc <= 62);
    assert.ok(ffmpegMs < 20_000);
  });
});
