/**
 * What a hostile or broken camera answers, as bytes: hand-picked framing attacks (negative,
 * non-numeric and huge Content-Length, interleaved frames around them, garbage) plus seeded random
 * mutations of a real answer. Pure, shared by the hostile server and its test.
 */

const DESCRIBE_SDP = 'v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=cam\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:trackID=0\r\nm=audio 0 RTP/AVP 0\r\na=sendonly\r\na=control:trackID=1\r\n';

function answer(headers: string[], body = ''): string {
  return `RTSP/1.0 200 OK\r\nCSeq: 1\r\n${headers.map((h) => `${h}\r\n`).join('')}\r\n${body}`;
}

const head = 'RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: ';

export const HAND_PICKED: Array<[string, Buffer]> = [
  ['negative Content-Length', Buffer.from(answer(['Content-Length: -1000000']))],
  // A length of minus the head: the chunk would be exactly 0 bytes long, so the reader never advances.
  ['Content-Length of minus the head', Buffer.from(`${head}-${head.length + 12}\r\n\r\n`)],
  ['Content-Length -4', Buffer.from(answer(['Content-Length: -4']))],
  ['Content-Length with an exponent', Buffer.from(answer(['Content-Length: 1e3']))],
  ['Content-Length not a number', Buffer.from(answer(['Content-Length: twelve']))],
  ['Content-Length hex', Buffer.from(answer(['Content-Length: 0x10']))],
  ['Content-Length huge', Buffer.from(answer(['Content-Length: 999999999']))],
  ['Content-Length too long a number', Buffer.from(answer(['Content-Length: 99999999999999999999']))],
  ['two different Content-Lengths', Buffer.from(answer(['Content-Length: 0', 'Content-Length: 5'], 'abcde'))],
  ['interleaved frames then a negative length', Buffer.concat([Buffer.from([0x24, 0, 0, 4, 1, 2, 3, 4]), Buffer.from([0x24, 1, 0, 0]), Buffer.from(answer(['Content-Length: -20']))])],
  ['an interleaved frame announcing 64 KiB, never sent', Buffer.from([0x24, 0, 0xff, 0xff, 1, 2])],
  ['garbage then a negative length', Buffer.concat([Buffer.from('\x00\x01garbage$$$RTSP/'), Buffer.from(answer(['Content-Length: -1']))])],
  ['an HTTP answer', Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n')],
  ['a status line without a code', Buffer.from('RTSP/1.0 OK\r\nCSeq: 1\r\n\r\n')],
  ['a server request with a negative length', Buffer.from('ANNOUNCE rtsp://x/ RTSP/1.0\r\nCSeq: 9\r\nContent-Length: -50\r\n\r\n')],
  ['endless header', Buffer.from(`RTSP/1.0 200 OK\r\nX-Pad: ${'a'.repeat(300_000)}`)],
  ['a DESCRIBE with 1000 tracks', Buffer.from(answer(['Content-Type: application/sdp', `Content-Length: ${Buffer.byteLength(manyTracks(1000))}`], manyTracks(1000)))],
  ['a valid DESCRIBE answer', Buffer.from(answer(['Content-Type: application/sdp', `Content-Length: ${DESCRIBE_SDP.length}`], DESCRIBE_SDP))],
];

function manyTracks(n: number): string {
  const tracks = Array.from({ length: n }, (_, i) => `m=video 0 RTP/AVP 96\r\na=control:trackID=${i}\r\n`).join('');
  return `v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=cam\r\nt=0 0\r\n${tracks}m=audio 0 RTP/AVP 0\r\na=sendonly\r\na=control:back\r\n`;
}

/** A small seeded generator (mulberry32): a failing run is replayed with the same seed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SPLICES = ['-', '$', '\r\n', '\r\n\r\n', 'Content-Length: -', 'RTSP/1.0 ', '\x00', '9999999', '$\x00\xff\xff'];

/** Mutations of a real DESCRIBE answer: flipped bytes, spliced framing tokens, cut short. */
export function mutatedCases(count: number, seed: number): Array<[string, Buffer]> {
  const next = random(seed);
  const base = Buffer.from(answer(['Content-Type: application/sdp', `Content-Length: ${DESCRIBE_SDP.length}`], DESCRIBE_SDP), 'latin1');
  const cases: Array<[string, Buffer]> = [];
  for (let i = 0; i < count; i++) {
    let bytes = Buffer.from(base);
    const edits = 1 + Math.floor(next() * 4);
    for (let e = 0; e < edits; e++) {
      const at = Math.floor(next() * bytes.length);
      const kind = next();
      if (kind < 0.4) {
        bytes[at] = Math.floor(next() * 256);
      } else if (kind < 0.85) {
        const splice = Buffer.from(SPLICES[Math.floor(next() * SPLICES.length)]!, 'latin1');
        bytes = Buffer.concat([bytes.subarray(0, at), splice, bytes.subarray(at)]);
      } else {
        bytes = bytes.subarray(0, at);
      }
    }
    cases.push([`mutation ${i} (seed ${seed})`, bytes]);
  }
  return cases;
}
