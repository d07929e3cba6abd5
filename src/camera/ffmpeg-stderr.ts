/**
 * Reads ffmpeg's stderr (run with `-loglevel level+info`, see ffmpeg-args.ts) for two things:
 * the input streams ffmpeg found (codec, profile, size — to re-plan copy vs transcode), and why
 * it failed, as a small set of stable codes for clear log lines and health reports.
 * Pure: the owner splits the pipe into lines (splitLines) and folds them with reduceStderr.
 *
 * What the exit status does not tell (ffmpeg 5.1): after a mid-stream RTSP timeout ffmpeg exits
 * with 0, and on SIGTERM with 255 ("Exiting normally, received signal 15"). For a live camera
 * any exit is a failure; the reason is here, not in the code. A stalled camera is noticed only
 * after ~3x `-timeout` (9 s for 3 s), so the owner should also watch for RTP going quiet.
 */
import { redactSecrets } from '../util/redact.ts';

export interface LogLine {
  context?: string; // "rtsp", "tcp", "libx264" from "[rtsp @ 0x55…]"
  level?: string; // "info", "warning", "error"… present with -loglevel level+…
  text: string;
}

export interface StreamInfo {
  file: number;
  index: number;
  kind: 'video' | 'audio';
  codec: string;
  profile?: string;
  width?: number;
  height?: number;
  fps?: number;
  sampleRate?: number;
  channels?: number;
}

export type FfmpegFailureCode =
  | 'AUTH_FAILED' // 401 / 403: wrong user or password, or the user may not view the stream
  | 'NOT_FOUND' // 404 or a missing file: wrong path in the URL
  | 'CONNECTION_REFUSED' // nothing listens on that port
  | 'HOST_UNREACHABLE' // name does not resolve, no route
  | 'TIMEOUT' // connected or connecting, then silence
  | 'SERVER_ERROR' // the camera answered 5xx
  | 'ENCODER_MISSING' // this ffmpeg build lacks libx264 / libopus
  | 'MEDIA_ERROR' // the stream itself: bad data, no video, unusable codec parameters
  | 'SPAWN_FAILED'; // ffmpeg itself could not be started (set by ffmpeg-process.ts, not a rule)

export interface FfmpegFailure {
  code: FfmpegFailureCode;
  message: string; // for people: what is wrong and what to check
  line: string; // the stderr text it came from, secrets redacted
}

interface Rule {
  code: FfmpegFailureCode;
  pattern: RegExp;
  message: string;
}

// Ordered most specific first; the first match classifies a line. Messages from ffmpeg 5.1.
const RULES: readonly Rule[] = [
  { code: 'AUTH_FAILED', pattern: /\b401 Unauthorized\b|authorization failed/i, message: 'the camera refused the credentials (401): check user and password in the camera URL' },
  { code: 'AUTH_FAILED', pattern: /\b403 Forbidden\b|access denied/i, message: 'the camera denied access (403): this user may not view that stream' },
  { code: 'NOT_FOUND', pattern: /\b404 Not Found\b/i, message: 'the camera has no stream at that path (404): check the path in the camera URL' },
  { code: 'NOT_FOUND', pattern: /No such file or directory/i, message: 'the file does not exist: check the file: path (relative to the working directory)' },
  { code: 'CONNECTION_REFUSED', pattern: /Connection refused/i, message: 'connection refused: nothing listens on that host and port (RTSP is usually 554)' },
  { code: 'HOST_UNREACHABLE', pattern: /Failed to resolve hostname|Name or service not known|Temporary failure in name resolution/i, message: 'the camera host name does not resolve' },
  { code: 'HOST_UNREACHABLE', pattern: /No route to host|Network is unreachable|Host is unreachable/i, message: 'the camera is unreachable from this machine (no route)' },
  { code: 'TIMEOUT', pattern: /timed out|Operation timed out|\bETIMEDOUT\b/i, message: 'the camera stopped answering (timeout)' },
  { code: 'SERVER_ERROR', pattern: /failed: 5\d\d\b|Server returned 5XX\b/, message: 'the camera reported an internal error (5xx): it may be overloaded or out of RTSP sessions' },
  { code: 'ENCODER_MISSING', pattern: /Unknown encoder|Encoder not found|Unknown decoder/i, message: 'this ffmpeg build lacks a required codec (libx264 or libopus): install a full ffmpeg' },
  { code: 'MEDIA_ERROR', pattern: /Decoder \(codec [^)]*\) not found/i, message: 'ffmpeg cannot decode one of the camera\'s streams (often an exotic audio codec): try without audio' },
  { code: 'MEDIA_ERROR', pattern: /Stream map '[^']*' matches no streams|does not contain any stream/i, message: 'the source has no video stream' },
  { code: 'MEDIA_ERROR', pattern: /Could not find codec parameters|dimensions not set|unspecified size/i, message: 'no usable video arrived while probing: the camera sent no frames, or an unsupported codec' },
  { code: 'MEDIA_ERROR', pattern: /Invalid data found when processing input/i, message: 'the source sent data ffmpeg cannot read (or, for RTSP, no answer within the timeout)' },
  { code: 'MEDIA_ERROR', pattern: /Could not write header|Error initializing output stream|incorrect codec parameters/i, message: 'ffmpeg could not set up the output for this source' },
];

