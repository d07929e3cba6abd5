/**
 * Property: whatever SDP arrives as the offer of a signed InitiateSessionWithOffer, POST /alexa
 * answers HTTP 200 with a schema-valid Alexa message (AnswerGeneratedForSession or ErrorResponse;
 * a body beyond the 64 KiB transport limit gets 413, as documented), the bridge stays up, and
 * hanging up every answered session leaves no session and, once the camera has lingered, no ffmpeg.
 *
 * 1 000 offers: real captured offers (test/fixtures/offers) under SDP-aware mutations (lines
 * dropped, duplicated, swapped; values in m=, c=, a=rtpmap, a=fmtp, a=candidate, a=fingerprint,
 * ICE, DTLS, BUNDLE and mid lines corrupted; payload types renumbered; media sections removed;
 * garbage, unicode and very long lines; other line endings; truncation), plus plain random strings.
 * FUZZ_SEED=<n> replays a run.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DEMO_CLIP } from '../../src/config/load.ts';
import { ALEXA_BODY_LIMIT } from '../../src/http/alexa-route.ts';
import { alexaSchemaErrors } from '../helpers/alexa-schema.ts';
import { startBridge, type TestBridge } from '../helpers/bridge.ts';
import { directive } from '../helpers/directives.ts';
import { fixture, toEchoShape } from '../helpers/echo-offer.ts';
import { childProcesses } from '../helpers/process-census.ts';
import { until } from '../helpers/until.ts';

const RTC = 'Alexa.RTCSessionController';
const RUNS = 1000;

const FIXTURES = ['echo-show-design', 'echo-show-public', 'chromium-156-mdns', 'chromium-156-getusermedia', 'aiortc-1.4.0', 'werift-0.25-default', 'werift-0.25-h264'];
const BASES = [...FIXTURES.map(fixture), toEchoShape(fixture('werift-0.25-h264'))];

/** Values that break parsers: empty, out of range, wrong type, wrong vocabulary, huge, unicode. */
const weirdValue = fc.oneof(
  fc.constantFrom('', ' ', '0', '-1', '1', '35', '96', '127', '128', '255', '65535', '65536', '4294967296', '1e309', '0x7f', 'NaN',
    '__proto__', 'constructor', 'H264', 'h264/90000', 'opus', 'VP8', 'rtx', 'PCMU', '90000', '48000/2', '/', ':', '=', ';', '*',
    'packetization-mode=0', 'packetization-mode=1', 'profile-level-id=zzzzzz', 'profile-level-id=42e01f;packetization-mode=1',
    '0.0.0.0', '127.0.0.1', '::1', '999.1.1.1', 'IN', 'IP6', 'udp', 'UDP', 'tcp', 'typ', 'host', 'relay', 'prflx',
    'sha-1', 'sha-256', 'SHA-512', 'AB:CD', 'actpass', 'active', 'passive', 'holdconn', 'BUNDLE', 'LS', 'video', 'audio', 'application',
    'RTP/AVP', 'RTP/SAVPF', 'UDP/TLS/RTP/SAVPF', 'UDP/DTLS/SCTP', 'sendonly', 'recvonly', 'inactive', '😀', '\u0000', '\u202e', '\ufeff'),
  fc.integer({ min: -2, max: 70000 }).map(String),
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 12 }),
);

/** Lines whose value gets one token (split after ' ', '/', ':', ';' or '=') replaced by a weird value. */
const FIELDS = ['m=', 'c=', 'o=', 'a=rtpmap:', 'a=fmtp:', 'a=candidate:', 'a=fingerprint:', 'a=ice-ufrag:', 'a=ice-pwd:', 'a=setup:',
  'a=group:BUNDLE', 'a=mid:', 'a=rtcp-fb:', 'a=rtcp:', 'a=ssrc:', 'a=extmap:', 'a=sendrecv', 'a=recvonly', 'b=', 'v='];

type Lines = string[];
interface LineOp { name: string; apply: (lines: Lines) => Lines }

const at = (lines: Lines, pick: number) => (lines.length === 0 ? 0 : pick % lines.length);
const matching = (lines: Lines, prefix: string) => lines.flatMap((line, index) => (line.startsWith(prefix) ? [index] : []));

function corrupt(lines: Lines, prefix: string, pick: number, token: number, value: string): Lines {
  const indexes = matching(lines, prefix);
  if (indexes.length === 0) return lines;
  const index = indexes[pick % indexes.length]!;
  const parts = lines[index]!.slice(prefix.length).split(/(?<=[ /:;=])/);
  parts[token % parts.length] = value;
  return lines.with(index, prefix + parts.join(''));
}

