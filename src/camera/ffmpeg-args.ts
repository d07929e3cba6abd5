/**
 * Builds ffmpeg's argument array for one camera: pull RTSP (or loop a file), send H.264 and Opus
 * as RTP to two loopback UDP ports that Node reads. Pure: no I/O, no process spawning.
 *
 * The array goes straight to spawn() (never through a shell), so nothing here is quoted for a
 * shell. It holds the camera URL with its credentials: log `redactArgs(args)`, never `args`.
 */

import type { FfmpegVersion } from './ffmpeg-path.ts';
import { CodedError } from '../util/coded-error.ts';
import { redactSecrets } from '../util/redact.ts';

export type TranscodeMode = 'auto' | 'always' | 'never';

/** What is known about the camera's video, from config, a probe, or ffmpeg's own stream dump. */
export interface VideoSourceInfo {
  codec?: string; // ffmpeg codec name: h264, hevc, mjpeg…
  profile?: string; // as ffmpeg prints it: "High", "Main", "Constrained Baseline"
  width?: number;
  height?: number;
}

/** `present: false` = known to have no audio; leave `audio` undefined when it is unknown. */
export type AudioSourceInfo = { present: false } | { present: true; codec?: string };

export interface RtpTarget {
  port: number; // UDP port on 127.0.0.1 that Node has bound
  payloadType: number; // 0..127; Node rewrites it to the PT each viewer negotiated
  ssrc: number; // 1..0xffffffff (0 would make ffmpeg pick a random one)
}

export interface FfmpegInput {
  url: string; // rtsp://, rtsps:// or file:<path> — passed to ffmpeg as given
  transcode: TranscodeMode;
  video?: VideoSourceInfo;
  audio?: AudioSourceInfo;
  videoRtp: RtpTarget;
  audioRtp?: RtpTarget; // omit to send no audio at all
  /** A second copy of the audio as G.711 µ-law at 8 kHz in 20 ms packets, for viewers that take no Opus. */
  g711Rtp?: RtpTarget;
  /** From parseFfmpegVersion; unknown = a current ffmpeg (≥ 5.1). Older ones get older flags. */
  ffmpegVersion?: FfmpegVersion;
  /** RTSP socket I/O timeout. ffmpeg needs ~3x this to notice a stalled stream. */
  timeoutMs?: number;
  /** Fast start: ffmpeg's defaults (5 s / 5 MB) cost ~1.3 s before the first packet. */
  analyzeDurationMs?: number;
  probeSizeBytes?: number;
  audioBitrateKbps?: number;
  videoMaxBitrateKbps?: number; // transcode only
}

export type FfmpegArgsErrorCode = 'UNSUPPORTED_URL' | 'TRANSCODE_REQUIRED' | 'INVALID_OPTION';

export class FfmpegArgsError extends CodedError<FfmpegArgsErrorCode> {}

export interface VideoPlan {
  mode: 'copy' | 'transcode';
  reason: string;
}

/** Echo decoders are weak: above this (either side, so portrait doorbells count) transcode. */
export const MAX_COPY_DIMENSION = 1280;
const LOOPBACK = '127.0.0.1';
const RTP_PACKET_SIZE = 1200; // fits any WebRTC path MTU once SRTP and TURN overhead are added
/** 12 bytes of header and 160 of µ-law: 20 ms at 8 kHz, the ptime every G.711 peer expects. */
const G711_PACKET_SIZE = 172;

/**
 * Copy or transcode. Unknown codec or size under `auto` means copy: copying is what a working
 * camera needs (H.264 ≤ 1280 is the common case) and starts fastest. If the camera turns out to
 * be HEVC or 4K, ffmpeg prints the real stream on stderr (parseStreamLine in ffmpeg-stderr.ts);
 * the owner calls videoPlan again with that info and restarts ffmpeg when the plan changed.
 * Probing first with ffprobe instead would cost every cold start a second RTSP session.
 */
