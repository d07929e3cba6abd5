/**
 * Just enough of the H.264 RTP payload format (RFC 6184) and the SPS (ITU-T H.264 §7.3.2.1.1) to
 * find keyframes in the packet stream and report what a camera sends. Pure; never throws on
 * garbage: payloads come straight off a UDP socket.
 */

export const NalType = { SLICE: 1, IDR: 5, SEI: 6, SPS: 7, PPS: 8, AUD: 9, STAP_A: 24, FU_A: 28 } as const;

/** The NAL unit type (low 5 bits of the NAL header byte), or undefined for an empty buffer. */
export function nalType(nal: Buffer): number | undefined {
  return nal.length > 0 ? nal[0]! & 0x1f : undefined;
}

/**
 * The complete NAL units in a payload, as views into it: the payload itself for a single NAL
 * unit packet, each aggregated unit of a STAP-A. FU-A fragments and other packet types are not
 * complete units, so they give []. A STAP-A with a size running past the end stops there.
 */
export function completeNalUnits(payload: Buffer): Buffer[] {
  const type = nalType(payload);
  if (type === undefined) return [];
  if (type >= 1 && type <= 23) return [payload];
  if (type !== NalType.STAP_A) return [];
  const units: Buffer[] = [];
  let at = 1;
  while (at + 2 <= payload.length) {
    const size = payload.readUInt16BE(at);
    at += 2;
    if (size === 0 || at + size > payload.length) break;
    units.push(payload.subarray(at, at + size));
    at += size;
  }
  return units;
}

/**
 * Types of the NAL units a payload carries or begins: [type] for a single NAL unit, every
 * aggregated type for a STAP-A, the fragmented unit's type for the first FU-A fragment only
 * (continuations begin nothing, so []), [] for anything else (STAP-B, MTAP, FU-B, reserved).
 */
export function nalUnitTypes(payload: Buffer): number[] {
  const type = nalType(payload);
  if (type === NalType.FU_A) {
    if (payload.length < 2) return [];
    const fuHeader = payload[1]!;
    const start = (fuHeader & 0x80) !== 0;
    return start ? [fuHeader & 0x1f] : [];
  }
  const types: number[] = [];
  for (const unit of completeNalUnits(payload)) types.push(unit[0]! & 0x1f);
  return types;
}

/**
 * True when this packet is where a decoder can start: it carries an SPS (cameras and ffmpeg send
 * SPS/PPS right before each IDR, and some cameras key on non-IDR I-frames after an SPS) or the
 * first bytes of an IDR slice (for streams that send parameter sets only in the SDP).
 */
export function startsKeyframe(payload: Buffer): boolean {
  return nalUnitTypes(payload).some((type) => type === NalType.SPS || type === NalType.IDR);
}

export function carriesSps(payload: Buffer): boolean {
  return nalUnitTypes(payload).includes(NalType.SPS);
}

export function carriesIdrStart(payload: Buffer): boolean {
  return nalUnitTypes(payload).includes(NalType.IDR);
}

export interface ParameterSets {
  sps: Buffer[];
  pps: Buffer[];
}

/**
 * SPS and PPS NAL units (header byte included, no start code) found in a single NAL or STAP-A
 * payload, as views into it: copy them to keep them past the packet's lifetime.
 */
export function extractParameterSets(payload: Buffer): ParameterSets {
  const found: ParameterSets = { sps: [], pps: [] };
  for (const unit of completeNalUnits(payload)) {
    const type = unit[0]! & 0x1f;
    if (type === NalType.SPS) found.sps.push(unit);
    else if (type === NalType.PPS) found.pps.push(unit);
  }
  return found;
}

/** SDP `profile-level-id` (profile_idc, constraint flags, level_idc as hex), e.g. "42c01f". */
export function profileLevelId(sps: Buffer): string | undefined {
  if (sps.length < 4 || nalType(sps) !== NalType.SPS) return undefined;
  return sps.subarray(1, 4).toString('hex');
}

export interface SpsInfo { width: number; height: number; profileIdc: number; levelIdc: number }

// Profiles whose SPS carries chroma_format_idc, bit depths and scaling lists (§7.3.2.1.1).
const HIGH_PROFILES = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135]);
// Baseline, Main, Extended: the rest of the defined profile_idc values. Others are garbage.
const OTHER_PROFILES = new Set([66, 77, 88]);

/**
 * Displayed picture size from an SPS NAL unit (header byte included): macroblock counts, doubled
 * for field coding, minus the frame cropping (how 1080 comes from 68 macroblock rows = 1088).
 * undefined for anything that is not a plausible SPS.
 */
export function parseSpsDimensions(sps: Buffer): SpsInfo | undefined {
  if (nalType(sps) !== NalType.SPS) return undefined;
  try {
    return readSps(new BitReader(unescapeRbsp(sps.subarray(1))));
  } catch {
    return undefined; // ran off the end, or a value no encoder would write
  }
}

