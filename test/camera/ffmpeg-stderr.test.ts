import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  classifyLine, initialStderrState, inputStreams, MAX_LINE_LENGTH, MAX_RECENT_LINES, parseLogLine,
  parseStreamLine, reduceStderr, splitLines, type FfmpegFailureCode, type StderrState, type StreamInfo,
} from '../../src/camera/ffmpeg-stderr.ts';

// Lines captured from Debian's ffmpeg 5.1.9 run with `-loglevel level+info` against a GStreamer
// RTSP server, a scripted RTSP responder (401/403/404/503/silent), closed ports and bad files.

describe('parseLogLine', () => {
  const cases: Array<[string, { context?: string; level?: string; text: string }]> = [
    ['[rtsp @ 0x5563c24a59c0] [error] method DESCRIBE failed: 401 Unauthorized', { context: 'rtsp', level: 'error', text: 'method DESCRIBE failed: 401 Unauthorized' }],
    ['[info]   Stream #0:1: Audio: pcm_mulaw, 8000 Hz, mono, s16, 64 kb/s', { level: 'info', text: '  Stream #0:1: Audio: pcm_mulaw, 8000 Hz, mono, s16, 64 kb/s' }],
    ['[fatal] Unknown encoder \'libx265nope\'', { level: 'fatal', text: 'Unknown encoder \'libx265nope\'' }],
    ['[h264 @ 0x55d0] error while decoding MB 10 4', { context: 'h264', text: 'error while decoding MB 10 4' }],
    ['To ignore this, add a trailing \'?\' to the map.', { text: 'To ignore this, add a trailing \'?\' to the map.' }],
  ];
  for (const [line, expected] of cases) it(line, () => assert.deepEqual(parseLogLine(line), expected));
});

describe('parseStreamLine', () => {
  const cases: Array<[string, StreamInfo | null]> = [
    ['[info]   Stream #0:0: Video: h264 (High), yuv420p(tv, bt709, progressive), 1920x1080 [SAR 1:1 DAR 16:9], 15 fps, 15 tbr, 90k tbn',
      { file: 0, index: 0, kind: 'video', codec: 'h264', profile: 'High', width: 1920, height: 1080, fps: 15 }],
    ['  Stream #0:0: Video: h264 (High), yuv420p, 1920x1080', { file: 0, index: 0, kind: 'video', codec: 'h264', profile: 'High', width: 1920, height: 1080 }],
    ['[info]   Stream #0:0[0x1](und): Video: h264 (Constrained Baseline) (avc1 / 0x31637661), yuv420p(progressive), 1280x720 [SAR 1:1 DAR 16:9], 928 kb/s, 15 fps, 15 tbr, 15360 tbn (default)',
      { file: 0, index: 0, kind: 'video', codec: 'h264', profile: 'Constrained Baseline', width: 1280, height: 720, fps: 15 }],
    ['[info]   Stream #0:0[0x1](und): Video: hevc (Main) (hev1 / 0x31766568), yuv420p(tv, progressive), 640x360 [SAR 1:1 DAR 16:9], 519 kb/s, 25 fps, 25 tbr, 12800 tbn (default)',
      { file: 0, index: 0, kind: 'video', codec: 'hevc', profile: 'Main', width: 640, height: 360, fps: 25 }],
    // codec tag only, no profile: "0x30323449" must not read as a size
    ['[info]   Stream #0:0: Video: rawvideo (I420 / 0x30323449), yuv420p, 320x240 [SAR 1:1 DAR 4:3], 25 tbr, 25 tbn',
      { file: 0, index: 0, kind: 'video', codec: 'rawvideo', width: 320, height: 240 }],
    // a stalled camera: codec known from the SDP, size not
    ['[info]   Stream #0:0: Video: h264, none, 90k tbr, 90k tbn', { file: 0, index: 0, kind: 'video', codec: 'h264' }],
    ['[info]   Stream #0:1: Audio: pcm_mulaw, 8000 Hz, mono, s16, 64 kb/s', { file: 0, index: 1, kind: 'audio', codec: 'pcm_mulaw', sampleRate: 8000, channels: 1 }],
    ['[info]   Stream #0:1[0x2](und): Audio: aac (LC) (mp4a / 0x6134706D), 48000 Hz, mono, fltp, 48 kb/s (default)',
      { file: 0, index: 1, kind: 'audio', codec: 'aac', profile: 'LC', sampleRate: 48000, channels: 1 }],
    ['[info]   Stream #0:1: Audio: opus, 48000 Hz, stereo, fltp', { file: 0, index: 1, kind: 'audio', codec: 'opus', sampleRate: 48000, channels: 2 }],
    ['[info]   Stream #0:0: Audio: pcm_s16le, 44100 Hz, 5.1, s16, 4233 kb/s', { file: 0, index: 0, kind: 'audio', codec: 'pcm_s16le', sampleRate: 44100 }],
    ['[info]   Stream #0:0 -> #0:0 (copy)', null],
    ['[info]   Stream #0:1 -> #0:1 (pcm_mulaw (native) -> opus (libopus))', null],
    ['[info]   Stream #0:2: Data: none', null],
    ['[info] Input #0, rtsp, from \'rtsp://127.0.0.1:18557/stream1\':', null],
  ];
  for (const [line, expected] of cases) it(line.trim().slice(0, 90), () => assert.deepEqual(parseStreamLine(line), expected));
});

