import sdpTransform from 'sdp-transform';
import { withoutUserinfo } from '../util/redact.ts';

/**
 * RTSP wire format (RFC 2326) as an RTSP client reads it: responses, `$`-framed interleaved
 * RTP/RTCP (§10.12) mixed in between them on the same TCP stream, and the SDP of a DESCRIBE
 * answer. Pure: no sockets here, so the framing is testable byte by byte.
 */

export interface RtspResponse {
  status: number;
  headers: Map<string, string[]>;
}

/** A response with what a client needs beyond the status: the reason phrase and the body. */
export interface RtspReply extends RtspResponse {
  reason: string;
  body: string;
}

/** One unit read from the front of the stream; `length` is how many bytes it took. */
export type RtspChunk =
  | { type: 'interleaved'; channel: number; payload: Buffer; length: number }
  | { type: 'response'; reply: RtspReply; length: number }
  /** A request from the server (some cameras send GET_PARAMETER or ANNOUNCE); nothing needs it. */
  | { type: 'request'; method: string; length: number }
  /** Bytes that are neither: skipped up to the next `$` or `RTSP/`, to resynchronise. */
  | { type: 'garbage'; length: number }
  /** A message that cannot be framed (a Content-Length that is negative, not a number, or huge): end the connection. */
  | { type: 'invalid'; reason: string; length: 0 };

interface Head {
  startLine: string;
  headers: Map<string, string[]>;
  /** Head plus Content-Length body; always more than zero. */
  length: number;
}

/** A camera's SDP or error page is a few KiB; anything bigger is not an answer we need. */
export const MAX_BODY_BYTES = 64 * 1024;
/** Content-Length is digits only (RFC 2326 §12.14): no sign, no spaces inside, no exponent. */
const CONTENT_LENGTH = /^\d{1,9}$/;

/** The head, or why its body cannot be framed (every caller must then end the connection). */
function parseHead(buffer: Buffer, end: number): Head | { invalid: string } {
  const [startLine = '', ...headerLines] = buffer.subarray(0, end).toString('latin1').split('\r\n');
  const headers = new Map<string, string[]>();
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    headers.set(name, [...(headers.get(name) ?? []), line.slice(colon + 1).trim()]);
  }
  const lengths = headers.get('content-length') ?? [];
  if (lengths.length > 1 && new Set(lengths).size > 1) return { invalid: 'conflicting Content-Length headers' };
  const declared = lengths[0];
  if (declared !== undefined && !CONTENT_LENGTH.test(declared)) return { invalid: `Content-Length "${declared.slice(0, 20)}" is not a length` };
  const bodyLength = declared === undefined ? 0 : Number(declared);
  if (bodyLength > MAX_BODY_BYTES) return { invalid: `Content-Length ${bodyLength} is over ${MAX_BODY_BYTES} bytes` };
  return { startLine, headers, length: end + 4 + bodyLength };
}

/** Parses one RTSP response (status line, headers, Content-Length body) from the front of `buffer`. */
export function parseRtspResponse(buffer: Buffer): { response: RtspResponse; length: number } | 'incomplete' | 'invalid' {
  const end = buffer.indexOf('\r\n\r\n');
  if (end < 0) {
    return buffer.length >= 9 && !buffer.subarray(0, 9).toString('latin1').startsWith('RTSP/') ? 'invalid' : 'incomplete';
  }
  const head = parseHead(buffer, end);
  if ('invalid' in head) return 'invalid';
  const status = /^RTSP\/\d\.\d (\d{3})/.exec(head.startLine);
  if (!status) return 'invalid';
  if (buffer.length < head.length) return 'incomplete';
  return { response: { status: Number(status[1]), headers: head.headers }, length: head.length };
}

const DOLLAR = 0x24;
const REQUEST_LINE = /^([A-Z_]+) \S+ RTSP\/\d\.\d$/;

/** Reads the next response, interleaved frame or server request from the front of `buffer`. */
export function readRtspChunk(buffer: Buffer): RtspChunk | 'incomplete' {
  if (buffer.length === 0) return 'incomplete';
  if (buffer[0] === DOLLAR) {
    // `$`, channel, 16-bit big-endian length, then that many bytes of RTP or RTCP.
    if (buffer.length < 4) return 'incomplete';
    const length = 4 + buffer.readUInt16BE(2);
    if (buffer.length < length) return 'incomplete';
    return { type: 'interleaved', channel: buffer[1]!, payload: buffer.subarray(4, length), length };
  }
  const end = buffer.indexOf('\r\n\r\n');
  // A status line (`RTSP/…`) or a request line (`GET_PARAMETER …`) still arriving.
  if (end < 0) return /^[A-Z_]/.test(String.fromCharCode(buffer[0]!)) ? 'incomplete' : garbage(buffer);
  const head = parseHead(buffer, end);
  if ('invalid' in head) return { type: 'invalid', reason: head.invalid, length: 0 };
  const status = /^RTSP\/\d\.\d (\d{3}) ?(.*)$/.exec(head.startLine);
  const request = REQUEST_LINE.exec(head.startLine);
  if (!status && !request) return garbage(buffer);
  if (buffer.length < head.length) return 'incomplete';
  if (request) return { type: 'request', method: request[1]!, length: head.length };
  const body = buffer.subarray(end + 4, head.length).toString('utf8');
  return { type: 'response', reply: { status: Number(status![1]), reason: status![2]!, headers: head.headers, body }, length: head.length };
}

