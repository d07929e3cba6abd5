/**
 * SDP negotiation for Alexa's offers (Echo's quirks: docs/architecture.md, "Echo's offers").
 * Pure functions, no werift, no I/O. A Session runs:
 *   analyzeOffer(offer) → normalizeOfferForWerift(offer, analysis) → werift setRemoteDescription,
 *   createAnswer, setLocalDescription → finalizeAnswer(pc.localDescription.sdp, analysis, options).
 */
import { isIP } from 'node:net';
import * as sdpTransform from 'sdp-transform';
import type { MediaDescription, SessionDescription } from 'sdp-transform';
import { CodedError } from '../util/coded-error.ts';

export type NegotiationErrorCode =
  | 'MALFORMED_SDP' | 'NO_VIDEO' | 'VIDEO_REJECTED' | 'VIDEO_NOT_RECEIVABLE' | 'NO_H264'
  | 'H264_PACKETIZATION_UNSUPPORTED' | 'NO_CANDIDATES' | 'ANSWER_MISMATCH' | 'NO_FINGERPRINT' | 'TOO_LARGE';

/** An offer we cannot answer (or an answer we must not send); `message` is for people. */
export class NegotiationError extends CodedError<NegotiationErrorCode> {}

export type MediaDirection = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

export type H264Profile = 'constrained-baseline' | 'baseline' | 'main' | 'high' | 'other' | 'unspecified';

export interface H264Format {
  payloadType: number;
  /** Lower-case, e.g. '42e01f'; undefined when the offer did not say (Echo sends no fmtp). */
  profileLevelId: string | undefined;
  profile: H264Profile;
  /** The offer had no a=fmtp for this PT at all (Echo). We then assume packetization-mode=1. */
  fmtpMissing: boolean;
}

export interface OfferedMedia {
  /** Position of the m-line: the answer has its m-line at the same index. */
  mLineIndex: number;
  mid: string | undefined;
  /** What the viewer offered (RFC 3264 default sendrecv when the line has none). */
  direction: MediaDirection;
  /** e.g. 'UDP/TLS/RTP/SAVPF'; the answer must use the same one (RFC 3264 §6). */
  protocol: string;
}

export interface OfferAnalysis {
  video: OfferedMedia & {
    /** The H.264 format we answer with. */
    h264: H264Format;
    /** Every usable (packetization-mode=1) H.264 format in the offer, best first. */
    h264Options: H264Format[];
  };
  /** The first live audio m-line; absent when the offer has none (or rejected it). */
  audio: (OfferedMedia & {
    opusPayloadType: number | undefined;
    /** Without Opus: the first G.711 the offer lists (static PT 0/8 even without a=rtpmap). */
    g711: { payloadType: number; encoding: 'PCMU' | 'PCMA' } | undefined;
  }) | undefined;
  /** Mids of the first BUNDLE group, in offer order; [] without BUNDLE. */
  bundleMids: string[];
  /** Further audio/video m-lines we do not serve; normalizeOfferForWerift rejects them (port 0). */
  ignoredMLineIndexes: number[];
}

export interface AnswerOptions {
  /** Answer audio sendrecv so the viewer's microphone reaches the camera. */
  talkback?: boolean;
  /** Keep IPv6 candidates. Off by default: Echo offers IPv4 hosts only. */
  allowIpv6?: boolean;
  /** Keep 169.254/16 and fe80::/10 candidates, which no remote viewer can reach. */
  allowLinkLocal?: boolean;
  /** Addresses never to advertise, e.g. docker bridges the caller found on this host. */
  excludedAddresses?: Iterable<string>;
}

/** Echo offers 2 m-lines and a browser 2–3; werift's cost grows with each, so a hostile offer is bounded. */
export const MAX_M_LINES = 8;
/** Echo offers a handful of candidates per m-line; thousands would keep werift's ICE busy for long. */
export const MAX_CANDIDATES_PER_M_LINE = 50;

/**
 * RTCP feedback the answer may advertise: NACK (werift retransmits from its history), PLI and FIR
 * (the keyframe cache is replayed). Not transport-cc or goog-remb: nothing adapts to them.
 */
const HANDLED_FEEDBACK: ReadonlySet<string> = new Set(['nack', 'nack pli', 'ccm fir']);

/** RFC 3551 static payload types an offer may list without a=rtpmap (Echo does for 0 and 8). */
const STATIC_AUDIO_CODECS: ReadonlyMap<number, string> = new Map([[0, 'PCMU'], [8, 'PCMA'], [9, 'G722'], [13, 'CN']]);

