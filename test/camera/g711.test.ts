import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { resolveFfmpegPath } from '../../src/camera/ffmpeg-path.ts';
import { ALAW_SILENCE, decodeALaw, decodeMuLaw, encodeALaw, encodeMuLaw, MULAW_SILENCE } from '../../src/camera/g711.ts';

const ALL_CODES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
const ALL_SAMPLES = Int16Array.from({ length: 65536 }, (_, i) => i - 32768);
const one = (encode: (pcm: Int16Array) => Buffer, sample: number) => encode(Int16Array.of(sample))[0];

describe('G.711 tables', () => {
  // [linear sample, µ-law byte, A-law byte] from the ITU-T G.191 reference (g711.c).
  const encodeTable: [number, number, number][] = [
    [0, 0xff, 0xd5], [1, 0xff, 0xd5], [-1, 0x7f, 0x55], [8, 0xfe, 0xd5], [-8, 0x7e, 0x55],
    [100, 0xf2, 0xd3], [-100, 0x72, 0x53], [1000, 0xce, 0xfa], [-1000, 0x4e, 0x7a],
    [4000, 0xaf, 0x9a], [12345, 0x97, 0xbd], [-12345, 0x17, 0x3d], [32767, 0x80, 0xaa], [-32768, 0x00, 0x2a],
  ];
  for (const [sample, mu, a] of encodeTable) {
    test(`encode ${sample} → µ-law 0x${mu.toString(16)}, A-law 0x${a.toString(16)}`, () => {
      assert.equal(one(encodeMuLaw, sample), mu);
      assert.equal(one(encodeALaw, sample), a);
    });
  }

  test('decode: the extremes and silence codes', () => {
    const decodeTable: [number, number, number][] = [ // [byte, µ-law sample, A-law sample]
      [0x00, -32124, -5504], [0x0f, -16764, -6784], [0x7f, 0, -848], [0x80, 32124, 5504], [0xff, 0, 848],
      [0xd5, 716, 8], [0x55, -716, -8], [0x2a, -5372, -32256], [0xaa, 5372, 32256], [0xe7, 260, 1184],
    ];
    for (const [byte, mu, a] of decodeTable) {
      assert.equal(decodeMuLaw(Buffer.of(byte))[0], mu, `µ-law 0x${byte.toString(16)}`);
      assert.equal(decodeALaw(Buffer.of(byte))[0], a, `A-law 0x${byte.toString(16)}`);
    }
    assert.equal(decodeMuLaw(Buffer.of(MULAW_SILENCE))[0], 0);
    assert.equal(Math.abs(decodeALaw(Buffer.of(ALAW_SILENCE))[0]!), 8); // A-law has no exact zero
  });

  test('every code survives decode → encode (µ-law 0x7f is the second zero)', () => {
    const mu = encodeMuLaw(decodeMuLaw(ALL_CODES));
    const a = encodeALaw(decodeALaw(ALL_CODES));
    for (let code = 0; code < 256; code++) {
      assert.equal(mu[code], code === 0x7f ? 0xff : code, `µ-law 0x${code.toString(16)}`);
      assert.equal(a[code], code, `A-law 0x${code.toString(16)}`);
    }
  });

  test('every 16-bit sample is monotonic and within one quantisation step', () => {
    for (const [name, encode, decode, maxStep] of [
      ['µ-law', encodeMuLaw, decodeMuLaw, 1024],
      ['A-law', encodeALaw, decodeALaw, 1024],
    ] as const) {
      const decoded = decode(encode(ALL_SAMPLES));
      for (let i = 0; i < ALL_SAMPLES.length; i++) {
        const error = Math.abs(decoded[i]! - ALL_SAMPLES[i]!);
        // Steps grow with the segment: ~1/16 of the magnitude, at most 1024 (plus the clip at the top).
        const bound = Math.max(16, Math.abs(ALL_SAMPLES[i]!) / 16, ALL_SAMPLES[i]! > 32000 || ALL_SAMPLES[i]! < -32000 ? maxStep : 0);
        if (error > bound) assert.fail(`${name}: ${ALL_SAMPLES[i]} decodes to ${decoded[i]}`);
        if (i > 0 && decoded[i]! < decoded[i - 1]!) assert.fail(`${name}: not monotonic at ${ALL_SAMPLES[i]}`);
      }
    }
  });
});

const ffmpeg = await resolveFfmpegPath();
describe('G.711 decode matches ffmpeg', { skip: ffmpeg === null ? 'no ffmpeg' : false }, () => {
  for (const format of ['mulaw', 'alaw'] as const) {
    test(format, () => {
      const run = spawnSync(ffmpeg!.path, ['-hide_banner', '-loglevel', 'error', '-f', format, '-ar', '8000', '-ac', '1', '-i', 'pipe:0', '-f', 's16le', 'pipe:1'], { input: ALL_CODES, timeout: 10_000 });
      assert.equal(run.status, 0, String(run.stderr));
      const reference = Int16Array.from({ length: 256 }, (_, i) => run.stdout.readInt16LE(2 * i));
      assert.deepEqual(format === 'mulaw' ? decodeMuLaw(ALL_CODES) : decodeALaw(ALL_CODES), reference);
    });
  }
});