describe('classifyLine', () => {
  const cases: Array<[string, FfmpegFailureCode | null]> = [
    ['[rtsp @ 0x5563c24a59c0] [error] method DESCRIBE failed: 401 Unauthorized', 'AUTH_FAILED'],
    ['[error] rtsp://admin:secret@127.0.0.1:18554/stream1: Server returned 401 Unauthorized (authorization failed)', 'AUTH_FAILED'],
    ['[rtsp @ 0x55bbbfac29c0] [error] method DESCRIBE failed: 403 Forbidden', 'AUTH_FAILED'],
    ['[error] rtsp://admin:secret@127.0.0.1:18554/stream1: Server returned 403 Forbidden (access denied)', 'AUTH_FAILED'],
    ['[rtsp @ 0x557eff6239c0] [error] method DESCRIBE failed: 404 Not Found', 'NOT_FOUND'],
    ['[error] rtsp://admin:secret@127.0.0.1:18554/stream1: Server returned 404 Not Found', 'NOT_FOUND'],
    ['[error] file:/nonexistent/demo.mp4: No such file or directory', 'NOT_FOUND'],
    ['[tcp @ 0x55d2bc1b9880] [error] Connection to tcp://127.0.0.1:1?timeout=2000000 failed: Connection refused', 'CONNECTION_REFUSED'],
    ['[error] rtsp://127.0.0.1:1/x: Connection refused', 'CONNECTION_REFUSED'],
    ['[error] rtsps://127.0.0.1:1/x: Connection refused', 'CONNECTION_REFUSED'],
    ['[tcp @ 0x55623490a880] [error] Failed to resolve hostname nonexistent.invalid: Name or service not known', 'HOST_UNREACHABLE'],
    // not reproducible on loopback; the wording is ffmpeg's "Connection to %s failed: %s" + strerror
    ['[tcp @ 0x55623490a880] [error] Connection to tcp://10.9.9.9:554?timeout=5000000 failed: No route to host', 'HOST_UNREACHABLE'],
    ['[tcp @ 0x55623490a880] [error] Connection to tcp://10.9.9.9:554?timeout=5000000 failed: Connection timed out', 'TIMEOUT'],
    // a camera that stops sending mid-stream (GStreamer server SIGSTOPped)
    ['[error] rtsp://127.0.0.1:18557/stream1: Connection timed out', 'TIMEOUT'],
    ['[rtsp @ 0x5559096e39c0] [error] method DESCRIBE failed: 503 Service Unavailable', 'SERVER_ERROR'],
    ['[error] rtsp://admin:secret@127.0.0.1:18554/stream1: Server returned 5XX Server Error reply', 'SERVER_ERROR'],
    ['[fatal] Unknown encoder \'libx265nope\'', 'ENCODER_MISSING'],
    ['[fatal] Stream map \'0:v:0\' matches no streams.', 'MEDIA_ERROR'],
    // ffmpeg 5.1's wording for an input codec it has no decoder for (source: fftools/ffmpeg_opt.c)
    ['[fatal] Decoder (codec none) not found for input stream #0:1', 'MEDIA_ERROR'],
    ['[error] file:/etc/passwd: Invalid data found when processing input', 'MEDIA_ERROR'],
    ['[rtsp @ 0x55fed1048a40] [warning] Could not find codec parameters for stream 0 (Video: h264, none): unspecified size', 'MEDIA_ERROR'],
    ['[null @ 0x55fed1061180] [error] dimensions not set', 'MEDIA_ERROR'],
    // not failures
    ['[tee @ 0x5566e4952b80] Slave muxer #1 failed: Invalid argument, continuing with 1/2 slaves.', null],
    ['[rtsp @ 0x560fdd4c0a40] [warning] Stream #0: not enough frames to estimate rate; consider increasing probesize', null],
    ['[info] Input #0, rtsp, from \'rtsp://u:p@cam/401/404\':', null],
    ['[info] Exiting normally, received signal 15.', null],
    ['[libx264 @ 0x55a05084c2c0] [info] profile Constrained Baseline, level 3.1, 4:2:0, 8-bit', null],
  ];
  for (const [line, code] of cases) it(`${code ?? 'none'}: ${line.slice(0, 80)}`, () => assert.equal(classifyLine(line)?.code ?? null, code));

  it('redacts the URL password in the reported line and gives a human message', () => {
    const failure = classifyLine('[error] rtsp://admin:secret@127.0.0.1:18554/stream1: Server returned 401 Unauthorized (authorization failed)');
    assert.equal(failure?.line, 'rtsp://admin:***@127.0.0.1:18554/stream1: Server returned 401 Unauthorized (authorization failed)');
    assert.match(failure?.message ?? '', /user and password/);
  });
});