export function analyzeOffer(sdp: string): OfferAnalysis {
  const session = parseOffer(sdp);
  if (session.media.length > MAX_M_LINES) {
    throw new NegotiationError('TOO_LARGE', `The offer has ${session.media.length} media sections; porchlight answers at most ${MAX_M_LINES}.`);
  }
  for (const media of session.media) {
    if ((media.candidates?.length ?? 0) > MAX_CANDIDATES_PER_M_LINE) {
      throw new NegotiationError('TOO_LARGE', `The offer's ${media.type} section lists ${media.candidates!.length} ICE candidates; porchlight takes at most ${MAX_CANDIDATES_PER_M_LINE}.`);
    }
  }
  const audioVideo = session.media
    .map((media, mLineIndex) => ({ media, mLineIndex }))
    .filter(({ media }) => media.type === 'audio' || media.type === 'video');

  let video: OfferAnalysis['video'] | undefined;
  let firstVideoProblem: NegotiationError | undefined;
  for (const { media, mLineIndex } of audioVideo.filter(({ media }) => media.type === 'video')) {
    try {
      video ??= { ...describeMedia(media, mLineIndex), ...chooseH264(media) };
    } catch (error) {
      if (!(error instanceof NegotiationError)) throw error;
      // A rejected m-line explains less than a live one that lacks H.264.
      if (!firstVideoProblem || firstVideoProblem.code === 'VIDEO_REJECTED') firstVideoProblem = error;
    }
  }
  if (!video) {
    throw firstVideoProblem ?? new NegotiationError('NO_VIDEO',
      'The viewer offered no video at all (its offer has no video section), so there is nothing to show the camera in.');
  }

  const firstAudio = audioVideo.find(({ media }) => media.type === 'audio' && media.port !== 0);
  const opusPayloadType = firstAudio?.media.rtp.find((rtp) => String(rtp.codec).toLowerCase() === 'opus' && rtp.rate === 48000)?.payload;
  const audio = firstAudio && {
    ...describeMedia(firstAudio.media, firstAudio.mLineIndex),
    opusPayloadType,
    g711: opusPayloadType === undefined ? offeredG711(firstAudio.media) : undefined,
  };

  // werift borrows a bundled section's credentials only when the mids are "0", "1"…: without
  // its own (or session-level) ones, ICE fails later, as if the viewer were unreachable.
  for (const { mLineIndex } of [video, ...(audio ? [audio] : [])]) {
    const media = session.media[mLineIndex]!;
    if (!(media.iceUfrag ?? session.iceUfrag) || !(media.icePwd ?? session.icePwd)) {
      throw new NegotiationError('MALFORMED_SDP', `The offer has no ICE credentials (a=ice-ufrag and a=ice-pwd) for its ${media.type} section, so no connection could be checked.`);
    }
    // Without the viewer's DTLS fingerprint the handshake can only fail later: refuse it now.
    if (!(media.fingerprint ?? session.fingerprint)?.hash) {
      throw new NegotiationError('NO_FINGERPRINT', `The offer has no DTLS fingerprint (a=fingerprint) for its ${media.type} section, so its media could never be secured.`);
    }
  }

  const served = new Set([video.mLineIndex, audio?.mLineIndex]);
  return {
    video,
    audio,
    bundleMids: midsOf(session.groups?.find((group) => group.type === 'BUNDLE')),
    ignoredMLineIndexes: audioVideo
      .filter(({ media, mLineIndex }) => media.port !== 0 && !served.has(mLineIndex))
      .map(({ mLineIndex }) => mLineIndex),
  };
}

/**
 * Rewrites the offer so that werift 0.25 negotiates what we chose (each point was found by feeding
 * offers to werift; see test/webrtc/werift-answer.test.ts):
 * - werift answers with the first a=rtpmap whose MIME type it knows, whatever the fmtp says: on a
 *   Chromium offer that can be packetization-mode=0 or High profile. So the video m-line keeps only
 *   the chosen H.264 PT, and audio only Opus when offered;
 * - werift throws a TypeError on an a=fmtp whose PT has no a=rtpmap, so such lines go; static PTs
 *   (Echo's 0/8) get the a=rtpmap they imply;
 * - extra audio/video m-lines get port 0, so werift rejects them instead of answering them.
 * Deliberately not done: inventing an H.264 fmtp when Echo sent none. werift accepts it without,
 * and would copy an invented one into the answer; Amazon's own WebRTC SDK answers without one too.
 * Echo's other quirks (port 1, c=0.0.0.0, no msid, media-level ICE/DTLS, uppercase UDP, TCP and
 * component-2 candidates) werift takes as they are.
 */