export function videoPlan(input: Pick<FfmpegInput, 'transcode' | 'video'>): VideoPlan {
  const { codec, width, height } = input.video ?? {};
  const normalized = codec?.toLowerCase();
  if (input.transcode === 'always') return { mode: 'transcode', reason: 'transcode: always' };
  if (normalized !== undefined && normalized !== 'h264') {
    if (input.transcode === 'never') {
      throw new FfmpegArgsError('TRANSCODE_REQUIRED', `the camera sends ${codec}, WebRTC needs H.264, and transcode is "never"`);
    }
    return { mode: 'transcode', reason: `source codec ${codec} is not H.264` };
  }
  if (input.transcode === 'never') return { mode: 'copy', reason: 'transcode: never' };
  if (Math.max(width ?? 0, height ?? 0) > MAX_COPY_DIMENSION) {
    return { mode: 'transcode', reason: `source ${width}x${height} is larger than ${MAX_COPY_DIMENSION} px` };
  }
  if (normalized === undefined) return { mode: 'copy', reason: 'source codec unknown: assume H.264' };
  return { mode: 'copy', reason: 'source is H.264 within size limits' };
}

export function buildFfmpegArgs(input: FfmpegInput): string[] {
  const source = classifyUrl(input.url);
  checkTarget('videoRtp', input.videoRtp);
  if (input.audioRtp) {
    checkTarget('audioRtp', input.audioRtp);
    if (input.audioRtp.port === input.videoRtp.port) throw invalid('audioRtp.port must differ from videoRtp.port');
    if (input.audioRtp.ssrc === input.videoRtp.ssrc) throw invalid('audioRtp.ssrc must differ from videoRtp.ssrc');
  }
  if (input.g711Rtp) {
    checkTarget('g711Rtp', input.g711Rtp);
    if (!input.audioRtp) throw invalid('g711Rtp needs audioRtp');
    const ports = new Set([input.videoRtp.port, input.audioRtp.port, input.g711Rtp.port]);
    const ssrcs = new Set([input.videoRtp.ssrc, input.audioRtp.ssrc, input.g711Rtp.ssrc]);
    if (ports.size < 3 || ssrcs.size < 3) throw invalid('g711Rtp needs a port and SSRC of its own');
  }
  const plan = videoPlan(input);
  const wantAudio = input.audioRtp !== undefined && input.audio?.present !== false;
  const g711 = wantAudio ? input.g711Rtp : undefined;

  const args = ['-hide_banner', '-nostdin', '-nostats', '-loglevel', 'level+info'];
  if (source === 'rtsp') {
    const timeoutUs = String(Math.round(positive('timeoutMs', input.timeoutMs ?? 5000) * 1000));
    // ffmpeg 5 renamed RTSP's socket timeout from -stimeout to -timeout (in 4.x, -timeout was
    // the listen timeout and would make ffmpeg wait for an incoming connection).
    const timeoutFlag = input.ffmpegVersion && input.ffmpegVersion.major < 5 ? '-stimeout' : '-timeout';
    args.push('-rtsp_transport', 'tcp', timeoutFlag, timeoutUs);
  } else {
    // A file stands in for a live camera: real-time pace, looped forever.
    args.push('-re', '-stream_loop', '-1');
  }
  // Small probing is most of the fast start (2.2 s → 1.0 s to the first packet measured on a
  // 2 s GOP camera). No `-fflags nobuffer`: it discards the packets read while probing — the
  // first keyframe among them — so copy waits for the next IDR: +0.35 s on that camera, +1 s
  // (a whole GOP) on the demo file. Replaying the probed ≤ 0.5 s costs no lasting latency.
  const analyzeUs = Math.round(positive('analyzeDurationMs', input.analyzeDurationMs ?? 500) * 1000);
  const probeSize = Math.round(positive('probeSizeBytes', input.probeSizeBytes ?? 500_000));
  args.push('-analyzeduration', String(analyzeUs), '-probesize', String(probeSize));
  args.push('-i', input.url);

  args.push('-map', '0:v:0');
  if (wantAudio) args.push('-map', '0:a:0?');
  if (g711) args.push('-map', '0:a:0?');
  args.push(...(plan.mode === 'copy' ? copyVideoArgs(source) : transcodeVideoArgs(input)));
  args.push(...(g711 ? dualAudioArgs(input) : wantAudio ? audioArgs(input) : ['-an']));
  args.push('-sn', '-dn');

  // One tee output with a `select`ed RTP slave per stream, not two `-f rtp` outputs: when the
  // audio map `0:a:0?` matches nothing, a second output has no explicit map left and ffmpeg
  // silently falls back to automatic selection — it would send the video, encoded as MPEG-4,
  // to the audio port. A tee slave that selects nothing fails alone (onfail=ignore).
  const slaves = [teeSlave('v', input.videoRtp, false)];
  if (g711 && input.audioRtp) {
    // Two audio streams: selected by output stream index (0 is the video).
    slaves.push(teeSlave('1', input.audioRtp, true), teeSlave('2', g711, true, G711_PACKET_SIZE));
  } else if (wantAudio && input.audioRtp) {
    slaves.push(teeSlave('a', input.audioRtp, true));
  }
  args.push('-f', 'tee', slaves.join('|'));
  return args;
}