/** Renumbers a payload type wherever it appears (m= format list, a=rtpmap/fmtp/rtcp-fb). */
function renumber(lines: Lines, pick: number, to: number): Lines {
  const types = [...new Set(lines.flatMap((line) => /^a=rtpmap:(\d+) /.exec(line)?.[1] ?? []))];
  if (types.length === 0) return lines;
  const from = types[pick % types.length]!;
  return lines.map((line) => line
    .replace(new RegExp(`^(a=(?:rtpmap|fmtp|rtcp-fb):)${from}(?= )`), `$1${to}`)
    .replace(/^(m=\S+ \S+ \S+)((?: \S+)*)$/, (_all, head: string, formats: string) => head + formats.replace(new RegExp(` ${from}(?= |$)`), ` ${to}`)));
}

/** Removes every m-section of one kind, from its m= line to the next m= line. */
function removeSections(lines: Lines, kind: string): Lines {
  let inside = false;
  return lines.filter((line) => {
    if (line.startsWith('m=')) inside = line.startsWith(`m=${kind} `);
    return !inside;
  });
}

const longLine = fc.constantFrom(1000, 20_000, 58_000, 61_000).chain((length) =>
  fc.constantFrom('a=x:', 'a=fmtp:126 ', 'a=candidate:1 1 udp 1 127.0.0.1 9 typ host ', '😀').map((head) => head + 'z'.repeat(length)));

const lineOp: fc.Arbitrary<LineOp> = fc.oneof(
  fc.nat().map((i) => ({ name: `drop ${i}`, apply: (l: Lines) => l.toSpliced(at(l, i), 1) })),
  fc.tuple(fc.nat(), fc.nat()).map(([i, j]) => ({ name: `duplicate ${i} at ${j}`, apply: (l: Lines) => l.toSpliced(at(l, j), 0, l[at(l, i)] ?? '') })),
  fc.tuple(fc.nat(), fc.nat()).map(([i, j]) => ({
    name: `swap ${i} ${j}`,
    apply: (l: Lines) => (l.length === 0 ? l : l.with(at(l, i), l[at(l, j)]!).with(at(l, j), l[at(l, i)]!)),
  })),
  { weight: 6, arbitrary: fc.tuple(fc.constantFrom(...FIELDS), fc.nat(), fc.nat(), weirdValue).map(([prefix, pick, token, value]) => ({
    name: `corrupt ${prefix} #${pick} token ${token} = ${JSON.stringify(value)}`,
    apply: (l: Lines) => corrupt(l, prefix, pick, token, value),
  })) },
  { weight: 2, arbitrary: fc.tuple(fc.nat(), fc.integer({ min: -1, max: 300 })).map(([pick, to]) => ({
    name: `payload type #${pick} -> ${to}`,
    apply: (l: Lines) => renumber(l, pick, to),
  })) },
  fc.constantFrom('video', 'audio').map((kind) => ({ name: `remove ${kind}`, apply: (l: Lines) => removeSections(l, kind) })),
  fc.tuple(fc.nat(), fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary' }), longLine)).map(([i, junk]) => ({
    name: `insert at ${i}: ${JSON.stringify(junk.slice(0, 40))}${junk.length > 40 ? `…(${junk.length})` : ''}`,
    apply: (l: Lines) => l.toSpliced(at(l, i), 0, junk),
  })),
);

/** Whole-text changes, done after the line changes: line endings, lost CRs, truncation. */
const textOp = fc.oneof(
  fc.constantFrom('\n', '\r', '\r\r\n', '\n\r', '\r\n\r\n', ' ').map((eol) => ({ name: `eol ${JSON.stringify(eol)}`, apply: (s: string) => s.replaceAll('\r\n', eol) })),
  fc.constant({ name: 'strip CR', apply: (s: string) => s.replaceAll('\r', '') }),
  fc.nat().map((n) => ({ name: `truncate ${n}`, apply: (s: string) => s.slice(0, n % (s.length + 1)) })),
  fc.nat().map((n) => ({ name: `truncate ${n} at a line end`, apply: (s: string) => s.split('\r\n').slice(0, n % 60).join('\r\n') })),
);

interface Case { sdp: string; how: string }

const mutated = fc.record({
  base: fc.nat({ max: BASES.length - 1 }),
  lineOps: fc.array(lineOp, { maxLength: 4 }),
  textOp: fc.oneof({ weight: 7, arbitrary: fc.constant(null) }, { weight: 3, arbitrary: textOp }),
}).map(({ base, lineOps, textOp }): Case => {
  const lines = lineOps.reduce((l, op) => op.apply(l), BASES[base]!.split('\r\n'));
  const sdp = textOp ? textOp.apply(lines.join('\r\n')) : lines.join('\r\n');
  return { sdp, how: [`base ${FIXTURES[base] ?? 'echo-shaped werift'}`, ...lineOps.map((op) => op.name), ...(textOp ? [textOp.name] : [])].join('; ') };
});