export function normalizeOfferForWerift(sdp: string, analysis: OfferAnalysis): string {
  const session = parseOffer(sdp);
  const rejectedMids = new Set<string>();
  session.media.forEach((media, mLineIndex) => {
    if (mLineIndex === analysis.video.mLineIndex) {
      keepOnlyPayloadTypes(media, [analysis.video.h264.payloadType]);
    } else if (mLineIndex === analysis.audio?.mLineIndex) {
      const chosen = analysis.audio.opusPayloadType ?? analysis.audio.g711?.payloadType;
      if (chosen !== undefined) keepOnlyPayloadTypes(media, [chosen]);
      addImpliedStaticRtpmaps(media);
    } else if (analysis.ignoredMLineIndexes.includes(mLineIndex)) {
      media.port = 0;
      if (media.mid !== undefined) rejectedMids.add(String(media.mid));
    }
    dropDanglingFormatLines(media);
    // `a=rtcp:9` without an address is valid (RFC 3605) but werift throws on it; with rtcp-mux unused anyway.
    if (media.rtcp && !media.rtcp.address) delete media.rtcp;
  });
  if (session.groups) {
    session.groups = session.groups
      .map((group) => ({ ...group, mids: midsOf(group).filter((mid) => !rejectedMids.has(mid)).join(' ') }))
      .filter((group) => group.mids !== '');
  }
  return sdpTransform.write(session);
}

/**
 * Post-processes werift's answer (`pc.localDescription.sdp` after setLocalDescription) so that it
 * says exactly what we will do, since Alexa gets no second chance (no trickle, no renegotiation):
 * - directions: video sendonly; audio sendonly, or sendrecv with talkback (intersected with what
 *   was offered). werift answers `sendrecv` whenever a track was added with addTrack() to the
 *   recvonly transceiver it made for Echo's sendrecv m-line, and Echo would then upload its own
 *   camera to us;
 * - the offer's transport protocol per m-line (older Echo firmware offered `RTP/SAVPF`; werift
 *   always writes `UDP/TLS/RTP/SAVPF`);
 * - candidates: without IPv6 and link-local (and `excludedAddresses`) unless allowed, followed by
 *   a=end-of-candidates on every live m-line;
 * - the chosen PTs are verified (not rewritten): werift renumbering them would be a bug upstream.
 */
export function finalizeAnswer(answerSdp: string, analysis: OfferAnalysis, options: AnswerOptions = {}): string {
  const answer = sdpTransform.parse(answerSdp);
  const excluded = new Set(options.excludedAddresses ?? []);
  const keepCandidate = (ip: string): boolean => {
    const family = isIP(ip);
    if (family === 0 || excluded.has(ip)) return false;
    if (family === 6 && !options.allowIpv6) return false;
    return options.allowLinkLocal === true || !isLinkLocal(ip);
  };

  for (const offered of [analysis.video, analysis.audio]) {
    if (!offered) continue;
    const media = answer.media[offered.mLineIndex];
    const isVideo = offered === analysis.video;
    if (!media || media.type !== (isVideo ? 'video' : 'audio')) {
      throw new NegotiationError('ANSWER_MISMATCH', `The answer has no ${isVideo ? 'video' : 'audio'} section where the offer had one.`);
    }
    if (media.port === 0) {
      if (isVideo) throw new NegotiationError('ANSWER_MISMATCH', 'The answer rejected the video that was offered.');
      continue;
    }
    const expected = isVideo ? analysis.video.h264.payloadType : (analysis.audio?.opusPayloadType ?? analysis.audio?.g711?.payloadType);
    if (expected !== undefined && !payloadTypesOf(media).includes(expected)) {
      throw new NegotiationError('ANSWER_MISMATCH',
        `The answer's ${media.type} uses payload types ${media.payloads ?? ''} instead of the offered ${expected}.`);
    }
    media.protocol = offered.protocol;
    media.direction = answerDirectionFor(offered.direction, { send: true, receive: !isVideo && options.talkback === true });
    // werift copies the offer's feedback types; advertise only those porchlight acts on.
    media.rtcpFb = media.rtcpFb?.filter((fb) => HANDLED_FEEDBACK.has(`${fb.type}${fb.subtype ? ` ${fb.subtype}` : ''}`));
    if (media.rtcpFb?.length === 0) delete media.rtcpFb;
  }

  for (const media of answer.media) {
    if (media.port === 0) continue;
    media.candidates = media.candidates?.filter((candidate) => keepCandidate(candidate.ip));
    if (!media.candidates?.length) {
      throw new NegotiationError('NO_CANDIDATES',
        'porchlight has no network address the viewer could reach (every local address was filtered out), so the call cannot connect.');
    }
    media.endOfCandidates = 'end-of-candidates';
  }
  return sdpTransform.write(answer);
}