function garbage(buffer: Buffer): RtspChunk {
  const candidates = [buffer.indexOf(DOLLAR, 1), buffer.indexOf('RTSP/', 1)].filter((i) => i > 0);
  return { type: 'garbage', length: candidates.length ? Math.min(...candidates) : buffer.length };
}

export function formatRtspRequest(method: string, uri: string, headers: Record<string, string>): string {
  const lines = [`${method} ${uri} RTSP/1.0`, ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`)];
  return `${lines.join('\r\n')}\r\n\r\n`;
}

export function interleavedFrame(channel: number, payload: Buffer): Buffer {
  const header = Buffer.from([DOLLAR, channel, payload.length >> 8, payload.length & 0xff]);
  return Buffer.concat([header, payload]);
}

export function firstHeader(response: RtspResponse, name: string): string | undefined {
  return response.headers.get(name.toLowerCase())?.[0];
}

/** `Session: 12345678;timeout=30` → id and timeout; RFC 2326 §12.37's default is 60 s. */
export function parseSessionHeader(value: string): { id: string; timeoutSec: number } {
  const [id = '', ...params] = value.split(';').map((part) => part.trim());
  const timeout = params.map((p) => /^timeout\s*=\s*(\d+)$/i.exec(p)?.[1]).find((t) => t !== undefined);
  const timeoutSec = Number(timeout);
  return { id, timeoutSec: timeoutSec > 0 ? timeoutSec : 60 };
}

/** The RTP channel of `interleaved=4-5` in a SETUP answer's Transport; the camera may pick others than asked. */
export function parseInterleavedChannel(transport: string): number | undefined {
  const match = /(?:^|;)\s*interleaved\s*=\s*(\d+)/i.exec(transport);
  return match ? Number(match[1]) : undefined;
}

/**
 * Resolves an SDP `a=control` against the Content-Base. Relative controls are appended with a
 * `/`, not resolved as URL paths: `rtsp://cam/live` + `trackID=1` must be `rtsp://cam/live/trackID=1`,
 * which is what ffmpeg and live555 send and what cameras expect. Some cameras write their
 * credentials into absolute controls: dropped, as credentials go in Authorization and the control
 * URL is sent on and logged.
 */
export function resolveControl(control: string | undefined, base: string): string {
  if (!control || control === '*') return withoutUserinfo(base);
  if (/^rtsps?:\/\//i.test(control)) return withoutUserinfo(control);
  return withoutUserinfo(base.endsWith('/') ? `${base}${control}` : `${base}/${control}`);
}

export interface SdpTrack {
  control: string;
  media: string;
  direction: string;
}

export interface G711Codec {
  encoding: 'PCMU' | 'PCMA';
  payloadType: number;
  clockRate: number;
}

/** Every m-line of a DESCRIBE answer in order (the order fixes the interleaved channels). */
export function listTracks(sdp: string, contentBase: string): SdpTrack[] {
  return sdpTransform.parse(sdp).media.map((m) => ({
    control: resolveControl(m.control, contentBase),
    media: m.type,
    direction: m.direction ?? 'sendrecv', // the SDP default when no direction attribute is given
  }));
}

/** The session-level control URL (PLAY, keep-alives, TEARDOWN). */
export function sessionControl(sdp: string, contentBase: string): string {
  return resolveControl(sdpTransform.parse(sdp).control, contentBase);
}

/**
 * The ONVIF backchannel in a DESCRIBE answer: an audio m-line the camera marks `sendonly` (the
 * client sends), with G.711 at 8 kHz. Static payload types 0/8 count even without an rtpmap.
 */
export function findBackchannelTrack(sdp: string, contentBase: string): { control: string; codec: G711Codec } | undefined {
  for (const m of sdpTransform.parse(sdp).media) {
    if (m.type !== 'audio' || m.direction !== 'sendonly') continue;
    for (const pt of String(m.payloads ?? '').split(/\s+/).filter(Boolean).map(Number)) {
      const rtpmap = m.rtp.find((r) => r.payload === pt);
      const name = rtpmap?.codec.toUpperCase() ?? (pt === 0 ? 'PCMU' : pt === 8 ? 'PCMA' : undefined);
      const clockRate = rtpmap?.rate ?? 8000;
      if ((name === 'PCMU' || name === 'PCMA') && clockRate === 8000) {
        return { control: resolveControl(m.control, contentBase), codec: { encoding: name, payloadType: pt, clockRate } };
      }
    }
  }
  return undefined;
}