/** When several lines match, the most telling cause wins: an earlier code beats a later one. */
const PRIORITY: readonly FfmpegFailureCode[] = [
  'SPAWN_FAILED', 'AUTH_FAILED', 'NOT_FOUND', 'CONNECTION_REFUSED', 'HOST_UNREACHABLE', 'TIMEOUT', 'SERVER_ERROR', 'ENCODER_MISSING', 'MEDIA_ERROR',
];

const LEVELS = 'quiet|panic|fatal|error|warning|info|verbose|debug|trace';
const LOG_LINE = new RegExp(`^(?:\\[([^\\]@]+?) @ 0x[0-9a-f]+\\] )?(?:\\[(${LEVELS})\\] )?(.*)$`, 'i');

export function parseLogLine(line: string): LogLine {
  const match = LOG_LINE.exec(line);
  const result: LogLine = { text: match?.[3] ?? line };
  if (match?.[1]) result.context = match[1];
  if (match?.[2]) result.level = match[2].toLowerCase();
  return result;
}

const STREAM_LINE = /^Stream #(\d+):(\d+)(?:\[0x[0-9a-f]+\])?(?:\([^)]*\))?: (Video|Audio): (.+)$/;

/**
 * `Stream #0:0: Video: h264 (High), yuv420p(progressive), 1920x1080 [SAR 1:1 DAR 16:9], 15 fps`
 * or `Stream #0:1[0x2](und): Audio: aac (LC) (mp4a / 0x6134706D), 48000 Hz, mono, fltp`.
 * Takes the text after any `[level]` prefix (parseLogLine().text) or a raw line.
 */
export function parseStreamLine(text: string): StreamInfo | null {
  const match = STREAM_LINE.exec(parseLogLine(text).text.trim());
  if (!match) return null;
  const parts = splitTopLevel(match[4] ?? '');
  const head = parts[0] ?? '';
  const codec = /^[A-Za-z0-9_]+/.exec(head)?.[0];
  if (!codec) return null;
  const info: StreamInfo = {
    file: Number(match[1]),
    index: Number(match[2]),
    kind: match[3] === 'Video' ? 'video' : 'audio',
    codec,
  };
  // The first parenthesised group is the profile unless it is a codec tag "(avc1 / 0x…)".
  const profile = /\(([^()]*)\)/.exec(head)?.[1];
  if (profile && !/ \/ 0x/.test(profile)) info.profile = profile;
  for (const part of parts.slice(1)) {
    const size = /^(\d{1,5})x(\d{1,5})(?:\s|$)/.exec(part);
    if (size && info.width === undefined) {
      info.width = Number(size[1]);
      info.height = Number(size[2]);
      continue;
    }
    const fps = /^(\d+(?:\.\d+)?) fps$/.exec(part);
    if (fps) info.fps = Number(fps[1]);
    const rate = /^(\d+) Hz$/.exec(part);
    if (rate) info.sampleRate = Number(rate[1]);
    const channels = part === 'mono' ? 1 : part === 'stereo' ? 2 : /^(\d+) channels\b/.exec(part)?.[1];
    if (channels !== undefined && info.kind === 'audio') info.channels = Number(channels);
  }
  return info;
}