/** The answer direction for an offered one: we can only send what the viewer will receive. */
export function answerDirectionFor(offered: MediaDirection, wanted: { send: boolean; receive: boolean }): MediaDirection {
  const send = wanted.send && (offered === 'sendrecv' || offered === 'recvonly');
  const receive = wanted.receive && (offered === 'sendrecv' || offered === 'sendonly');
  if (send && receive) return 'sendrecv';
  if (send) return 'sendonly';
  return receive ? 'recvonly' : 'inactive';
}

function parseOffer(sdp: string): SessionDescription {
  if (typeof sdp !== 'string' || !/^v=0\r?\n/.test(sdp.trimStart())) {
    throw new NegotiationError('MALFORMED_SDP', 'The offer is not an SDP document (it does not start with "v=0").');
  }
  let session: SessionDescription;
  try {
    session = sdpTransform.parse(sdp.trimStart());
  } catch (error) {
    throw new NegotiationError('MALFORMED_SDP', `The offer could not be read as SDP: ${(error as Error).message}`);
  }
  const broken = session.media.find((media) => !Number.isInteger(media.port) || !media.protocol);
  if (broken) {
    throw new NegotiationError('MALFORMED_SDP', `The offer has an unreadable m= line for "${broken.type}".`);
  }
  return session;
}

function describeMedia(media: MediaDescription, mLineIndex: number): OfferedMedia {
  const mid = media.mid === undefined ? undefined : String(media.mid);
  return { mLineIndex, mid, direction: media.direction ?? 'sendrecv', protocol: media.protocol };
}

function chooseH264(media: MediaDescription): Pick<OfferAnalysis['video'], 'h264' | 'h264Options'> {
  if (media.port === 0) {
    throw new NegotiationError('VIDEO_REJECTED', 'The viewer switched video off in its offer (video port 0), so it would show nothing.');
  }
  const direction = media.direction ?? 'sendrecv';
  if (direction === 'sendonly' || direction === 'inactive') {
    throw new NegotiationError('VIDEO_NOT_RECEIVABLE', `The viewer offered video as "${direction}": it would not display a camera.`);
  }
  const h264 = media.rtp.filter((rtp) => String(rtp.codec).toLowerCase() === 'h264' && (rtp.rate ?? 90000) === 90000);
  if (h264.length === 0) {
    const offered = [...new Set(media.rtp.map((rtp) => rtp.codec))].filter((codec) => !/^(rtx|red|ulpfec|flexfec-03)$/i.test(codec));
    throw new NegotiationError('NO_H264',
      `The viewer cannot play H.264 video (it offered ${offered.join(', ') || 'no video codec'}); porchlight streams cameras as H.264.`);
  }
  const usable = h264
    .map((rtp) => describeH264(rtp.payload, media.fmtp.find((fmtp) => fmtp.payload === rtp.payload)?.config))
    .filter((format): format is H264Format => format !== undefined)
    .map((format, offerOrder) => ({ format, offerOrder }))
    .sort((a, b) => profileRank(a.format) - profileRank(b.format) || a.offerOrder - b.offerOrder)
    .map(({ format }) => format);
  const best = usable[0];
  if (!best) {
    throw new NegotiationError('H264_PACKETIZATION_UNSUPPORTED',
      'The viewer offered H.264 only in packetization-mode 0 (every packet must hold a whole picture slice), which camera video does not fit in; porchlight needs packetization-mode 1.');
  }
  return { h264: best, h264Options: usable };
}