function copyVideoArgs(source: 'rtsp' | 'file'): string[] {
  // Viewers join mid-stream and the keyframe cache needs SPS/PPS in-band before every IDR.
  // RTSP input is Annex B with SPS/PPS (from the SDP) in extradata: dump_extra prepends them to
  // each keyframe. A file gets no filter: in MP4 (avcC) dump_extra would splice avcC bytes into
  // the stream and break every keyframe, and h264_mp4toannexb dies at the first -stream_loop
  // wrap in ffmpeg 5.1 ("A non-NULL packet sent after an EOF", video stops after one pass).
  // The RTP muxer reads avcC itself; the clip must carry SPS/PPS in-band (x264
  // repeat-headers=1, see media/make-demo.sh) or be run with transcode: always.
  return source === 'rtsp' ? ['-c:v', 'copy', '-bsf:v', 'dump_extra=freq=keyframe'] : ['-c:v', 'copy'];
}

function transcodeVideoArgs(input: FfmpegInput): string[] {
  const maxrate = Math.round(positive('videoMaxBitrateKbps', input.videoMaxBitrateKbps ?? 2000));
  // Fit inside 1280x720 keeping the aspect ratio, never upscale, even sizes for 4:2:0.
  const fit = `scale='min(${MAX_COPY_DIMENSION},iw)':'min(720,ih)':force_original_aspect_ratio=decrease`;
  // force_divisible_by is ffmpeg ≥ 4.2; before, a second scale rounds down to even (a no-op when even).
  const scale = olderThan(input.ffmpegVersion, 4, 2) ? `${fit},scale=trunc(iw/2)*2:trunc(ih/2)*2` : `${fit}:force_divisible_by=2`;
  return [
    '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency',
    '-profile:v', 'baseline', '-pix_fmt', 'yuv420p',
    '-vf', `${scale},format=yuv420p`,
    // Keep the camera's own frame timing. The default (cfr, as the tee muxer does not declare
    // variable frame rate) duplicates frames to paper over live-source jitter: ~30 % dups seen.
    ...(olderThan(input.ffmpegVersion, 5, 1) ? ['-vsync', 'passthrough'] : ['-fps_mode', 'passthrough']),
    // An IDR every 2 s whatever the camera's frame rate (often unknown or variable): a new
    // viewer waits at most that long when no cached keyframe is at hand. -g is only a ceiling.
    '-force_key_frames', 'expr:gte(t,n_forced*2)', '-g', '60', '-bf', '0',
    '-crf', '23', '-maxrate', `${maxrate}k`, '-bufsize', `${maxrate}k`,
  ];
}

function olderThan(version: FfmpegVersion | undefined, major: number, minor: number): boolean {
  return version !== undefined && (version.major < major || (version.major === major && version.minor < minor));
}

