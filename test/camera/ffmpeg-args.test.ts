import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  buildFfmpegArgs, FfmpegArgsError, redactArgs, videoPlan,
  type FfmpegInput,
} from '../../src/camera/ffmpeg-args.ts';

const VIDEO = { port: 40002, payloadType: 96, ssrc: 0x11111111 };
const AUDIO = { port: 40004, payloadType: 111, ssrc: 0xdeadbeef };
const RTSP = 'rtsp://admin:s3cret@192.168.1.20:554/stream1';

function input(overrides: Partial<FfmpegInput> = {}): FfmpegInput {
  return { url: RTSP, transcode: 'auto', videoRtp: VIDEO, audioRtp: AUDIO, ...overrides };
}

/** The value after a flag, or undefined; asserts the flag appears at most once. */
function flag(args: string[], name: string): string | undefined {
  const at = args.indexOf(name);
  if (at < 0) return undefined;
  assert.equal(args.indexOf(name, at + 1), -1, `${name} appears twice`);
  return args[at + 1];
}

function teeSlaves(args: string[]): string[] {
  assert.equal(flag(args, '-f'), 'tee');
  return (args.at(-1) ?? '').split('|');
}

describe('buildFfmpegArgs: video plan', () => {
  const cases: Array<{ name: string; input: Partial<FfmpegInput>; mode: 'copy' | 'transcode'; reason: RegExp }> = [
    { name: 'rtsp h264 720p copies', input: { video: { codec: 'h264', width: 1280, height: 720 } }, mode: 'copy', reason: /within size/ },
    { name: 'rtsp h264 1920 wide transcodes', input: { video: { codec: 'h264', width: 1920, height: 1080 } }, mode: 'transcode', reason: /1920x1080/ },
    { name: 'portrait 1080x1920 transcodes', input: { video: { codec: 'h264', width: 1080, height: 1920 } }, mode: 'transcode', reason: /larger/ },
    // Echo decodes High; a browser that cannot is served by `transcode: always`.
    { name: 'High profile copies', input: { video: { codec: 'h264', profile: 'High', width: 1280, height: 720 } }, mode: 'copy', reason: /H\.264/ },
    { name: 'hevc transcodes under auto', input: { video: { codec: 'hevc', width: 1280, height: 720 } }, mode: 'transcode', reason: /hevc/ },
    { name: 'unknown codec copies', input: {}, mode: 'copy', reason: /unknown/ },
    { name: 'always transcodes h264 720p', input: { transcode: 'always', video: { codec: 'h264', width: 640, height: 360 } }, mode: 'transcode', reason: /always/ },
    { name: 'never copies 1920 h264', input: { transcode: 'never', video: { codec: 'h264', width: 1920, height: 1080 } }, mode: 'copy', reason: /never/ },
    { name: 'codec name is case-insensitive', input: { video: { codec: 'H264' } }, mode: 'copy', reason: /H\.264/ },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const plan = videoPlan(input(c.input));
      assert.equal(plan.mode, c.mode);
      assert.match(plan.reason, c.reason);
      const args = buildFfmpegArgs(input(c.input));
      if (c.mode === 'copy') {
        assert.equal(flag(args, '-c:v'), 'copy');
        // RTSP: SPS/PPS from the SDP before every IDR
        assert.equal(flag(args, '-bsf:v'), 'dump_extra=freq=keyframe');
      } else {
        assert.equal(flag(args, '-c:v'), 'libx264');
        assert.equal(flag(args, '-preset'), 'ultrafast');
        assert.equal(flag(args, '-tune'), 'zerolatency');
        assert.equal(flag(args, '-profile:v'), 'baseline');
        assert.equal(flag(args, '-pix_fmt'), 'yuv420p');
        assert.equal(flag(args, '-bf'), '0');
        assert.equal(flag(args, '-fps_mode'), 'passthrough');
        assert.equal(flag(args, '-force_key_frames'), 'expr:gte(t,n_forced*2)');
        assert.match(flag(args, '-vf') ?? '', /^scale='min\(1280,iw\)':'min\(720,ih\)':force_original_aspect_ratio=decrease:force_divisible_by=2,/);
        assert.equal(flag(args, '-bsf:v'), undefined);
      }
    });
  }

  it('transcode never with a non-H.264 source throws TRANSCODE_REQUIRED', () => {
    for (const codec of ['hevc', 'mjpeg', 'h265']) {
      assert.throws(
        () => buildFfmpegArgs(input({ transcode: 'never', video: { codec } })),
        (err: unknown) => err instanceof FfmpegArgsError && err.code === 'TRANSCODE_REQUIRED' && err.message.includes(codec),
      );
    }
  });
});