/** undefined when the format is not usable: packetization-mode must be 1 (or unstated with no fmtp at all). */
function describeH264(payloadType: number, fmtpConfig: string | undefined): H264Format | undefined {
  if (fmtpConfig === undefined) {
    // Echo sends no fmtp. RFC 6184 would then mean mode 0, but Echo decodes FU-A (mode 1) fine.
    return { payloadType, profileLevelId: undefined, profile: 'unspecified', fmtpMissing: true };
  }
  const params = sdpTransform.parseParams(String(fmtpConfig));
  // With an fmtp present, an absent packetization-mode means mode 0 (RFC 6184 §8.1), as Firefox uses it.
  if (String(params['packetization-mode'] ?? '0') !== '1') return undefined;
  const profileLevelId = params['profile-level-id'] === undefined ? undefined : String(params['profile-level-id']).toLowerCase();
  return { payloadType, profileLevelId, profile: classifyProfile(profileLevelId), fmtpMissing: false };
}

/** profile_idc and profile_iop from RFC 6184 §8.1 (Table 5). */
function classifyProfile(profileLevelId: string | undefined): H264Profile {
  if (profileLevelId === undefined || !/^[0-9a-f]{6}$/.test(profileLevelId)) return 'unspecified';
  const idc = parseInt(profileLevelId.slice(0, 2), 16);
  const iop = parseInt(profileLevelId.slice(2, 4), 16);
  if ((idc === 0x42 && iop & 0x40) || (idc === 0x4d && iop & 0x80) || (idc === 0x58 && (iop & 0xc0) === 0xc0)) {
    return 'constrained-baseline';
  }
  if (idc === 0x42) return 'baseline';
  if (idc === 0x4d) return 'main';
  if (idc === 0x64) return 'high';
  return 'other';
}

/** Lower is better: what Echo-class decoders and Chromium take most reliably comes first. */
function profileRank(format: H264Format): number {
  if (format.profileLevelId === '42e01f') return 0;
  if (format.profileLevelId === '42001f') return 1;
  const byProfile: Record<H264Profile, number> = { 'constrained-baseline': 2, baseline: 2, unspecified: 3, main: 4, high: 5, other: 6 };
  return byProfile[format.profile];
}

/** sdp-transform turns numeric-looking values into numbers (`a=group:BUNDLE 1` → mids: 1). */
function midsOf(group: { mids: string } | undefined): string[] {
  return group === undefined ? [] : String(group.mids).split(' ').filter(Boolean);
}

function payloadTypesOf(media: MediaDescription): number[] {
  return String(media.payloads ?? '').split(' ').filter(Boolean).map(Number);
}

function keepOnlyPayloadTypes(media: MediaDescription, keep: number[]): void {
  const kept = (payload: number | string): boolean => payload === '*' || keep.includes(Number(payload));
  media.payloads = keep.join(' ');
  media.rtp = media.rtp.filter((rtp) => kept(rtp.payload));
  media.fmtp = media.fmtp.filter((fmtp) => kept(fmtp.payload));
  if (media.rtcpFb) media.rtcpFb = media.rtcpFb.filter((feedback) => kept(feedback.payload));
  if (media.rtcpFbTrrInt) media.rtcpFbTrrInt = media.rtcpFbTrrInt.filter((trr) => kept(trr.payload));
}

/** The first PCMU or PCMA at 8 kHz in the offer's order: by a=rtpmap, or static PT 0/8 without one. */
function offeredG711(media: MediaDescription): { payloadType: number; encoding: 'PCMU' | 'PCMA' } | undefined {
  for (const payloadType of payloadTypesOf(media)) {
    const rtpmap = media.rtp.find((rtp) => rtp.payload === payloadType);
    const name = rtpmap ? String(rtpmap.codec).toUpperCase() : STATIC_AUDIO_CODECS.get(payloadType);
    if ((name === 'PCMU' || name === 'PCMA') && (rtpmap?.rate ?? 8000) === 8000) return { payloadType, encoding: name };
  }
  return undefined;
}

function addImpliedStaticRtpmaps(media: MediaDescription): void {
  for (const payload of payloadTypesOf(media)) {
    const codec = STATIC_AUDIO_CODECS.get(payload);
    if (codec && !media.rtp.some((rtp) => rtp.payload === payload)) media.rtp.push({ payload, codec, rate: 8000 });
  }
}

function dropDanglingFormatLines(media: MediaDescription): void {
  const mapped = new Set(media.rtp.map((rtp) => rtp.payload));
  media.fmtp = media.fmtp.filter((fmtp) => mapped.has(fmtp.payload));
}

function isLinkLocal(ip: string): boolean {
  return isIP(ip) === 4 ? ip.startsWith('169.254.') : /^fe[89ab][0-9a-f]:/i.test(ip);
}
