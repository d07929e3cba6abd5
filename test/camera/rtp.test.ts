import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isRtcp, parseRtpHeader, rtpPayload, type RtpHeader } from '../../src/camera/rtp.ts';

interface PacketSpec {
  version?: number;
  marker?: boolean;
  payloadType?: number;
  sequenceNumber?: number;
  timestamp?: number;
  ssrc?: number;
  csrcs?: number[];
  extensionWords?: number; // header extension body length, in 32-bit words
  payload?: number[];
  padding?: number; // padding bytes, count byte included
}

/** Builds an RTP packet field by field (RFC 3550 §5.1). */
function packet(spec: PacketSpec = {}): Buffer {
  const csrcs = spec.csrcs ?? [];
  const parts: Buffer[] = [];
  const fixed = Buffer.alloc(12);
  fixed[0] = ((spec.version ?? 2) << 6) | ((spec.padding ?? 0) > 0 ? 0x20 : 0)
    | (spec.extensionWords !== undefined ? 0x10 : 0) | csrcs.length;
  fixed[1] = (spec.marker ? 0x80 : 0) | (spec.payloadType ?? 96);
  fixed.writeUInt16BE(spec.sequenceNumber ?? 1, 2);
  fixed.writeUInt32BE(spec.timestamp ?? 3000, 4);
  fixed.writeUInt32BE(spec.ssrc ?? 0x1234abcd, 8);
  parts.push(fixed);
  for (const csrc of csrcs) {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(csrc);
    parts.push(b);
  }
  if (spec.extensionWords !== undefined) {
    const ext = Buffer.alloc(4 + spec.extensionWords * 4, 0xee);
    ext.writeUInt16BE(0xbede, 0);
    ext.writeUInt16BE(spec.extensionWords, 2);
    parts.push(ext);
  }
  parts.push(Buffer.from(spec.payload ?? [0x65, 0x88, 0x84]));
  if (spec.padding) {
    const pad = Buffer.alloc(spec.padding);
    pad[spec.padding - 1] = spec.padding;
    parts.push(pad);
  }
  return Buffer.concat(parts);
}

const base: RtpHeader = {
  version: 2, padding: false, extension: false, marker: false, payloadType: 96,
  sequenceNumber: 1, timestamp: 3000, ssrc: 0x1234abcd, payloadOffset: 12, payloadLength: 3,
};

describe('parseRtpHeader: valid packets', () => {
  const cases: Array<[string, Buffer, Partial<RtpHeader>]> = [
    ['plain', packet(), {}],
    ['marker, PT 111, wrapping numbers', packet({ marker: true, payloadType: 111, sequenceNumber: 65535, timestamp: 0xffffffff, ssrc: 0xdeadbeef }),
      { marker: true, payloadType: 111, sequenceNumber: 65535, timestamp: 0xffffffff, ssrc: 0xdeadbeef }],
    ['two CSRCs', packet({ csrcs: [1, 2] }), { payloadOffset: 20 }],
    ['fifteen CSRCs', packet({ csrcs: Array.from({ length: 15 }, (_, i) => i) }), { payloadOffset: 72 }],
    ['header extension, 1 word', packet({ extensionWords: 1 }), { extension: true, payloadOffset: 20 }],
    ['header extension, 0 words', packet({ extensionWords: 0 }), { extension: true, payloadOffset: 16 }],
    ['CSRC and extension', packet({ csrcs: [7], extensionWords: 2 }), { extension: true, payloadOffset: 28 }],
    ['padding 4', packet({ padding: 4 }), { padding: true, payloadLength: 3 }],
    ['padding 1 (count byte only)', packet({ padding: 1 }), { padding: true, payloadLength: 3 }],
    ['padding eats the whole payload', packet({ payload: [], padding: 5 }), { padding: true, payloadLength: 0 }],
    ['empty payload', packet({ payload: [] }), { payloadLength: 0 }],
    ['everything', packet({ csrcs: [9], extensionWords: 1, padding: 2, payload: [1, 2, 3, 4, 5] }),
      { padding: true, extension: true, payloadOffset: 24, payloadLength: 5 }],
  ];
  for (const [name, bytes, expected] of cases) {
    it(name, () => assert.deepEqual(parseRtpHeader(bytes), { ...base, ...expected }));
  }
});

