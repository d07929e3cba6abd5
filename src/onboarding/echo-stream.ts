/**
 * Which of a camera's streams porchlight should use for an Echo, and why. Pure: the profiles as
 * ONVIF described them go in, a choice and a sentence come out.
 */
import { MAX_COPY_DIMENSION, videoPlan } from '../camera/ffmpeg-args.ts';

export type VideoCodec = 'H264' | 'H265' | 'MJPEG' | 'MPEG4' | 'unknown';

export interface StreamProfile {
  /** The ONVIF profile token. */
  token: string;
  name: string;
  codec: VideoCodec;
  width?: number;
  height?: number;
  fps?: number;
  bitrateKbps?: number;
  /** The RTSP URI ONVIF gave for it, without credentials; undefined when GetStreamUri failed. */
  uri?: string;
  audio?: { codec: string; sampleRateHz?: number; bitrateKbps?: number };
}

export type EchoStreamChoice =
  /** Copied as it is: the cheapest path and the fastest start. */
  | { mode: 'passthrough'; profile: StreamProfile; reason: string }
  /** Re-encoded to H.264 ≤ 1280×720 by ffmpeg while someone watches: it costs CPU. */
  | { mode: 'transcode'; profile: StreamProfile; reason: string }
  | { mode: 'none'; reason: string };

export interface ChooseOptions {
  /** false: this bridge will not transcode (no ffmpeg able to, or `transcode: never`). Default true. */
  canTranscode?: boolean;
}

const CODEC_NAMES: Record<VideoCodec, string> = { H264: 'H.264', H265: 'H.265', MJPEG: 'MJPEG', MPEG4: 'MPEG-4', unknown: 'an unknown codec' };
/** ffmpeg's names, which camera/ffmpeg-args.ts's videoPlan() reads. */
const FFMPEG_CODECS: Record<VideoCodec, string | undefined> = { H264: 'h264', H265: 'hevc', MJPEG: 'mjpeg', MPEG4: 'mpeg4', unknown: undefined };

/** H.264 / H.265 / JPEG / MPEG-4 as cameras write it (Media1 `H264`, Media2 `H265`, `HEVC`, `MPV4-ES`…). Pure. */
export function videoCodec(encoding: string | undefined): VideoCodec {
  const name = (encoding ?? '').toLowerCase().replace(/[^a-z0-9]/g, '');
  if (name === 'h264' || name === 'avc') return 'H264';
  if (name === 'h265' || name === 'hevc') return 'H265';
  if (name === 'jpeg' || name === 'mjpeg' || name === 'mjpg') return 'MJPEG';
  if (name === 'mpeg4' || name === 'mpv4es' || name === 'mp4v') return 'MPEG4';
  return 'unknown';
}

/** "H.264 1280×720" (what is known of it). */
export function describeStream(profile: Pick<StreamProfile, 'codec' | 'width' | 'height'>): string {
  const size = profile.width && profile.height ? ` ${profile.width}×${profile.height}` : '';
  return `${CODEC_NAMES[profile.codec]}${size}`;
}

const area = (p: StreamProfile) => (p.width ?? 0) * (p.height ?? 0);
const hasSize = (p: StreamProfile) => Boolean(p.width && p.height);

/**
 * Whether the bridge copies this stream unchanged: H.264 within the Echo's 1280×720 — the same
 * test ffmpeg's plan makes (videoPlan, `transcode: auto`: either side at most 1280, so a portrait
 * doorbell counts), so what this says is what the bridge will do.
 */
function passesThrough(profile: StreamProfile): boolean {
  if (profile.codec !== 'H264') return false;
  return videoPlan({ transcode: 'auto', video: { codec: FFMPEG_CODECS[profile.codec], ...(profile.width && { width: profile.width }), ...(profile.height && { height: profile.height }) } }).mode === 'copy';
}

/**
 * The stream for an Echo, in this order: the main stream (the camera's first profile) when it is
 * H.264 of at most 1280×720, passed through; otherwise the largest H.264 sub-stream that is (a
 * stated size before an unstated one), passed through; otherwise a transcode of the stream cheapest to bring down to 720p (the smallest that is at
 * least 1280 wide, else the largest), which costs CPU; otherwise none.
 */
export function chooseEchoStream(profiles: readonly StreamProfile[], options: ChooseOptions = {}): EchoStreamChoice {
  const usable = profiles.filter((p) => p.uri !== undefined);
  if (usable.length === 0) {
    return { mode: 'none', reason: profiles.length === 0 ? 'the camera lists no media profiles' : 'the camera gave no RTSP stream URI for any profile' };
  }
  const main = usable[0]!;
  if (passesThrough(main)) {
    return { mode: 'passthrough', profile: main, reason: `the main stream "${main.name}" (${describeStream(main)}) is H.264 an Echo shows as it is: passed through unchanged` };
  }
  const sub = usable.filter(passesThrough).sort((a, b) =>
    Number(hasSize(b)) - Number(hasSize(a)) || area(b) - area(a) || (b.fps ?? 0) - (a.fps ?? 0) || (b.bitrateKbps ?? 0) - (a.bitrateKbps ?? 0))[0];
  if (sub) {
    const why = main.codec !== 'H264'
      ? `the main stream is ${describeStream(main)}, which an Echo cannot show`
      : `the main stream (${describeStream(main)}) is larger than an Echo shows (${MAX_COPY_DIMENSION}×720)`;
    return { mode: 'passthrough', profile: sub, reason: `${why}: its H.264 sub-stream "${sub.name}" (${describeStream(sub)}) is passed through instead` };
  }
  const summary = usable.map(describeStream).join(', ');
  if (options.canTranscode === false) {
    return { mode: 'none', reason: `no stream an Echo can show (${summary}: it needs H.264 of at most ${MAX_COPY_DIMENSION}×720) and this bridge does not transcode` };
  }
  const largeEnough = usable.filter((p) => Math.max(p.width ?? 0, p.height ?? 0) >= MAX_COPY_DIMENSION).sort((a, b) => area(a) - area(b));
  const source = largeEnough[0] ?? [...usable].sort((a, b) => area(b) - area(a))[0]!;
  return {
    mode: 'transcode',
    profile: source,
    reason: `no H.264 stream of at most ${MAX_COPY_DIMENSION}×720 (${summary}): porchlight transcodes "${source.name}" (${describeStream(source)}) to H.264 720p, which costs CPU while someone watches`,
  };
}
