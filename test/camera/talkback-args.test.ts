import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildTalkbackArgs, talkbackSdp } from '../../src/camera/talkback-args.ts';

test('talkback SDP describes the viewer Opus on the given port and payload type', () => {
  const sdp = talkbackSdp({ port: 45000, payloadType: 111 });
  assert.match(sdp, /^v=0\r\n/);
  assert.match(sdp, /\r\nc=IN IP4 127\.0\.0\.1\r\n/);
  assert.match(sdp, /\r\nm=audio 45000 RTP\/AVP 111\r\na=rtpmap:111 opus\/48000\/2\r\n$/);
});

test('talkback SDP for a viewer that sends G.711 (its offer had no Opus)', () => {
  assert.match(talkbackSdp({ port: 45000, payloadType: 0, encoding: 'PCMU' }), /\r\nm=audio 45000 RTP\/AVP 0\r\na=rtpmap:0 PCMU\/8000\r\n$/);
  assert.match(talkbackSdp({ port: 45000, payloadType: 8, encoding: 'PCMA' }), /\r\na=rtpmap:8 PCMA\/8000\r\n$/);
  assert.match(talkbackSdp({ port: 45000, payloadType: 111, encoding: 'opus' }), /\r\na=rtpmap:111 opus\/48000\/2\r\n$/);
});

test('talkback args: SDP from stdin, G.711 8 kHz mono raw to stdout, jitter buffer bounded', () => {
  const cases: Array<[Parameters<typeof buildTalkbackArgs>[0], string, string, string]> = [
    [{ port: 1, payloadType: 111, codec: 'PCMU' }, 'pcm_mulaw', 'mulaw', '60000'],
    [{ port: 1, payloadType: 111, codec: 'PCMA', jitterMs: 100 }, 'pcm_alaw', 'alaw', '100000'],
  ];
  for (const [input, encoder, format, maxDelay] of cases) {
    const args = buildTalkbackArgs(input);
    const after = (flag: string) => args[args.indexOf(flag) + 1];
    assert.equal(after('-i'), 'pipe:0');
    assert.equal(after('-f'), 'sdp', 'the first -f names the input format');
    assert.equal(after('-c:a'), encoder);
    assert.equal(args.at(-1), 'pipe:1');
    assert.equal(args[args.lastIndexOf('-f') + 1], format);
    assert.equal(after('-ar'), '8000');
    assert.equal(after('-ac'), '1');
    assert.equal(after('-max_delay'), maxDelay);
    assert.deepEqual(after('-protocol_whitelist'), 'pipe,udp,rtp');
  }
});