function fold(lines: string[]): StderrState {
  return lines.reduce(reduceStderr, initialStderrState());
}

describe('reduceStderr', () => {
  it('collects input streams only (not the output or mapping sections)', () => {
    const state = fold([
      '[rtsp @ 0x560fdd4c0a40] [warning] Stream #0: not enough frames to estimate rate; consider increasing probesize',
      "[info] Input #0, rtsp, from 'rtsp://admin:secret@127.0.0.1:18557/stream1':",
      '[info]   Metadata:',
      '[info]     title           : Session streamed with GStreamer',
      '[info]   Duration: N/A, start: 0.000000, bitrate: N/A',
      '[info]   Stream #0:0: Video: h264 (High), yuv420p(tv, bt709, progressive), 1920x1080 [SAR 1:1 DAR 16:9], 15 fps, 15 tbr, 90k tbn',
      '[info]   Stream #0:1: Audio: pcm_mulaw, 8000 Hz, mono, s16, 64 kb/s',
      '[info] Stream mapping:',
      '[info]   Stream #0:0 -> #0:0 (h264 (native) -> h264 (libx264))',
      "[info] Output #0, tee, to '[select=v:f=rtp:payload_type=96:ssrc=-559038737:rtpflags=skip_rtcp]rtp://127.0.0.1:50000?pkt_size=1200':",
      '[info]   Stream #0:0: Video: h264, yuv420p(tv, bt709, progressive), 1280x720 [SAR 1:1 DAR 16:9], q=2-31, 15 fps, 15 tbn',
      '[info]   Stream #0:1: Audio: opus, 48000 Hz, mono, s16, 32 kb/s',
    ]);
    assert.equal(state.inputs.length, 2);
    const { video, audio } = inputStreams(state);
    assert.deepEqual([video?.codec, video?.profile, video?.width, video?.height], ['h264', 'High', 1920, 1080]);
    assert.deepEqual([audio?.codec, audio?.sampleRate], ['pcm_mulaw', 8000]);
    assert.equal(state.failure, null);
    assert.equal(state.recent.length, 1); // the warning; info lines are not kept
  });

  it('keeps the most telling failure: 401 beats the generic lines after it', () => {
    const state = fold([
      '[rtsp @ 0x5563c24a59c0] [error] method DESCRIBE failed: 401 Unauthorized',
      '[error] rtsp://admin:secret@127.0.0.1:18554/stream1: Server returned 401 Unauthorized (authorization failed)',
    ]);
    assert.equal(state.failure?.code, 'AUTH_FAILED');
    assert.equal(state.failure?.line, 'method DESCRIBE failed: 401 Unauthorized');
    assert.ok(state.recent.every((l) => !l.includes('secret')));
  });

  it('a stalled camera: probing failure, then output errors → MEDIA_ERROR with the probe cause', () => {
    const state = fold([
      '[rtsp @ 0x55fed1048a40] [warning] Could not find codec parameters for stream 0 (Video: h264, none): unspecified size',
      "Consider increasing the value for the 'analyzeduration' (500000) and 'probesize' (100000) options",
      "[info] Input #0, rtsp, from 'rtsp://u:p@127.0.0.1:18556/s':",
      '[info]   Stream #0:0: Video: h264, none, 90k tbr, 90k tbn',
      '[null @ 0x55fed1061180] [error] dimensions not set',
      '[error] Could not write header for output file #0 (incorrect codec parameters ?): Invalid argument',
    ]);
    assert.equal(state.failure?.code, 'MEDIA_ERROR');
    assert.match(state.failure?.message ?? '', /no usable video/);
    assert.deepEqual(inputStreams(state).video, { file: 0, index: 0, kind: 'video', codec: 'h264' });
  });

  it('a refused connection beats a later media error', () => {
    const state = fold(['[error] rtsp://127.0.0.1:1/x: Invalid data found when processing input', '[error] rtsp://127.0.0.1:1/x: Connection refused']);
    assert.equal(state.failure?.code, 'CONNECTION_REFUSED');
  });

  it('bounds the recent lines and ignores blank and info lines without copying state', () => {
    let state = initialStderrState();
    for (let i = 0; i < 50; i++) state = reduceStderr(state, `[h264 @ 0x1] [warning] concealing ${i} errors`);
    assert.equal(state.recent.length, MAX_RECENT_LINES);
    assert.equal(state.recent.at(-1), 'concealing 49 errors');
    assert.equal(reduceStderr(state, ''), state);
    assert.equal(reduceStderr(state, '[info] Exiting normally, received signal 15.'), state);
  });
});

describe('splitLines', () => {
  it('splits on \\n, \\r\\n and \\r and keeps the tail', () => {
    assert.deepEqual(splitLines('', 'a\nb\r\nc\rd'), { lines: ['a', 'b', 'c'], pending: 'd' });
    assert.deepEqual(splitLines('d', 'e\n'), { lines: ['de'], pending: '' });
  });
  it('cuts runaway lines so the buffer stays bounded', () => {
    const long = 'x'.repeat(MAX_LINE_LENGTH * 2);
    const out = splitLines('', long);
    assert.equal(out.pending, '');
    assert.equal(out.lines[0]?.length, MAX_LINE_LENGTH);
    assert.equal(splitLines('', `${long}\n`).lines[0]?.length, MAX_LINE_LENGTH);
  });
});
