import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  carriesIdrStart, carriesSps, completeNalUnits, extractParameterSets, nalUnitTypes, parseSpsDimensions,
  profileLevelId, startsKeyframe, unescapeRbsp, type SpsInfo,
} from '../../src/camera/h264.ts';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const bytes = (...values: number[]): Buffer => Buffer.from(values);

/** STAP-A (RFC 6184 §5.7.1): header byte, then 16-bit size + NAL unit for each unit. */
function stapA(...units: Buffer[]): Buffer {
  const parts: Buffer[] = [bytes(0x78)];
  for (const unit of units) {
    const size = Buffer.alloc(2);
    size.writeUInt16BE(unit.length);
    parts.push(size, unit);
  }
  return Buffer.concat(parts);
}

/** FU-A fragment (RFC 6184 §5.8) of a NAL unit of `type` with NRI 3. */
function fuA(type: number, flags: { start?: boolean; end?: boolean } = {}): Buffer {
  return bytes(0x7c, (flags.start ? 0x80 : 0) | (flags.end ? 0x40 : 0) | type, 0xaa, 0xbb);
}

const SPS = hex('6742c01fd9005005bb0110000003001000000301e0f1832480');
const PPS = bytes(0x68, 0xcb, 0x83, 0xcb, 0x20);
const IDR = bytes(0x65, 0x88, 0x84, 0x00);
const P_SLICE = bytes(0x41, 0x9a, 0x02);
const SEI = bytes(0x06, 0x05, 0xff);
const AUD = bytes(0x09, 0xf0);

describe('nalUnitTypes', () => {
  const cases: Array<[string, Buffer, number[]]> = [
    ['single SPS', SPS, [7]],
    ['single PPS', PPS, [8]],
    ['single IDR slice', IDR, [5]],
    ['single non-IDR slice', P_SLICE, [1]],
    ['single SEI', SEI, [6]],
    ['single type 23', bytes(0x17), [23]],
    ['forbidden bit set does not matter', bytes(0xe5, 0x00), [5]],
    ['STAP-A SPS+PPS', stapA(SPS, PPS), [7, 8]],
    ['STAP-A AUD+SPS+PPS+IDR', stapA(AUD, SPS, PPS, IDR), [9, 7, 8, 5]],
    ['STAP-A with trailing byte', Buffer.concat([stapA(SPS, PPS), bytes(0x00)]), [7, 8]],
    ['STAP-A size past the end stops', Buffer.concat([stapA(SPS), bytes(0x00, 0x40, 0x68)]), [7]],
    ['STAP-A size 0 stops', Buffer.concat([stapA(SPS), bytes(0x00, 0x00), stapA(PPS).subarray(1)]), [7]],
    ['STAP-A first size past the end', bytes(0x78, 0xff, 0xff, 0x67), []],
    ['STAP-A header only', bytes(0x78), []],
    ['FU-A IDR start', fuA(5, { start: true }), [5]],
    ['FU-A IDR middle', fuA(5), []],
    ['FU-A IDR end', fuA(5, { end: true }), []],
    ['FU-A non-IDR start', fuA(1, { start: true }), [1]],
    ['FU-A header only', bytes(0x7c), []],
    ['FU-A start with no payload byte after the FU header', bytes(0x7c, 0x85), [5]],
    ['STAP-B', bytes(0x19, 0x00, 0x00, 0x00, 0x03, 0x65, 0x88, 0x84), []],
    ['MTAP16', bytes(0x1a, 0x00), []],
    ['MTAP24', bytes(0x1b, 0x00), []],
    ['FU-B', bytes(0x1d, 0x85, 0x00, 0x00), []],
    ['type 0 (unspecified)', bytes(0x00, 0x01), []],
    ['type 30 (reserved)', bytes(0x1e), []],
    ['type 31 (reserved)', bytes(0x1f), []],
    ['empty', Buffer.alloc(0), []],
  ];
  for (const [name, payload, expected] of cases) it(name, () => assert.deepEqual(nalUnitTypes(payload), expected));
});

describe('startsKeyframe, carriesSps, carriesIdrStart', () => {
  const cases: Array<[string, Buffer, { key: boolean; sps: boolean; idr: boolean }]> = [
    ['SPS', SPS, { key: true, sps: true, idr: false }],
    ['PPS alone', PPS, { key: false, sps: false, idr: false }],
    ['IDR slice', IDR, { key: true, sps: false, idr: true }],
    ['STAP-A SPS+PPS', stapA(SPS, PPS), { key: true, sps: true, idr: false }],
    ['STAP-A SEI+IDR', stapA(SEI, IDR), { key: true, sps: false, idr: true }],
    ['FU-A IDR start', fuA(5, { start: true }), { key: true, sps: false, idr: true }],
    ['FU-A IDR continuation', fuA(5), { key: false, sps: false, idr: false }],
    ['FU-A IDR end', fuA(5, { end: true }), { key: false, sps: false, idr: false }],
    ['P slice', P_SLICE, { key: false, sps: false, idr: false }],
    ['FU-A P start', fuA(1, { start: true }), { key: false, sps: false, idr: false }],
    ['garbage', bytes(0xff, 0xff, 0xff), { key: false, sps: false, idr: false }],
    ['empty', Buffer.alloc(0), { key: false, sps: false, idr: false }],
  ];
  for (const [name, payload, expected] of cases) {
    it(name, () => assert.deepEqual(
      { key: startsKeyframe(payload), sps: carriesSps(payload), idr: carriesIdrStart(payload) }, expected));
  }
});