function audioArgs(input: FfmpegInput): string[] {
  const codec = input.audio?.present ? input.audio.codec?.toLowerCase() : undefined;
  if (codec === 'opus') return ['-c:a', 'copy'];
  const kbps = Math.round(positive('audioBitrateKbps', input.audioBitrateKbps ?? 32));
  // WebRTC always says opus/48000/2, but each Opus packet carries its own channel count and
  // camera microphones are mono: one channel halves the bits for the same quality.
  // aresample=async=1 stretches over timestamp gaps (cameras drop audio packets) instead of
  // letting audio drift from video. `voip` favours speech intelligibility at low bitrates.
  return [
    '-c:a', 'libopus', '-application', 'voip', '-b:a', `${kbps}k`, '-frame_duration', '20',
    '-ar', '48000', '-ac', '1', '-af', 'aresample=async=1',
  ];
}

/**
 * Opus for WebRTC viewers (output audio stream 0) and G.711 µ-law for those that offer no Opus
 * (stream 1), from the same camera audio. A µ-law camera's audio is copied, not re-encoded.
 */
function dualAudioArgs(input: FfmpegInput): string[] {
  const codec = input.audio?.present ? input.audio.codec?.toLowerCase() : undefined;
  const opus = audioArgs(input).map((arg) => (/^-(c|application|b|frame_duration|ar|ac|af):?a?$/.test(arg) ? perStream(arg, 0) : arg));
  const mulaw = codec === 'pcm_mulaw'
    ? ['-c:a:1', 'copy']
    : ['-c:a:1', 'pcm_mulaw', '-ar:a:1', '8000', '-ac:a:1', '1', '-filter:a:1', 'aresample=async=1'];
  return [...opus, ...mulaw];
}

/** `-c:a` → `-c:a:0`, `-af` → `-filter:a:0`: the option for one output audio stream. */
function perStream(flag: string, index: number): string {
  if (flag === '-af') return `-filter:a:${index}`;
  const name = flag.replace(/:a$/, '');
  return `${name}:a:${index}`;
}

function teeSlave(select: 'v' | 'a' | '1' | '2', target: RtpTarget, optional: boolean, packetSize = RTP_PACKET_SIZE): string {
  // ffmpeg's -ssrc is a signed 32-bit option: pass the unsigned SSRC's two's complement.
  // skip_rtcp: Node does not want ffmpeg's sender reports, which would land on port+1 —
  // possibly the other stream's port.
  const options = [
    `select=${select}`, 'f=rtp', `payload_type=${target.payloadType}`,
    `ssrc=${target.ssrc | 0}`, 'rtpflags=skip_rtcp',
  ];
  if (optional) options.push('onfail=ignore');
  return `[${options.join(':')}]rtp://${LOOPBACK}:${target.port}?pkt_size=${packetSize}`;
}

function classifyUrl(url: string): 'rtsp' | 'file' {
  if (/^rtsps?:\/\/[^\s]+$/i.test(url)) return 'rtsp';
  if (/^file:[^\s]/i.test(url)) return 'file';
  throw new FfmpegArgsError('UNSUPPORTED_URL', `unsupported camera URL ${redactSecrets(url)}: use rtsp://, rtsps:// or file:`);
}

function checkTarget(name: string, target: RtpTarget): void {
  if (!Number.isInteger(target.port) || target.port < 1 || target.port > 65535) throw invalid(`${name}.port must be 1..65535`);
  if (!Number.isInteger(target.payloadType) || target.payloadType < 0 || target.payloadType > 127) {
    throw invalid(`${name}.payloadType must be 0..127`);
  }
  if (!Number.isInteger(target.ssrc) || target.ssrc < 1 || target.ssrc > 0xffffffff) throw invalid(`${name}.ssrc must be 1..0xffffffff`);
}

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) throw invalid(`${name} must be a positive number`);
  return value;
}

function invalid(message: string): FfmpegArgsError {
  return new FfmpegArgsError('INVALID_OPTION', message);
}

/** A copy of args with URL passwords and secret-looking query values replaced by `***`. */
export function redactArgs(args: readonly string[]): string[] {
  return args.map((arg) => redactSecrets(arg));
}