describe('buildFfmpegArgs: input', () => {
  it('rtsp: TCP, timeout in microseconds, fast probing, URL as given', () => {
    const args = buildFfmpegArgs(input({ timeoutMs: 3000, analyzeDurationMs: 300, probeSizeBytes: 100_000 }));
    assert.deepEqual(args.slice(0, 5), ['-hide_banner', '-nostdin', '-nostats', '-loglevel', 'level+info']);
    assert.equal(flag(args, '-rtsp_transport'), 'tcp');
    assert.equal(flag(args, '-timeout'), '3000000');
    assert.equal(flag(args, '-stimeout'), undefined);
    assert.equal(flag(args, '-fflags'), undefined); // see ffmpeg-args.ts: nobuffer drops the first IDR
    assert.equal(flag(args, '-analyzeduration'), '300000');
    assert.equal(flag(args, '-probesize'), '100000');
    assert.equal(flag(args, '-i'), RTSP);
    assert.equal(args.indexOf('-re'), -1);
    assert.equal(args.indexOf('-stream_loop'), -1);
    // input options come before -i
    assert.ok(args.indexOf('-timeout') < args.indexOf('-i'));
    assert.ok(args.indexOf('-probesize') < args.indexOf('-i'));
  });

  it('rtsps is RTSP too; defaults are 5 s and 0.5 s', () => {
    const args = buildFfmpegArgs(input({ url: 'rtsps://cam.local:322/live' }));
    assert.equal(flag(args, '-rtsp_transport'), 'tcp');
    assert.equal(flag(args, '-timeout'), '5000000');
    assert.equal(flag(args, '-analyzeduration'), '500000');
  });

  // What each release refuses or misreads (checked against the static 4.1 and Debian's 5.1):
  // 4.x: -timeout on RTSP input is the *listen* timeout (-stimeout is the socket one);
  // < 5.1: no -fps_mode; < 4.2: scale has no force_divisible_by.
  const versions: Array<{ name: string; version: FfmpegInput['ffmpegVersion']; timeout: string; fps: string; divisibleBy: boolean }> = [
    { name: '4.1', version: { major: 4, minor: 1 }, timeout: '-stimeout', fps: '-vsync', divisibleBy: false },
    { name: '4.4', version: { major: 4, minor: 4 }, timeout: '-stimeout', fps: '-vsync', divisibleBy: true },
    { name: '5.0', version: { major: 5, minor: 0 }, timeout: '-timeout', fps: '-vsync', divisibleBy: true },
    { name: '5.1', version: { major: 5, minor: 1 }, timeout: '-timeout', fps: '-fps_mode', divisibleBy: true },
    { name: '6.1', version: { major: 6, minor: 1 }, timeout: '-timeout', fps: '-fps_mode', divisibleBy: true },
    { name: '7.1', version: { major: 7, minor: 1 }, timeout: '-timeout', fps: '-fps_mode', divisibleBy: true },
    { name: 'unknown (treated as current)', version: undefined, timeout: '-timeout', fps: '-fps_mode', divisibleBy: true },
  ];
  for (const v of versions) {
    it(`ffmpeg ${v.name}: ${v.timeout}, ${v.fps}${v.divisibleBy ? '' : ', even sizes by a second scale'}`, () => {
      const args = buildFfmpegArgs(input({ transcode: 'always', ...(v.version && { ffmpegVersion: v.version }) }));
      assert.equal(flag(args, v.timeout), '5000000');
      assert.equal(flag(args, v.timeout === '-timeout' ? '-stimeout' : '-timeout'), undefined);
      assert.ok(args.indexOf(v.timeout) < args.indexOf('-i'));
      assert.equal(flag(args, v.fps), 'passthrough');
      assert.equal(flag(args, v.fps === '-vsync' ? '-fps_mode' : '-vsync'), undefined);
      const vf = flag(args, '-vf') ?? '';
      assert.equal(vf.includes('force_divisible_by=2'), v.divisibleBy, vf);
      assert.equal(vf.includes(',scale=trunc(iw/2)*2:trunc(ih/2)*2,'), !v.divisibleBy, vf);
      assert.match(vf, /^scale='min\(1280,iw\)':'min\(720,ih\)':force_original_aspect_ratio=decrease[:,].*,format=yuv420p$/);
      // The rest is the same everywhere: copy and file input have nothing version-dependent.
      const copy = buildFfmpegArgs(input({ ...(v.version && { ffmpegVersion: v.version }) }));
      assert.deepEqual(copy.filter((a) => a !== v.timeout), buildFfmpegArgs(input()).filter((a) => a !== '-timeout'));
      const file = buildFfmpegArgs(input({ url: 'file:media/demo.mp4', ...(v.version && { ffmpegVersion: v.version }) }));
      assert.deepEqual(file, buildFfmpegArgs(input({ url: 'file:media/demo.mp4' })));
    });
  }

  it('file: loops forever at real time, copies without a bitstream filter', () => {
    const args = buildFfmpegArgs(input({ url: 'file:media/demo.mp4' }));
    const i = args.indexOf('-i');
    assert.deepEqual(args.slice(i - 7, i + 2), [
      '-re', '-stream_loop', '-1', '-analyzeduration', '500000', '-probesize', '500000',
      '-i', 'file:media/demo.mp4',
    ]);
    assert.equal(flag(args, '-stream_loop'), '-1');
    assert.equal(flag(args, '-i'), 'file:media/demo.mp4');
    assert.equal(flag(args, '-rtsp_transport'), undefined);
    assert.equal(flag(args, '-timeout'), undefined);
    assert.equal(flag(args, '-c:v'), 'copy');
    assert.equal(flag(args, '-bsf:v'), undefined); // dump_extra breaks avcC; mp4toannexb breaks looping
  });

  it('rejects other URL schemes without echoing the password', () => {
    for (const url of ['http://u:pw@cam/video', 'udp://0.0.0.0:1234', '/abs/path.mp4', 'rtsp://', 'file:']) {
      assert.throws(() => buildFfmpegArgs(input({ url })), (err: unknown) => {
        assert.ok(err instanceof FfmpegArgsError);
        assert.equal(err.code, 'UNSUPPORTED_URL');
        assert.ok(!err.message.includes(':pw@'));
        return true;
      });
    }
  });
});

