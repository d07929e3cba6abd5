import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as sdpTransform from 'sdp-transform';
import fc from 'fast-check';
import {
  analyzeOffer, answerDirectionFor, finalizeAnswer, NegotiationError, normalizeOfferForWerift,
  type MediaDirection, type NegotiationErrorCode, type OfferAnalysis,
} from '../../src/webrtc/sdp.ts';

/** Offers are stored with LF (see test/fixtures/offers/README.md); on the wire they are CRLF. */
function offer(name: string): string {
  return readFileSync(new URL(`../fixtures/offers/${name}.sdp`, import.meta.url), 'utf8').replace(/\r?\n/g, '\r\n');
}

function section(sdp: string, kind: 'audio' | 'video', nth = 0): string {
  const sections = sdp.split(/(?=^m=)/m).filter((part) => part.startsWith(`m=${kind} `));
  const found = sections[nth];
  assert.ok(found, `no ${kind} m-line #${nth}`);
  return found;
}

function refusal(sdp: string): NegotiationError {
  try {
    analyzeOffer(sdp);
  } catch (error) {
    assert.ok(error instanceof NegotiationError, `expected a NegotiationError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected the offer to be refused');
}

const echo = offer('echo-show-design');
const chromium = offer('chromium-156-getusermedia');

describe('analyzeOffer: offers we can answer', () => {
  const cases: {
    name: string; sdp: string; videoPt: number; videoMid: string; videoDirection: MediaDirection;
    profileLevelId: string | undefined; fmtpMissing: boolean; opusPt: number | undefined; audioMid: string; bundle: string[];
  }[] = [
    { name: 'Echo, as docs/architecture.md describes it', sdp: echo, videoPt: 126, videoMid: '1', videoDirection: 'sendrecv',
      profileLevelId: undefined, fmtpMissing: true, opusPt: 111, audioMid: '0', bundle: ['0', '1'] },
    { name: 'Echo, shaped like publicly posted offers', sdp: offer('echo-show-public'), videoPt: 99, videoMid: 'video0',
      videoDirection: 'sendrecv', profileLevelId: undefined, fmtpMissing: true, opusPt: 96, audioMid: 'audio0', bundle: ['audio0', 'video0'] },
    { name: 'Echo with LF line endings', sdp: echo.replace(/\r\n/g, '\n'), videoPt: 126, videoMid: '1', videoDirection: 'sendrecv',
      profileLevelId: undefined, fmtpMissing: true, opusPt: 111, audioMid: '0', bundle: ['0', '1'] },
    { name: 'Chromium 156 (mDNS candidates)', sdp: offer('chromium-156-mdns'), videoPt: 108, videoMid: '1', videoDirection: 'recvonly',
      profileLevelId: '42e01f', fmtpMissing: false, opusPt: 111, audioMid: '0', bundle: ['0', '1'] },
    { name: 'Chromium 156 (after getUserMedia)', sdp: chromium, videoPt: 108, videoMid: '1', videoDirection: 'recvonly',
      profileLevelId: '42e01f', fmtpMissing: false, opusPt: 111, audioMid: '0', bundle: ['0', '1'] },
    { name: 'aiortc 1.4.0', sdp: offer('aiortc-1.4.0'), videoPt: 101, videoMid: '1', videoDirection: 'recvonly',
      profileLevelId: '42e01f', fmtpMissing: false, opusPt: 96, audioMid: '0', bundle: ['0', '1'] },
    { name: 'werift 0.25 with H.264', sdp: offer('werift-0.25-h264'), videoPt: 97, videoMid: '1', videoDirection: 'recvonly',
      profileLevelId: '42e01f', fmtpMissing: false, opusPt: 96, audioMid: '0', bundle: ['0', '1'] },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const analysis = analyzeOffer(c.sdp);
      assert.equal(analysis.video.h264.payloadType, c.videoPt);
      assert.equal(analysis.video.mid, c.videoMid);
      assert.equal(analysis.video.direction, c.videoDirection);
      assert.equal(analysis.video.h264.profileLevelId, c.profileLevelId);
      assert.equal(analysis.video.h264.fmtpMissing, c.fmtpMissing);
      assert.equal(analysis.audio?.opusPayloadType, c.opusPt);
      assert.equal(analysis.audio?.mid, c.audioMid);
      assert.equal(analysis.audio?.direction, 'sendrecv');
      assert.deepEqual(analysis.bundleMids, c.bundle);
      assert.deepEqual(analysis.ignoredMLineIndexes, []);
    });
  }

  test('Chromium: mode-1 H.264 only, constrained baseline first, offer order breaking ties', () => {
    const options = analyzeOffer(chromium).video.h264Options;
    assert.deepEqual(options.map((format) => [format.payloadType, format.profile]), [
      [108, 'constrained-baseline'], [102, 'baseline'], [116, 'main'], [41, 'other'],
    ]);
  });

  test('prefers 42e01f over an Echo-style fmtp-less H.264 and over High profile', () => {
    const sdp = echo
      .replace('m=video 1 UDP/TLS/RTP/SAVPF 126', 'm=video 1 UDP/TLS/RTP/SAVPF 100 126 98')
      .replace('a=rtpmap:126 H264/90000\r\n', 'a=rtpmap:100 H264/90000\r\na=fmtp:100 packetization-mode=1;profile-level-id=640c1f\r\n'
        + 'a=rtpmap:126 H264/90000\r\na=rtpmap:98 H264/90000\r\na=fmtp:98 packetization-mode=1;profile-level-id=42E01F\r\n');
    const analysis = analyzeOffer(sdp);
    assert.deepEqual(analysis.video.h264Options.map((format) => format.payloadType), [98, 126, 100]);
    assert.equal(analysis.video.h264.profileLevelId, '42e01f');
  });

  test('audio offered without Opus: usable video, no Opus PT, the first G.711 (static PT, no rtpmap) chosen', () => {
    const sdp = echo.replace('m=audio 1 UDP/TLS/RTP/SAVPF 111 0 8', 'm=audio 1 UDP/TLS/RTP/SAVPF 0 8').replace('a=rtpmap:111 opus/48000/2\r\n', '');
    const analysis = analyzeOffer(sdp);
    assert.equal(analysis.audio?.opusPayloadType, undefined);
    assert.deepEqual(analysis.audio?.g711, { payloadType: 0, encoding: 'PCMU' });
    const pcmaFirst = analyzeOffer(sdp.replace('SAVPF 0 8', 'SAVPF 8 0'));
    assert.deepEqual(pcmaFirst.audio?.g711, { payloadType: 8, encoding: 'PCMA' });
    // werift is handed the chosen PT alone, with the rtpmap it implies.
    const audio = section(normalizeOfferForWerift(sdp, analysis), 'audio');
    assert.match(audio, /^m=audio 1 UDP\/TLS\/RTP\/SAVPF 0\r\n/);
    assert.match(audio, /a=rtpmap:0 PCMU\/8000/);
    // With Opus offered, G.711 is not used.
    assert.equal(analyzeOffer(echo).audio?.g711, undefined);
  });

  test('video only: no audio', () => {
    const sdp = echo.replace(/m=audio[\s\S]*?(?=m=video)/, '').replace('BUNDLE 0 1', 'BUNDLE 1');
    const analysis = analyzeOffer(sdp);
    assert.equal(analysis.audio, undefined);
    assert.equal(analysis.video.mLineIndex, 0);
  });

  test('a second video m-line: a rejected first one is skipped, a live extra one is ignored', () => {
    const video = section(echo, 'video');
    const rejectedFirst = echo.replace(video, video.replace('m=video 1 ', 'm=video 0 ').replace('a=mid:1', 'a=mid:2') + video);
    const analysis = analyzeOffer(rejectedFirst);
    assert.equal(analysis.video.mLineIndex, 2);
    assert.deepEqual(analysis.ignoredMLineIndexes, []);

    const twoLive = echo.replace('BUNDLE 0 1', 'BUNDLE 0 1 2').replace(video, video + video.replace('a=mid:1', 'a=mid:2'));
    const both = analyzeOffer(twoLive);
    assert.equal(both.video.mLineIndex, 1);
    assert.deepEqual(both.ignoredMLineIndexes, [2]);
  });
});

describe('analyzeOffer: offers we refuse, with a reason a person understands', () => {
  const vp8Only = offer('werift-0.25-default');
  const cases: { name: string; sdp: string; code: NegotiationErrorCode; mentions: RegExp }[] = [
    { name: 'audio only', sdp: echo.replace(/m=video[\s\S]*$/, ''), code: 'NO_VIDEO', mentions: /no video/ },
    { name: 'no media at all', sdp: 'v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n', code: 'NO_VIDEO', mentions: /no video/ },
    { name: 'VP8 only (werift default offer)', sdp: vp8Only, code: 'NO_H264', mentions: /VP8/ },
    { name: 'Chromium with every H.264 removed', sdp: chromium.replace(/H264\/90000/g, 'X264/90000'), code: 'NO_H264', mentions: /VP8, VP9/ },
    { name: 'video rejected with port 0', sdp: echo.replace('m=video 1 ', 'm=video 0 '), code: 'VIDEO_REJECTED', mentions: /port 0/ },
    { name: 'H.264 with packetization-mode=0 only',
      sdp: echo.replace('a=rtpmap:126 H264/90000\r\n', 'a=rtpmap:126 H264/90000\r\na=fmtp:126 packetization-mode=0;profile-level-id=42e01f\r\n'),
      code: 'H264_PACKETIZATION_UNSUPPORTED', mentions: /packetization-mode/ },
    { name: 'H.264 fmtp without packetization-mode (RFC default: mode 0)',
      sdp: echo.replace('a=rtpmap:126 H264/90000\r\n', 'a=rtpmap:126 H264/90000\r\na=fmtp:126 profile-level-id=42e01f;level-asymmetry-allowed=1\r\n'),
      code: 'H264_PACKETIZATION_UNSUPPORTED', mentions: /packetization-mode 1/ },
    { name: 'video offered sendonly', sdp: echo.replace(/(m=video[\s\S]*)a=sendrecv/, '$1a=sendonly'), code: 'VIDEO_NOT_RECEIVABLE', mentions: /sendonly/ },
    { name: 'garbage text', sdp: 'hello, this is not SDP', code: 'MALFORMED_SDP', mentions: /not an SDP/ },
    { name: 'empty string', sdp: '', code: 'MALFORMED_SDP', mentions: /not an SDP/ },
    { name: 'the directive JSON instead of its sdp field', sdp: JSON.stringify({ format: 'SDP', value: echo }), code: 'MALFORMED_SDP', mentions: /v=0/ },
    { name: 'no ICE credentials for the video section', sdp: echo.replace(/(m=video[\s\S]*?)a=ice-ufrag:[^\r]*\r\n/, '$1'), code: 'MALFORMED_SDP', mentions: /ice-ufrag.*video/ },
    { name: 'unreadable m= line', sdp: echo.replace('m=video 1 UDP/TLS/RTP/SAVPF 126', 'm=video one'), code: 'MALFORMED_SDP', mentions: /m= line/ },
    { name: 'no DTLS fingerprint anywhere (would fail later in DTLS)', sdp: echo.replace(/^a=fingerprint:.*\r\n/gm, ''), code: 'NO_FINGERPRINT', mentions: /a=fingerprint.*(audio|video)/ },
    { name: 'nine media sections', sdp: echo + section(echo, 'audio').replace(/^a=mid:.*$/m, 'a=mid:x').repeat(7), code: 'TOO_LARGE', mentions: /9 media sections.*at most 8/ },
    { name: 'fifty-one candidates on the video m-line',
      sdp: echo.replace(/(m=video[^]*?)(a=candidate:[^\r]*\r\n)/, (_all, head: string, candidate: string) => head + Array.from({ length: 51 }, (_, i) => candidate.replace(/^a=candidate:\S+/, `a=candidate:${i + 100}`)).join('')),
      code: 'TOO_LARGE', mentions: /video section lists 5\d ICE candidates.*at most 50/ },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const error = refusal(c.sdp);
      assert.equal(error.code, c.code);
      assert.match(error.message, c.mentions);
      assert.equal(error.name, 'NegotiationError');
    });
  }

  test('any text at all: an analysis or a NegotiationError, never another exception', () => {
    const lines = echo.split('\r\n');
    const mangledEcho = fc.array(fc.tuple(fc.nat({ max: lines.length - 1 }), fc.oneof(fc.constant(''), fc.string(), fc.integer().map(String))), { maxLength: 8 })
      .map((edits) => lines.map((line, index) => {
        const edit = edits.find(([at]) => at === index);
        // Replace the value after ':' or a token, so numeric-looking mids, PTs and codecs show up.
        return edit ? line.replace(/[^:\s]+$/, edit[1]) : line;
      }).join('\r\n'));
    fc.assert(fc.property(fc.oneof(fc.string(), fc.string().map((text) => `v=0\r\n${text}`), mangledEcho), (text) => {
      try {
        const analysis = analyzeOffer(text);
        normalizeOfferForWerift(text, analysis);
      } catch (error) {
        if (!(error instanceof NegotiationError)) throw error;
      }
    }), { numRuns: 500 });
  });
});

describe('normalizeOfferForWerift', () => {
  test('Echo: video keeps its one PT and gets no invented fmtp; audio keeps Opus; transport untouched', () => {
    const normalized = normalizeOfferForWerift(echo, analyzeOffer(echo));
    const video = section(normalized, 'video');
    const audio = section(normalized, 'audio');
    assert.match(video, /^m=video 1 UDP\/TLS\/RTP\/SAVPF 126\r\n/);
    assert.doesNotMatch(video, /a=fmtp/);
    assert.match(audio, /^m=audio 1 UDP\/TLS\/RTP\/SAVPF 111\r\n/);
    for (const kept of [/c=IN IP4 0\.0\.0\.0/, /a=group:BUNDLE 0 1/, /a=ice-ufrag:gxfV/, /a=setup:actpass/,
      /a=candidate:2 1 TCP 1015021823 198\.51\.100\.23 9 typ host tcptype active/]) {
      assert.match(normalized, kept);
    }
    assert.equal(normalized.match(/a=fingerprint:/g)?.length, 2);
    assert.match(video, /a=sendrecv/);
  });

  test('Chromium: only the chosen H.264, with its own fmtp and feedback, no rtx/red/other codecs', () => {
    const normalized = normalizeOfferForWerift(chromium, analyzeOffer(chromium));
    const video = section(normalized, 'video');
    assert.match(video, /^m=video \d+ UDP\/TLS\/RTP\/SAVPF 108\r\n/);
    assert.deepEqual(video.match(/^a=(rtpmap|fmtp|rtcp-fb):\d+/gm)?.map((line) => line.replace(/\D+/, '')).filter((pt, i, all) => all.indexOf(pt) === i), ['108']);
    assert.match(video, /a=fmtp:108 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f/);
    assert.match(section(normalized, 'audio'), /^m=audio \d+ UDP\/TLS\/RTP\/SAVPF 111\r\n/);
  });

  test('audio without Opus: only the chosen G.711 stays, with the a=rtpmap its static PT implies', () => {
    const sdp = echo.replace('m=audio 1 UDP/TLS/RTP/SAVPF 111 0 8', 'm=audio 1 UDP/TLS/RTP/SAVPF 8 0').replace('a=rtpmap:111 opus/48000/2\r\n', '');
    const audio = section(normalizeOfferForWerift(sdp, analyzeOffer(sdp)), 'audio');
    assert.match(audio, /a=rtpmap:8 PCMA\/8000/);
    assert.doesNotMatch(audio, /a=rtpmap:0 /);
  });

  test('drops an a=rtcp without an address (RFC 3605 allows it; werift throws on it)', () => {
    const sdp = echo.replace(/a=rtcp:9 IN IP4 0\.0\.0\.0/g, 'a=rtcp:9');
    const normalized = normalizeOfferForWerift(sdp, analyzeOffer(sdp));
    assert.doesNotMatch(normalized, /a=rtcp:/);
    assert.match(normalizeOfferForWerift(echo, analyzeOffer(echo)), /a=rtcp:9 IN IP4 0\.0\.0\.0/, 'a complete one stays');
  });

  test('drops an a=fmtp whose PT has no a=rtpmap (werift throws a TypeError on it)', () => {
    const sdp = echo.replace('m=audio 1 UDP/TLS/RTP/SAVPF 111 0 8', 'm=audio 1 UDP/TLS/RTP/SAVPF 0 8')
      .replace('a=rtpmap:111 opus/48000/2\r\n', 'a=fmtp:111 minptime=10\r\n');
    assert.doesNotMatch(normalizeOfferForWerift(sdp, analyzeOffer(sdp)), /a=fmtp:111/);
  });

  test('an extra live video m-line is rejected (port 0) and leaves the BUNDLE group', () => {
    const video = section(echo, 'video');
    const sdp = echo.replace('BUNDLE 0 1', 'BUNDLE 0 1 2').replace(video, video + video.replace('a=mid:1', 'a=mid:2'));
    const normalized = normalizeOfferForWerift(sdp, analyzeOffer(sdp));
    assert.match(section(normalized, 'video', 1), /^m=video 0 /);
    assert.match(normalized, /a=group:BUNDLE 0 1\r\n/);
  });

  test('is idempotent and keeps the analysis', () => {
    for (const sdp of [echo, chromium, offer('aiortc-1.4.0'), offer('echo-show-public')]) {
      const analysis = analyzeOffer(sdp);
      const once = normalizeOfferForWerift(sdp, analysis);
      const again = analyzeOffer(once);
      assert.equal(normalizeOfferForWerift(once, again), once);
      assert.equal(again.video.h264.payloadType, analysis.video.h264.payloadType);
      assert.equal(again.audio?.opusPayloadType, analysis.audio?.opusPayloadType);
    }
  });
});

/** What werift 0.25 answers to the Echo offer, shape-wise (captured, then edited per case). */
function weriftShapedAnswer(analysis: OfferAnalysis, edits: { videoDirection?: string; audio?: string; candidates?: string[]; videoPt?: number } = {}): string {
  const candidates = (edits.candidates ?? ['192.0.2.2']).map((ip, i) => `a=candidate:${i + 1} 1 udp 2116026367 ${ip} ${40000 + i} typ host\r\n`).join('');
  const transport = `c=IN IP4 0.0.0.0\r\n${candidates}a=ice-ufrag:0d00\r\na=ice-pwd:1d4b3dbd04ae402ab625ac\r\na=ice-options:trickle\r\n`
    + 'a=fingerprint:sha-256 3B:9C:2C:74:A1:E7:82:89:BC:34:F9:77:EA:D8:59:1B:3C:BB:73:F6:03:72:66:04:21:84:2F:F5:50:18:D3:61\r\na=setup:active\r\n';
  const videoPt = edits.videoPt ?? analysis.video.h264.payloadType;
  return 'v=0\r\no=- 15277877 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\na=msid-semantic:WMS *\r\n'
    + (edits.audio ?? `m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n${transport}a=sendonly\r\na=mid:0\r\na=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\n`)
    + `m=video 9 UDP/TLS/RTP/SAVPF ${videoPt}\r\n${transport}a=${edits.videoDirection ?? 'sendrecv'}\r\na=mid:1\r\na=rtcp-mux\r\na=rtpmap:${videoPt} H264/90000\r\n`;
}

describe('finalizeAnswer', () => {
  const analysis = analyzeOffer(echo);

  test('advertises only the feedback porchlight handles: nack, nack pli, ccm fir', () => {
    const analysis = analyzeOffer(chromium);
    const werift = chromium
      .replace(/^a=rtcp-fb:(\d+) nack pli\r\n/gm, 'a=rtcp-fb:$1 nack pli\r\na=rtcp-fb:$1 ccm fir\r\na=rtcp-fb:$1 goog-remb\r\na=rtcp-fb:$1 transport-cc\r\n');
    const answer = sdpTransform.parse(finalizeAnswer(werift.replace(/a=setup:actpass/g, 'a=setup:active'), analysis));
    const video = answer.media[analysis.video.mLineIndex]!;
    const feedback = new Set((video.rtcpFb ?? []).map((fb) => `${fb.type}${fb.subtype ? ` ${fb.subtype}` : ''}`));
    assert.ok(feedback.has('nack pli') && feedback.has('ccm fir'), JSON.stringify([...feedback]));
    assert.ok(!feedback.has('goog-remb') && !feedback.has('transport-cc'), JSON.stringify([...feedback]));
  });

  test('video sendonly, audio sendonly, every live m-line ends its candidates', () => {
    const answer = finalizeAnswer(weriftShapedAnswer(analysis), analysis);
    assert.match(section(answer, 'video'), /a=sendonly/);
    assert.match(section(answer, 'audio'), /a=sendonly/);
    assert.equal(answer.match(/a=end-of-candidates/g)?.length, 2);
    assert.match(section(answer, 'video'), /a=rtpmap:126 H264\/90000/);
    assert.doesNotMatch(answer, /a=fmtp:126/);
  });

  test('talkback answers audio sendrecv, but only where the viewer offered to send', () => {
    assert.match(section(finalizeAnswer(weriftShapedAnswer(analysis), analysis, { talkback: true }), 'audio'), /a=sendrecv/);
    const listenOnly = echo.replace(/(m=audio[\s\S]*?)a=sendrecv/, '$1a=recvonly');
    const listenOnlyAnalysis = analyzeOffer(listenOnly);
    assert.match(section(finalizeAnswer(weriftShapedAnswer(listenOnlyAnalysis), listenOnlyAnalysis, { talkback: true }), 'audio'), /a=sendonly/);
  });

  test('answers with the transport protocol of the offer (older Echo firmware: RTP/SAVPF)', () => {
    const legacy = echo.replace(/UDP\/TLS\/RTP\/SAVPF/g, 'RTP/SAVPF');
    const legacyAnalysis = analyzeOffer(legacy);
    const answer = finalizeAnswer(weriftShapedAnswer(legacyAnalysis), legacyAnalysis);
    assert.match(answer, /^m=audio 9 RTP\/SAVPF 111$/m);
    assert.match(answer, /^m=video 9 RTP\/SAVPF 126$/m);
  });

  const candidateCases: { name: string; ips: string[]; options: Parameters<typeof finalizeAnswer>[2]; kept: string[] }[] = [
    { name: 'IPv6 and link-local left out by default', ips: ['192.0.2.2', 'fd00::2', '169.254.10.1', 'fe80::1'], options: {}, kept: ['192.0.2.2'] },
    { name: 'IPv6 kept when allowed', ips: ['192.0.2.2', 'fd00::2'], options: { allowIpv6: true }, kept: ['192.0.2.2', 'fd00::2'] },
    { name: 'link-local kept when allowed', ips: ['192.0.2.2', '169.254.10.1'], options: { allowLinkLocal: true }, kept: ['192.0.2.2', '169.254.10.1'] },
    { name: 'excluded (docker bridge) addresses left out', ips: ['192.0.2.2', '172.17.0.1'], options: { excludedAddresses: ['172.17.0.1'] }, kept: ['192.0.2.2'] },
    { name: 'loopback kept (werift only gathers it when configured to)', ips: ['127.0.0.1'], options: {}, kept: ['127.0.0.1'] },
  ];
  for (const c of candidateCases) {
    test(`candidates: ${c.name}`, () => {
      const answer = sdpTransform.parse(finalizeAnswer(weriftShapedAnswer(analysis, { candidates: c.ips }), analysis, c.options));
      for (const media of answer.media) assert.deepEqual(media.candidates?.map((candidate) => candidate.ip), c.kept);
    });
  }

  test('no candidate left: refused, since Alexa cannot be sent more later', () => {
    assert.throws(() => finalizeAnswer(weriftShapedAnswer(analysis, { candidates: ['fd00::2'] }), analysis),
      (thrown: unknown) => thrown instanceof NegotiationError && thrown.code === 'NO_CANDIDATES');
  });

  test('an answer that renumbered the video PT is refused, not patched', () => {
    assert.throws(() => finalizeAnswer(weriftShapedAnswer(analysis, { videoPt: 97 }), analysis),
      (thrown: unknown) => thrown instanceof NegotiationError && thrown.code === 'ANSWER_MISMATCH');
  });

  test('a rejected audio m-line stays rejected', () => {
    const rejectedAudio = 'm=audio 0 UDP/TLS/RTP/SAVPF 0\r\nc=IN IP4 0.0.0.0\r\na=inactive\r\na=mid:0\r\n';
    const answer = finalizeAnswer(weriftShapedAnswer(analysis, { audio: rejectedAudio }), analysis);
    assert.match(section(answer, 'audio'), /^m=audio 0 [\s\S]*a=inactive/);
    assert.doesNotMatch(section(answer, 'audio'), /end-of-candidates/);
  });
});

describe('answerDirectionFor', () => {
  const cases: [MediaDirection, boolean, boolean, MediaDirection][] = [
    ['sendrecv', true, false, 'sendonly'], ['sendrecv', true, true, 'sendrecv'], ['recvonly', true, true, 'sendonly'],
    ['sendonly', true, true, 'recvonly'], ['sendonly', true, false, 'inactive'], ['inactive', true, true, 'inactive'],
    ['sendrecv', false, false, 'inactive'],
  ];
  for (const [offered, send, receive, expected] of cases) {
    test(`${offered} offered, send=${send} receive=${receive} → ${expected}`, () => {
      assert.equal(answerDirectionFor(offered, { send, receive }), expected);
    });
  }
});