const randomText = fc.oneof(fc.string(), fc.string({ unit: 'binary', maxLength: 400 }), fc.constantFrom('v=0', 'v=0\r\n', 'v=0\r\nm=video', 'v=0\nm=video 9 UDP 126\na=rtpmap:126 H264/90000'))
  .map((sdp): Case => ({ sdp, how: 'random text' }));

/** What fast-check prints for a failing case: how it was made and the start of the offer. */
const shown = (c: Case) => `${c.how}\n${JSON.stringify(c.sdp.length > 1500 ? `${c.sdp.slice(0, 1500)}…(${c.sdp.length} chars)` : c.sdp)}`;
const offerCase = fc.oneof({ weight: 9, arbitrary: mutated }, { weight: 1, arbitrary: randomText })
  // An mDNS name (".local") as a candidate address would make werift query the LAN; keep loopback only.
  .map((c) => ({ ...c, sdp: c.sdp.replaceAll('.local', '.test') }))
  .map((c) => Object.assign(c, { [fc.toStringMethod]: () => shown(c) }));

let bridge: TestBridge;
before(async () => {
  bridge = await startBridge({
    webrtc: { hostAddresses: ['127.0.0.1'], udpPorts: '44000-44199' },
    lingerSec: 1,
    cameras: [{ id: 'demo', name: 'Demo Camera', url: `file:${DEMO_CLIP}` }],
  });
});
after(() => bridge?.close());

/** Sends a signed directive; a body over the 64 KiB transport limit gets 413 (README), all else 200 and a valid message. */
async function send(name: string, sessionId: string, payload: Record<string, unknown>, what: string): Promise<any> {
  const raw = JSON.stringify(directive(RTC, name, { endpointId: 'demo', payload: { sessionId, ...payload } }));
  const { status, json, text } = await bridge.postAlexa(undefined, { raw });
  const tooLarge = Buffer.byteLength(raw) > ALEXA_BODY_LIMIT;
  assert.equal(status, tooLarge ? 413 : 200, `${name} → HTTP ${status} ${text.slice(0, 500)}\n${what}`);
  if (tooLarge) return undefined;
  assert.deepEqual(alexaSchemaErrors(json), [], `${name} → schema-invalid reply ${text.slice(0, 1000)}\n${what}`);
  return json;
}

test(`${RUNS} mutated SDP offers each get 200 and a schema-valid answer or error (413 beyond 64 KiB); no session or ffmpeg is left`, async (t) => {
  const tally = new Map<string, number>();
  let n = 0;
  await fc.assert(
    fc.asyncProperty(offerCase, async (c) => {
      n += 1;
      const sessionId = `fuzz-${n}`;
      const reply = await send('InitiateSessionWithOffer', sessionId, { offer: { format: 'SDP', value: c.sdp } }, shown(c));
      const name: string = reply?.event.header.name ?? 'HTTP 413';
      const outcome = name === 'ErrorResponse' ? reply.event.payload.type : name;
      tally.set(outcome, (tally.get(outcome) ?? 0) + 1);
      assert.ok(['AnswerGeneratedForSession', 'ErrorResponse', 'HTTP 413'].includes(name), `unexpected ${name}\n${shown(c)}`);
      if (name === 'AnswerGeneratedForSession') {
        const bye = await send('SessionDisconnected', sessionId, {}, shown(c));
        assert.equal(bye.event.header.name, 'SessionDisconnected');
      }
      assert.equal(bridge.app.sessions.size, 0, `a session outlived its SessionDisconnected\n${shown(c)}`);
    }),
    { numRuns: RUNS, seed: Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31) },
  );
  const summary = JSON.stringify(Object.fromEntries([...tally].sort((a, b) => b[1] - a[1])));
  t.diagnostic(`replies: ${summary}`);
  // A bad offer is the viewer's fault, never porchlight's: no INTERNAL_ERROR.
  assert.equal(tally.get('INTERNAL_ERROR'), undefined, summary);
  // The mutations must reach both sides: offers still answered, and offers refused as bad SDP.
  assert.ok((tally.get('AnswerGeneratedForSession') ?? 0) >= 50, summary);
  assert.ok((tally.get('INVALID_VALUE') ?? 0) >= 50, summary);

  assert.equal((await fetch(`${bridge.url}/healthz`)).status, 200);
  assert.equal(bridge.app.sessions.size, 0);
  await until('ffmpeg to stop once the camera has lingered', () => childProcesses('ffmpeg').length === 0, 15_000, 100);
});