describe('completeNalUnits and extractParameterSets', () => {
  it('returns views of each aggregated unit', () => {
    const payload = stapA(AUD, SPS, PPS, IDR);
    const units = completeNalUnits(payload);
    assert.deepEqual(units, [AUD, SPS, PPS, IDR]);
    assert.equal(units[1]!.buffer, payload.buffer, 'no copy');
  });
  const cases: Array<[string, Buffer, { sps: Buffer[]; pps: Buffer[] }]> = [
    ['single SPS', SPS, { sps: [SPS], pps: [] }],
    ['single PPS', PPS, { sps: [], pps: [PPS] }],
    ['STAP-A SPS+PPS+IDR', stapA(SPS, PPS, IDR), { sps: [SPS], pps: [PPS] }],
    ['STAP-A two PPS', stapA(PPS, PPS), { sps: [], pps: [PPS, PPS] }],
    ['FU-A start of an SPS (fragments are not complete units)', fuA(7, { start: true }), { sps: [], pps: [] }],
    ['IDR', IDR, { sps: [], pps: [] }],
    ['empty', Buffer.alloc(0), { sps: [], pps: [] }],
  ];
  for (const [name, payload, expected] of cases) it(name, () => assert.deepEqual(extractParameterSets(payload), expected));
});

describe('unescapeRbsp', () => {
  const cases: Array<[string, string, string]> = [
    ['nothing to drop', '6742c01f', '6742c01f'],
    ['00 00 03 01', '000003 01', '000001'],
    ['two escapes in a row', '000003 000003 00', '0000000000'],
    ['03 after a single zero stays', '00 03 00', '000300'],
    ['escape at the end', 'aa 000003', 'aa0000'],
  ];
  for (const [name, input, expected] of cases) it(name, () => assert.equal(unescapeRbsp(hex(input)).toString('hex'), expected));
});

// SPS NAL units (header byte included) from Debian ffmpeg 5.1.9 + libx264:
//   ffmpeg -f lavfi -i testsrc2=size=WxH:rate=15 -t 1 -c:v libx264 -profile:v P [-pix_fmt F] -f h264 x.h264
// taking the NAL of type 7 after the first start code; sizes as ffprobe reports them.
const REAL_SPS: Array<[string, string, SpsInfo]> = [
  ['1280x720 baseline', '6742c01fd9005005bb0110000003001000000301e0f1832480', { width: 1280, height: 720, profileIdc: 66, levelIdc: 31 }],
  ['1280x720 main', '674d401feca02802dd8088000003000800000300f078c18cb0', { width: 1280, height: 720, profileIdc: 77, levelIdc: 31 }],
  ['1280x720 high', '6764001facd9405005bb0110000003001000000301e0f1831960', { width: 1280, height: 720, profileIdc: 100, levelIdc: 31 }],
  ['1280x720 high 4:2:2 (yuv422p)', '677a001fbcd9405005bb0110000003001000000301e0f1831960', { width: 1280, height: 720, profileIdc: 122, levelIdc: 31 }],
  ['1920x1080 high (1088 cropped)', '67640028acd940780227e5c044000003000400000300783c60c658', { width: 1920, height: 1080, profileIdc: 100, levelIdc: 40 }],
  ['1920x1080 main', '674d4028eca03c0113f2e0220000030002000003003c1e30632c', { width: 1920, height: 1080, profileIdc: 77, levelIdc: 40 }],
  ['1920x1080 high interlaced (-x264-params interlaced=1)', '67640028acd94078044fde0220000003002000000303c3e2c5b2c0', { width: 1920, height: 1080, profileIdc: 100, levelIdc: 40 }],
  ['640x360 baseline (368 cropped)', '6742c016d900a02ff970110000030001000003001e0f162e48', { width: 640, height: 360, profileIdc: 66, levelIdc: 22 }],
  ['640x360 high 4:4:4 (crop unit 1)', '67f40016919b281405ff138088000003000800000300f078b16cb0', { width: 640, height: 360, profileIdc: 244, levelIdc: 22 }],
  ['642x362 baseline (odd crop)', '6742c016d900a42fe224c044000003000400000300783c58b920', { width: 642, height: 362, profileIdc: 66, levelIdc: 22 }],
];

