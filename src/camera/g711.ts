/**
 * G.711 (ITU-T G.711) µ-law and A-law, one byte per 16-bit linear sample: what ONVIF cameras
 * take on the talkback backchannel. The classic Sun/ITU-T G.191 reference algorithm (g711.c).
 * Decoding is bit-exact with ffmpeg's pcm_mulaw/pcm_alaw; ffmpeg's encoder rounds to the nearest
 * level instead of truncating, so about 1.4 % of inputs differ from it by one code step.
 */

const MULAW_BIAS = 0x84;
const MULAW_CLIP = 32635;

function muLawByte(sample: number): number {
  const sign = sample < 0 ? 0x80 : 0;
  // Clip before adding the bias so the largest magnitude still fits segment 7.
  let magnitude = Math.min(sign ? -sample : sample, MULAW_CLIP) + MULAW_BIAS;
  let exponent = 7;
  for (let mask = 0x4000; (magnitude & mask) === 0 && exponent > 0; mask >>= 1) exponent--;
  const mantissa = (magnitude >> (exponent + 3)) & 0x0f;
  magnitude = sign | (exponent << 4) | mantissa;
  return ~magnitude & 0xff;
}

function muLawSample(byte: number): number {
  const u = ~byte & 0xff;
  const exponent = (u >> 4) & 0x07;
  const magnitude = ((((u & 0x0f) << 3) + MULAW_BIAS) << exponent) - MULAW_BIAS;
  return u & 0x80 ? -magnitude : magnitude;
}

function aLawByte(sample: number): number {
  let pcm = sample >> 3; // A-law codes 13-bit magnitudes
  let mask: number;
  if (pcm >= 0) {
    mask = 0xd5; // sign bit set for positive, then even bits inverted
  } else {
    mask = 0x55;
    pcm = -pcm - 1;
  }
  let segment = 0;
  while (segment < 8 && pcm >= 0x20 << segment) segment++;
  if (segment >= 8) return 0x7f ^ mask;
  const mantissa = segment < 2 ? (pcm >> 1) & 0x0f : (pcm >> segment) & 0x0f;
  return ((segment << 4) | mantissa) ^ mask;
}

function aLawSample(byte: number): number {
  const a = byte ^ 0x55;
  const segment = (a & 0x70) >> 4;
  let magnitude = (a & 0x0f) << 4;
  if (segment === 0) magnitude += 8;
  else magnitude = (magnitude + 0x108) << (segment - 1);
  return a & 0x80 ? magnitude : -magnitude;
}

// 256-entry decode tables: decoding is on the hot path of any mixing or level metering.
const MULAW_DECODE = Int16Array.from({ length: 256 }, (_, b) => muLawSample(b));
const ALAW_DECODE = Int16Array.from({ length: 256 }, (_, b) => aLawSample(b));

function encode(pcm16: Int16Array, byte: (sample: number) => number): Buffer {
  const out = Buffer.allocUnsafe(pcm16.length);
  for (let i = 0; i < pcm16.length; i++) out[i] = byte(pcm16[i]!);
  return out;
}

function decode(bytes: Uint8Array, table: Int16Array): Int16Array {
  const out = new Int16Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = table[bytes[i]!]!;
  return out;
}

export function encodeMuLaw(pcm16: Int16Array): Buffer {
  return encode(pcm16, muLawByte);
}

export function decodeMuLaw(bytes: Uint8Array): Int16Array {
  return decode(bytes, MULAW_DECODE);
}

export function encodeALaw(pcm16: Int16Array): Buffer {
  return encode(pcm16, aLawByte);
}

export function decodeALaw(bytes: Uint8Array): Int16Array {
  return decode(bytes, ALAW_DECODE);
}

/** µ-law and A-law silence bytes (the codes for 0), for padding and comfort silence. */
/** µ-law to A-law, byte for byte (through 16-bit PCM): a PCMA viewer gets the camera's µ-law copy. */
const MULAW_TO_ALAW = encodeALaw(decodeMuLaw(Uint8Array.from({ length: 256 }, (_, i) => i)));

export function muLawToALaw(mulaw: Uint8Array): Buffer {
  const alaw = Buffer.allocUnsafe(mulaw.length);
  for (let i = 0; i < mulaw.length; i++) alaw[i] = MULAW_TO_ALAW[mulaw[i]!]!;
  return alaw;
}

export const MULAW_SILENCE = 0xff;
export const ALAW_SILENCE = 0xd5;
