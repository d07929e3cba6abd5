// The ONVIF backchannel client's parsing, no camera needed: the tracks of a DESCRIBE answer (SDP)
// and the RTSP framing (interleaved frames, responses, Session and Transport headers).

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { findBackchannelTrack, keepAliveIntervalMs, listTracks } from '../../src/camera/rtsp-backchannel.ts';
import { parseInterleavedChannel, parseSessionHeader, readRtspChunk } from '../../src/camera/rtsp-message.ts';
import { GSTREAMER_SDP, HIKVISION_SDP } from './rtsp-backchannel-helpers.ts';

describe('SDP: listTracks and findBackchannelTrack', () => {
  test("GStreamer's answer: the third track, PCMU, resolved against Content-Base", () => {
    const base = 'rtsp://127.0.0.1:8554/stream/';
    assert.deepEqual(listTracks(GSTREAMER_SDP, base), [
      { control: `${base}stream=0`, media: 'video', direction: 'recvonly' },
      { control: `${base}stream=1`, media: 'audio', direction: 'recvonly' },
      { control: `${base}stream=2`, media: 'audio', direction: 'sendonly' },
    ]);
    assert.deepEqual(findBackchannelTrack(GSTREAMER_SDP, base), {
      control: `${base}stream=2`,
      codec: { encoding: 'PCMU', payloadType: 0, clockRate: 8000 },
    });
  });

  test('Hikvision-style: trackID controls, a metadata track, sendonly PCMA', () => {
    const base = 'rtsp://192.168.1.64:554/Streaming/Channels/101/';
    assert.deepEqual(listTracks(HIKVISION_SDP, base).map((t) => [t.control, t.media, t.direction]), [
      [`${base}trackID=1`, 'video', 'recvonly'],
      [`${base}trackID=2`, 'audio', 'recvonly'],
      [`${base}trackID=3`, 'application', 'recvonly'],
      [`${base}trackID=4`, 'audio', 'sendonly'],
    ]);
    assert.deepEqual(findBackchannelTrack(HIKVISION_SDP, base), {
      control: `${base}trackID=4`,
      codec: { encoding: 'PCMA', payloadType: 8, clockRate: 8000 },
    });
  });

  test('a base without a trailing slash gets one; absolute controls stay; direction defaults to sendrecv', () => {
    const sdp = 'v=0\r\no=- 1 1 IN IP4 10.0.0.2\r\ns=-\r\nt=0 0\r\n'
      + 'm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:rtsp://10.0.0.2/live/video\r\n'
      // Static PT 8 without an rtpmap still is PCMA; PT 0 after an unknown dynamic one is skipped to.
      + 'm=audio 0 RTP/AVP 8\r\na=control:trackID=4\r\na=sendonly\r\n';
    assert.deepEqual(listTracks(sdp, 'rtsp://10.0.0.2/live'), [
      { control: 'rtsp://10.0.0.2/live/video', media: 'video', direction: 'sendrecv' },
      { control: 'rtsp://10.0.0.2/live/trackID=4', media: 'audio', direction: 'sendonly' },
    ]);
    assert.deepEqual(findBackchannelTrack(sdp, 'rtsp://10.0.0.2/live')?.codec, { encoding: 'PCMA', payloadType: 8, clockRate: 8000 });
    const preferred = sdp.replace('m=audio 0 RTP/AVP 8', 'm=audio 0 RTP/AVP 97 0').replace('a=sendonly', 'a=rtpmap:97 G726-32/8000\r\na=sendonly');
    assert.equal(findBackchannelTrack(preferred, 'rtsp://10.0.0.2/live')?.codec.encoding, 'PCMU');
  });

  test('no backchannel: only recvonly audio, or a sendonly track in another codec', () => {
    const base = 'rtsp://127.0.0.1/stream/';
    assert.equal(findBackchannelTrack(GSTREAMER_SDP.replace('a=sendonly', 'a=recvonly'), base), undefined);
    const aac = GSTREAMER_SDP.replace('m=audio 0 RTP/AVP 0\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:0 PCMU/8000\r\na=control:stream=2',
      'm=audio 0 RTP/AVP 97\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:97 MPEG4-GENERIC/16000/1\r\na=control:stream=2');
    assert.equal(findBackchannelTrack(aac, base), undefined);
  });
});

describe('RTSP framing', () => {
  test('interleaved frames and responses mixed, fed one byte at a time', () => {
    // A frame whose payload looks like an RTSP answer must not be read as one.
    const fake = Buffer.from('RTSP/1.0 200 OK\r\nCSeq: 9\r\n\r\n');
    const frame = Buffer.concat([Buffer.from([0x24, 1, 0, fake.length]), fake]);
    const answer = Buffer.from('RTSP/1.0 200 OK\r\nCSeq: 7\r\nContent-Length: 4\r\n\r\nbody');
    const request = Buffer.from('GET_PARAMETER rtsp://x/ RTSP/1.0\r\nCSeq: 1\r\n\r\n');
    const stream = Buffer.concat([frame, answer, request, Buffer.from([0x24, 0, 0, 0]), frame]);
    const seen: string[] = [];
    let buffer = Buffer.alloc(0);
    for (const byte of stream) {
      buffer = Buffer.concat([buffer, Buffer.of(byte)]);
      for (let chunk = readRtspChunk(buffer); chunk !== 'incomplete'; chunk = readRtspChunk(buffer)) {
        buffer = buffer.subarray(chunk.length);
        if (chunk.type === 'interleaved') seen.push(`$${chunk.channel}:${chunk.payload.length}`);
        else if (chunk.type === 'response') seen.push(`${chunk.reply.status} ${chunk.reply.reason} ${chunk.reply.headers.get('cseq')} ${chunk.reply.body}`);
        else seen.push(chunk.type);
      }
    }
    assert.deepEqual(seen, [`$1:${fake.length}`, '200 OK 7 body', 'request', '$0:0', `$1:${fake.length}`]);
    assert.equal(buffer.length, 0);
  });

  test('garbage is skipped up to the next frame or status line', () => {
    const chunk = readRtspChunk(Buffer.from('\x00\x01junkRTSP/1.0 200 OK\r\n\r\n', 'latin1'));
    assert.deepEqual(chunk, { type: 'garbage', length: 6 });
  });

  test('Session and Transport headers', () => {
    assert.deepEqual(parseSessionHeader('hvd2VExjns2JyNnE'), { id: 'hvd2VExjns2JyNnE', timeoutSec: 60 });
    assert.deepEqual(parseSessionHeader('12345678; timeout=30'), { id: '12345678', timeoutSec: 30 });
    assert.equal(parseInterleavedChannel('RTP/AVP/TCP;unicast;interleaved=4-5;ssrc=F8C8A4AA;mode="PLAY"'), 4);
    assert.equal(parseInterleavedChannel('RTP/AVP;unicast;client_port=5000-5001'), undefined);
  });

  test('keep-alive every half session timeout, at least 1 s', () => {
    assert.equal(keepAliveIntervalMs(60), 30_000);
    assert.equal(keepAliveIntervalMs(1), 1000);
  });
});