// x264 never writes SPS scaling lists or pic_order_cnt_type 1, so these were written by hand
// (a bit writer in Python) and checked with ffmpeg's own parser:
//   ffmpeg -f h264 -i sps.h264 -c copy -bsf:v trace_headers -f null -
const CRAFTED_SPS: Array<[string, string, SpsInfo]> = [
  // High, seq_scaling_matrix_present: an explicit 4x4 list, one absent, one "use default"
  // (delta to 0 at j = 0), one ended early, an explicit 8x8 list; 1920x1088 cropped by 8.
  ['scaling lists', '67640028ad94747610e23151484644832478e1c3870e1c3870e1c3870e1c3870e1c3870e1c3870e1c38701f870e1c3870e1c3870e1c3870e1c3870e1c3870e1c3870e1c380fc3870e1c39b280f0044fca8',
    { width: 1920, height: 1080, profileIdc: 100, levelIdc: 40 }],
  // Main, pic_order_cnt_type 1 with a 3-entry cycle and huge offsets whose zero runs need an
  // emulation-prevention byte (00 00 03) before the size fields; field-coded 704x480.
  ['poc type 1, emulation prevention, field coding', '674d401ed0000003020a61a6000088b80960001fffe40583dfd0',
    { width: 704, height: 480, profileIdc: 77, levelIdc: 30 }],
];

describe('parseSpsDimensions', () => {
  for (const [name, spsHex, expected] of [...REAL_SPS, ...CRAFTED_SPS]) {
    it(name, () => assert.deepEqual(parseSpsDimensions(hex(spsHex)), expected));
  }

  it('reads the SPS out of an ffmpeg-style STAP-A', () => {
    const [sps] = extractParameterSets(stapA(hex(REAL_SPS[4]![1]), PPS)).sps;
    assert.deepEqual(parseSpsDimensions(sps!), REAL_SPS[4]![2]);
  });

  const bad: Array<[string, Buffer]> = [
    ['empty', Buffer.alloc(0)],
    ['header only', bytes(0x67)],
    ['not an SPS (PPS)', PPS],
    ['SPS without its NAL header', hex(REAL_SPS[0]![1]).subarray(1)],
    ['unknown profile_idc 255 (all ones)', Buffer.alloc(20, 0xff).fill(0x67, 0, 1)],
    ['all zeros after the header (Exp-Golomb too long)', Buffer.concat([bytes(0x67, 0x42, 0, 0x1f), Buffer.alloc(16)])],
    ['chroma_format_idc 4', bytes(0x67, 0x64, 0x00, 0x1f, 0b10010100, 0xff, 0xff)],
    ['pic_order_cnt_type 3', bytes(0x67, 0x42, 0x00, 0x1f, 0b11100010, 0b00000000, 0xff, 0xff)],
  ];
  for (const [name, sps] of bad) it(`undefined for ${name}`, () => assert.equal(parseSpsDimensions(sps), undefined));

  it('undefined for every truncation that cuts into the size fields, never a throw', () => {
    for (const [name, spsHex, expected] of [...REAL_SPS, ...CRAFTED_SPS]) {
      const sps = hex(spsHex);
      for (let length = 0; length < sps.length; length++) {
        const result = parseSpsDimensions(sps.subarray(0, length));
        // a cut inside the VUI (which is not parsed) still gives the right size
        if (result !== undefined) assert.deepEqual(result, expected, `${name} cut at ${length}`);
      }
    }
  });

  // Baseline 1x1 macroblock SPSs: sps_id 0, log2_max_frame_num 4, poc type 2, 0 refs, frame
  // coded, frame_cropping_flag set with left = N (in 2-pixel units for 4:2:0), no VUI.
  const cropCases: Array<[string, Buffer, SpsInfo | undefined]> = [
    ['left crop 2 → 12x16', bytes(0x67, 0x42, 0x00, 0x0a, 0b11011101, 0b11110111, 0b11010000), { width: 12, height: 16, profileIdc: 66, levelIdc: 10 }],
    ['left crop 8 → width 0, rejected', bytes(0x67, 0x42, 0x00, 0x0a, 0b11011101, 0b11110001, 0b00111101), undefined],
  ];
  for (const [name, sps, expected] of cropCases) it(name, () => assert.deepEqual(parseSpsDimensions(sps), expected));
});

describe('profileLevelId', () => {
  const cases: Array<[string, Buffer, string | undefined]> = [
    ['constrained baseline 3.1', hex(REAL_SPS[0]![1]), '42c01f'],
    ['high 4.0', hex(REAL_SPS[4]![1]), '640028'],
    ['not an SPS', PPS, undefined],
    ['too short', bytes(0x67, 0x42), undefined],
  ];
  for (const [name, sps, expected] of cases) it(name, () => assert.equal(profileLevelId(sps), expected));
});

describe('on random bytes', () => {
  it('nalUnitTypes, startsKeyframe, extractParameterSets and parseSpsDimensions never throw', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), fc.constantFrom(undefined, 0x67, 0x78, 0x7c), (raw, first) => {
        const payload = Buffer.from(raw);
        if (first !== undefined && payload.length > 0) payload[0] = first; // SPS, STAP-A, FU-A paths
        for (const type of nalUnitTypes(payload)) assert.ok(type >= 0 && type <= 31);
        startsKeyframe(payload);
        extractParameterSets(payload);
        const info = parseSpsDimensions(payload);
        if (info !== undefined) assert.ok(info.width > 0 && info.height > 0);
      }),
      { numRuns: 5000 },
    );
  });
});