describe('parseRtpHeader: not RTP', () => {
  const truncatedExtension = packet({ extensionWords: 3 }).subarray(0, 20);
  const paddingZero = packet();
  paddingZero[0]! |= 0x20; // padding flag set, last byte (0x84 → 132) runs past the start
  const paddingCountZero = Buffer.concat([packet(), Buffer.from([0])]);
  paddingCountZero[0]! |= 0x20;
  const cases: Array<[string, Buffer]> = [
    ['empty', Buffer.alloc(0)],
    ['11 bytes', packet().subarray(0, 11)],
    ['version 0', packet({ version: 0 })],
    ['version 1', packet({ version: 1 })],
    ['version 3', packet({ version: 3 })],
    ['CSRC list past the end', packet({ csrcs: [1, 2, 3], payload: [] }).subarray(0, 20)],
    ['extension header past the end', packet({ extensionWords: 0, payload: [] }).subarray(0, 14)],
    ['extension length past the end', truncatedExtension],
    ['padding count past the payload', paddingZero],
    ['padding count 0', paddingCountZero],
    ['padding reaching into the header', (() => {
      const p = packet({ payload: [], padding: 4 });
      p[p.length - 1] = 5;
      return p;
    })()],
  ];
  for (const [name, bytes] of cases) it(name, () => assert.equal(parseRtpHeader(bytes), undefined));
});

describe('rtpPayload', () => {
  it('is a view of the payload bytes, without padding', () => {
    const p = packet({ csrcs: [1], extensionWords: 1, payload: [0x7c, 0x85, 0xaa], padding: 3 });
    const header = parseRtpHeader(p)!;
    const payload = rtpPayload(p, header);
    assert.deepEqual([...payload], [0x7c, 0x85, 0xaa]);
    payload[2] = 0xbb;
    assert.equal(p[header.payloadOffset + 2], 0xbb, 'shares memory with the packet');
  });
});

describe('isRtcp', () => {
  const rtcp = (type: number, length = 8, version = 2): Buffer => {
    const b = Buffer.alloc(length);
    b[0] = version << 6;
    b[1] = type;
    return b;
  };
  const cases: Array<[string, Buffer, boolean]> = [
    ['SR', rtcp(200, 28), true],
    ['RR', rtcp(201), true],
    ['SDES', rtcp(202), true],
    ['BYE', rtcp(203), true],
    ['APP', rtcp(204, 12), true],
    ['RTPFB (receiver feedback, outside the range)', rtcp(205), false],
    ['SR with version 1', rtcp(200, 28, 1), false],
    ['3 bytes', rtcp(200, 3), false],
    ['empty', Buffer.alloc(0), false],
    ['RTP PT 96', packet(), false],
    ['RTP PT 96 with marker (byte 224)', packet({ marker: true }), false],
    ['RTP PT 0', packet({ payloadType: 0 }), false],
  ];
  for (const [name, bytes, expected] of cases) it(name, () => assert.equal(isRtcp(bytes), expected));
});

describe('parseRtpHeader on random bytes', () => {
  it('never throws, and what it accepts stays inside the packet', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), (bytes, forceV2) => {
        const b = Buffer.from(bytes);
        if (forceV2 && b.length > 0) b[0] = (b[0]! & 0x3f) | 0x80; // mostly exercise the v2 paths
        const header = parseRtpHeader(b);
        isRtcp(b);
        if (header === undefined) return;
        assert.equal(header.version, 2);
        assert.ok(header.payloadOffset >= 12 && header.payloadLength >= 0);
        assert.ok(header.payloadOffset + header.payloadLength <= b.length);
        assert.equal(rtpPayload(b, header).length, header.payloadLength);
      }),
      { numRuns: 5000 },
    );
  });
});