/** Splits on ", " outside parentheses and brackets: "yuv420p(tv, bt709)" stays one part. */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '(' || ch === '[') depth++;
    else if ((ch === ')' || ch === ']') && depth > 0) depth--;
    else if (ch === ',' && depth === 0) {
      parts.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }
  parts.push(text.slice(start).trim());
  return parts;
}

/** Classifies one line; null when it says nothing about a failure. */
export function classifyLine(line: string): FfmpegFailure | null {
  const { text, level } = parseLogLine(line);
  // Info lines echo URLs and stream names that could contain these words; only warnings and
  // errors (or lines without a level prefix) describe failures.
  if (level !== undefined && !['warning', 'error', 'fatal', 'panic'].includes(level)) return null;
  // The tee slave for optional audio fails when the source has none: expected, not a failure.
  if (/Slave muxer #\d+ failed/.test(text)) return null;
  for (const rule of RULES) {
    if (rule.pattern.test(text)) return { code: rule.code, message: rule.message, line: redactSecrets(text.trim()) };
  }
  return null;
}

export interface StderrState {
  section: 'start' | 'input' | 'output' | 'mapping';
  inputs: readonly StreamInfo[];
  failure: FfmpegFailure | null;
  /** The last few non-info lines, redacted: what to show when no rule matched. */
  recent: readonly string[];
}

export const MAX_RECENT_LINES = 10;

export function initialStderrState(): StderrState {
  return { section: 'start', inputs: [], failure: null, recent: [] };
}

/** Folds one stderr line into the state; returns the same object when nothing changed. */
export function reduceStderr(state: StderrState, line: string): StderrState {
  const parsed = parseLogLine(line);
  const text = parsed.text.trim();
  if (text === '') return state;
  if (/^Input #\d+,/.test(text)) return { ...state, section: 'input' };
  if (/^Output #\d+,/.test(text)) return { ...state, section: 'output' };
  if (text === 'Stream mapping:') return { ...state, section: 'mapping' };
  if (state.section === 'input') {
    const stream = parseStreamLine(text);
    if (stream) return { ...state, inputs: [...state.inputs, stream] };
  }
  if (parsed.level === 'info' || parsed.level === 'verbose' || parsed.level === 'debug' || parsed.level === 'trace') return state;
  const recent = [...state.recent, redactSecrets(text)].slice(-MAX_RECENT_LINES);
  const failure = classifyLine(line);
  return { ...state, recent, failure: pickFailure(state.failure, failure) };
}

function pickFailure(current: FfmpegFailure | null, next: FfmpegFailure | null): FfmpegFailure | null {
  if (!next) return current;
  if (!current) return next;
  return PRIORITY.indexOf(next.code) < PRIORITY.indexOf(current.code) ? next : current;
}

/** The first input video and audio streams ffmpeg reported, for videoPlan(). */
export function inputStreams(state: StderrState): { video?: StreamInfo; audio?: StreamInfo } {
  return {
    video: state.inputs.find((s) => s.kind === 'video'),
    audio: state.inputs.find((s) => s.kind === 'audio'),
  };
}

export const MAX_LINE_LENGTH = 4096;

/**
 * Splits a stderr chunk into whole lines, keeping the unfinished tail for the next chunk.
 * ffmpeg ends progress lines with \r; a runaway line is cut at MAX_LINE_LENGTH so the buffer
 * stays bounded whatever ffmpeg prints.
 */
export function splitLines(pending: string, chunk: string): { lines: string[]; pending: string } {
  const pieces = (pending + chunk).split(/\r\n|\r|\n/);
  let rest = pieces.pop() ?? '';
  const lines = pieces.map((piece) => piece.slice(0, MAX_LINE_LENGTH));
  if (rest.length > MAX_LINE_LENGTH) {
    lines.push(rest.slice(0, MAX_LINE_LENGTH));
    rest = '';
  }
  return { lines, pending: rest };
}