describe('buildFfmpegArgs: outputs', () => {
  it('places ports, SSRCs (signed 32-bit) and PTs in the tee slaves', () => {
    const args = buildFfmpegArgs(input());
    assert.deepEqual(teeSlaves(args), [
      '[select=v:f=rtp:payload_type=96:ssrc=286331153:rtpflags=skip_rtcp]rtp://127.0.0.1:40002?pkt_size=1200',
      '[select=a:f=rtp:payload_type=111:ssrc=-559038737:rtpflags=skip_rtcp:onfail=ignore]rtp://127.0.0.1:40004?pkt_size=1200',
    ]);
    assert.deepEqual(args.filter((a, n) => args[n - 1] === '-map'), ['0:v:0', '0:a:0?']);
    assert.equal(args.at(-3), '-f');
  });

  const audioCases: Array<{ name: string; audio: FfmpegInput['audio']; codec: string | undefined }> = [
    { name: 'unknown audio', audio: undefined, codec: 'libopus' },
    { name: 'pcm_mulaw', audio: { present: true, codec: 'pcm_mulaw' }, codec: 'libopus' },
    { name: 'pcm_alaw', audio: { present: true, codec: 'pcm_alaw' }, codec: 'libopus' },
    { name: 'aac', audio: { present: true, codec: 'aac' }, codec: 'libopus' },
    { name: 'adpcm_g726', audio: { present: true, codec: 'adpcm_g726' }, codec: 'libopus' },
    { name: 'present, codec unknown', audio: { present: true }, codec: 'libopus' },
    { name: 'opus is copied', audio: { present: true, codec: 'opus' }, codec: 'copy' },
    { name: 'known absent', audio: { present: false }, codec: undefined },
  ];
  for (const c of audioCases) {
    it(`audio: ${c.name}`, () => {
      const args = buildFfmpegArgs(input({ audio: c.audio }));
      assert.equal(flag(args, '-c:a'), c.codec);
      if (c.codec === 'libopus') {
        assert.equal(flag(args, '-ar'), '48000');
        assert.equal(flag(args, '-ac'), '1');
        assert.equal(flag(args, '-b:a'), '32k');
      }
      if (c.codec === undefined) {
        assert.ok(args.includes('-an'));
        assert.ok(!args.includes('0:a:0?'));
        assert.equal(teeSlaves(args).length, 1);
      } else {
        assert.ok(!args.includes('-an'));
        assert.equal(teeSlaves(args).length, 2);
      }
    });
  }

  it('g711Rtp: Opus and µ-law from the same camera audio, selected by stream index, µ-law in 20 ms packets', () => {
    const G711 = { port: 40006, payloadType: 0, ssrc: 0x5eed0003 };
    const args = buildFfmpegArgs(input({ g711Rtp: G711, audio: { present: true, codec: 'aac' } }));
    assert.deepEqual(args.filter((a, n) => args[n - 1] === '-map'), ['0:v:0', '0:a:0?', '0:a:0?']);
    assert.equal(flag(args, '-c:a:0'), 'libopus');
    assert.equal(flag(args, '-ar:a:0'), '48000');
    assert.equal(flag(args, '-c:a:1'), 'pcm_mulaw');
    assert.equal(flag(args, '-ar:a:1'), '8000');
    assert.equal(flag(args, '-c:a'), undefined, 'no option for every audio stream at once');
    const slaves = teeSlaves(args);
    assert.equal(slaves.length, 3);
    assert.match(slaves[1]!, /^\[select=1:f=rtp:payload_type=111:.*onfail=ignore\]rtp:\/\/127\.0\.0\.1:40004\?pkt_size=1200$/);
    assert.match(slaves[2]!, /^\[select=2:f=rtp:payload_type=0:.*onfail=ignore\]rtp:\/\/127\.0\.0\.1:40006\?pkt_size=172$/);
    // A µ-law camera's audio is copied, not re-encoded; Opus copied too when the camera sends it.
    assert.equal(flag(buildFfmpegArgs(input({ g711Rtp: G711, audio: { present: true, codec: 'pcm_mulaw' } })), '-c:a:1'), 'copy');
    assert.equal(flag(buildFfmpegArgs(input({ g711Rtp: G711, audio: { present: true, codec: 'opus' } })), '-c:a:0'), 'copy');
    // Known without audio: neither.
    assert.equal(teeSlaves(buildFfmpegArgs(input({ g711Rtp: G711, audio: { present: false } }))).length, 1);
    assert.throws(() => buildFfmpegArgs(input({ g711Rtp: { ...G711, port: AUDIO.port } })), /port and SSRC of its own/);
  });

  it('no audioRtp: video only', () => {
    const args = buildFfmpegArgs(input({ audioRtp: undefined, audio: { present: true, codec: 'aac' } }));
    assert.ok(args.includes('-an'));
    assert.deepEqual(teeSlaves(args), ['[select=v:f=rtp:payload_type=96:ssrc=286331153:rtpflags=skip_rtcp]rtp://127.0.0.1:40002?pkt_size=1200']);
  });

  const invalid: Array<[string, Partial<FfmpegInput>]> = [
    ['port 0', { videoRtp: { ...VIDEO, port: 0 } }],
    ['port 70000', { audioRtp: { ...AUDIO, port: 70000 } }],
    ['PT 128', { videoRtp: { ...VIDEO, payloadType: 128 } }],
    ['SSRC 0', { videoRtp: { ...VIDEO, ssrc: 0 } }],
    ['SSRC 2^32', { audioRtp: { ...AUDIO, ssrc: 2 ** 32 } }],
    ['same port', { audioRtp: { ...AUDIO, port: VIDEO.port } }],
    ['same SSRC', { audioRtp: { ...AUDIO, ssrc: VIDEO.ssrc } }],
    ['negative timeout', { timeoutMs: -1 }],
    ['NaN probesize', { probeSizeBytes: Number.NaN }],
  ];
  for (const [name, overrides] of invalid) {
    it(`rejects ${name}`, () => {
      assert.throws(() => buildFfmpegArgs(input(overrides)), (err: unknown) => err instanceof FfmpegArgsError && err.code === 'INVALID_OPTION');
    });
  }
});

describe('redactArgs', () => {
  it('replaces the URL password, leaves the rest and the original alone', () => {
    const args = buildFfmpegArgs(input());
    const redacted = redactArgs(args);
    assert.equal(flag(redacted, '-i'), 'rtsp://admin:***@192.168.1.20:554/stream1');
    assert.equal(flag(args, '-i'), RTSP);
    assert.equal(redacted.length, args.length);
    assert.ok(!redacted.join(' ').includes('s3cret'));
  });
});