function readSps(r: BitReader): SpsInfo | undefined {
  const profileIdc = r.bits(8);
  if (!HIGH_PROFILES.has(profileIdc) && !OTHER_PROFILES.has(profileIdc)) return undefined;
  r.bits(8); // constraint_set flags + reserved_zero_2bits
  const levelIdc = r.bits(8);
  r.ue(); // seq_parameter_set_id
  let chromaFormatIdc = 1; // 4:2:0 when not signalled
  let separateColourPlane = false;
  if (HIGH_PROFILES.has(profileIdc)) {
    chromaFormatIdc = r.ue();
    if (chromaFormatIdc > 3) return undefined;
    if (chromaFormatIdc === 3) separateColourPlane = r.bit() === 1;
    r.ue(); // bit_depth_luma_minus8
    r.ue(); // bit_depth_chroma_minus8
    r.bit(); // qpprime_y_zero_transform_bypass_flag
    if (r.bit() === 1) {
      // seq_scaling_matrix_present_flag: six 4x4 lists, then two 8x8 (six for 4:4:4)
      const lists = chromaFormatIdc === 3 ? 12 : 8;
      for (let i = 0; i < lists; i++) if (r.bit() === 1) skipScalingList(r, i < 6 ? 16 : 64);
    }
  }
  r.ue(); // log2_max_frame_num_minus4
  const picOrderCntType = r.ue();
  if (picOrderCntType === 0) {
    r.ue(); // log2_max_pic_order_cnt_lsb_minus4
  } else if (picOrderCntType === 1) {
    r.bit(); // delta_pic_order_always_zero_flag
    r.se(); // offset_for_non_ref_pic
    r.se(); // offset_for_top_to_bottom_field
    const cycle = r.ue();
    if (cycle > 255) return undefined;
    for (let i = 0; i < cycle; i++) r.se();
  } else if (picOrderCntType !== 2) {
    return undefined;
  }
  r.ue(); // max_num_ref_frames
  r.bit(); // gaps_in_frame_num_value_allowed_flag
  const widthInMbs = r.ue() + 1;
  const heightInMapUnits = r.ue() + 1;
  const frameMbsOnly = r.bit();
  if (frameMbsOnly === 0) r.bit(); // mb_adaptive_frame_field_flag
  r.bit(); // direct_8x8_inference_flag
  let width = widthInMbs * 16;
  let height = (2 - frameMbsOnly) * heightInMapUnits * 16;
  if (r.bit() === 1) {
    // frame_cropping_flag: offsets count in chroma samples (luma when there is no chroma array)
    const chromaArrayType = separateColourPlane ? 0 : chromaFormatIdc;
    const cropUnitX = chromaArrayType === 1 || chromaArrayType === 2 ? 2 : 1;
    const cropUnitY = (chromaArrayType === 1 ? 2 : 1) * (2 - frameMbsOnly);
    const left = r.ue();
    const right = r.ue();
    const top = r.ue();
    const bottom = r.ue();
    width -= (left + right) * cropUnitX;
    height -= (top + bottom) * cropUnitY;
  }
  // H.264 levels top out at 139264 macroblocks a frame (level 6.2): anything bigger is garbage.
  if (width <= 0 || height <= 0 || widthInMbs * heightInMapUnits > 139264) return undefined;
  return { width, height, profileIdc, levelIdc };
}

function skipScalingList(r: BitReader, size: number): void {
  let last = 8;
  for (let j = 0; j < size; j++) {
    const next = (last + r.se() + 256) % 256;
    // 0 ends the coded list (the rest repeats the last value; at j = 0 it selects the default).
    if (next === 0) return;
    last = next;
  }
}

/** Drops emulation-prevention bytes: 00 00 03 → 00 00 (§7.4.1). */
export function unescapeRbsp(data: Buffer): Buffer {
  if (data.indexOf(Buffer.from([0, 0, 3])) === -1) return data;
  const out = Buffer.allocUnsafe(data.length);
  let length = 0;
  let zeros = 0;
  for (const byte of data) {
    if (zeros >= 2 && byte === 3) {
      zeros = 0;
      continue;
    }
    zeros = byte === 0 ? zeros + 1 : 0;
    out[length++] = byte;
  }
  return out.subarray(0, length);
}

/** MSB-first bit reader with Exp-Golomb codes; throws when reading past the end. */
class BitReader {
  private readonly data: Buffer;
  private position = 0; // in bits

  constructor(data: Buffer) {
    this.data = data;
  }

  bit(): number {
    const byte = this.data[this.position >> 3];
    if (byte === undefined) throw new RangeError('SPS truncated');
    const value = (byte >> (7 - (this.position & 7))) & 1;
    this.position++;
    return value;
  }

  bits(count: number): number {
    let value = 0;
    for (let i = 0; i < count; i++) value = value * 2 + this.bit();
    return value;
  }

  /** ue(v): leading zeros, a 1, then as many bits again (§9.1). */
  ue(): number {
    let zeros = 0;
    while (this.bit() === 0) {
      if (++zeros > 31) throw new RangeError('Exp-Golomb code too long');
    }
    return 2 ** zeros - 1 + this.bits(zeros);
  }

  /** se(v): ue mapped 0, 1, -1, 2, -2… */
  se(): number {
    const k = this.ue();
    return k % 2 === 1 ? (k + 1) / 2 : -(k / 2);
  }
}
