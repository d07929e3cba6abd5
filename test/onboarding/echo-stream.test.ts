import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseEchoStream, videoCodec, type StreamProfile, type VideoCodec } from '../../src/onboarding/echo-stream.ts';

/** A profile with a URI: `H264 1280x720` → codec and size, name = token. */
function p(token: string, spec: string, extra: Partial<StreamProfile> = {}): StreamProfile {
  const [codec, size] = spec.split(' ');
  const [width, height] = size ? size.split('x').map(Number) : [];
  return { token, name: token, codec: codec as VideoCodec, ...(width && { width }), ...(height && { height }), uri: `rtsp://cam/${token}`, ...extra };
}

test('chooseEchoStream: pass through H.264 up to 1280×720, else an H.264 sub-stream, else transcode (and say why)', () => {
  const cases: Array<{ name: string; profiles: StreamProfile[]; canTranscode?: boolean; mode: string; token?: string; reason: RegExp }> = [
    { name: 'H.264 720p main', profiles: [p('main', 'H264 1280x720'), p('sub', 'H264 640x360')], mode: 'passthrough', token: 'main', reason: /main stream "main" \(H\.264 1280×720\).*unchanged/ },
    { name: 'H.264 main smaller than 720p', profiles: [p('main', 'H264 640x480')], mode: 'passthrough', token: 'main', reason: /unchanged/ },
    { name: 'portrait doorbell 720×1280 counts as within', profiles: [p('main', 'H264 720x1280')], mode: 'passthrough', token: 'main', reason: /unchanged/ },
    { name: 'H.264 1080p main, H.264 sub', profiles: [p('main', 'H264 1920x1080'), p('sub', 'H264 640x360')], mode: 'passthrough', token: 'sub', reason: /main stream \(H\.264 1920×1080\) is larger than an Echo shows.*sub-stream "sub"/ },
    { name: 'H.265 main, H.264 sub', profiles: [p('main', 'H265 1920x1080'), p('sub', 'H264 640x360')], mode: 'passthrough', token: 'sub', reason: /main stream is H\.265 1920×1080, which an Echo cannot show.*sub-stream "sub" \(H\.264 640×360\)/ },
    { name: 'the largest fitting sub-stream of several', profiles: [p('main', 'H265 2560x1440'), p('sub', 'H264 640x360'), p('third', 'H264 1280x720')], mode: 'passthrough', token: 'third', reason: /"third"/ },
    { name: 'a stated size before an unstated one', profiles: [p('main', 'H265 2560x1440'), p('nosize', 'H264'), p('sub', 'H264 640x360')], mode: 'passthrough', token: 'sub', reason: /"sub"/ },
    { name: 'H.264 main of unknown size: as the bridge does, copied', profiles: [p('main', 'H264')], mode: 'passthrough', token: 'main', reason: /unchanged/ },
    { name: 'a sub-stream without a URI cannot be chosen', profiles: [p('main', 'H265 1920x1080'), p('sub', 'H264 640x360', { uri: undefined })], mode: 'transcode', token: 'main', reason: /costs CPU/ },
    { name: 'H.265 only: transcode, which costs CPU', profiles: [p('main', 'H265 1920x1080')], mode: 'transcode', token: 'main', reason: /no H\.264 stream of at most 1280×720 \(H\.265 1920×1080\).*transcodes "main".*costs CPU/ },
    { name: 'transcode from the smallest stream still 1280 wide', profiles: [p('main', 'H265 3840x2160'), p('sub', 'H265 1920x1080'), p('tiny', 'H265 640x360')], mode: 'transcode', token: 'sub', reason: /"sub"/ },
    { name: 'all streams small and H.265: the largest', profiles: [p('a', 'H265 640x360'), p('b', 'H265 800x600')], mode: 'transcode', token: 'b', reason: /"b"/ },
    { name: 'H.264 4K only: transcode', profiles: [p('main', 'H264 3840x2160')], mode: 'transcode', token: 'main', reason: /H\.264 3840×2160/ },
    { name: 'MJPEG: transcode', profiles: [p('main', 'MJPEG 1280x720')], mode: 'transcode', token: 'main', reason: /MJPEG/ },
    { name: 'no transcoding here: none, saying why', profiles: [p('main', 'H265 1920x1080')], canTranscode: false, mode: 'none', reason: /no stream an Echo can show \(H\.265 1920×1080.*does not transcode/ },
    { name: 'no transcoding needed, none allowed: still passed through', profiles: [p('main', 'H265 1920x1080'), p('sub', 'H264 640x360')], canTranscode: false, mode: 'passthrough', token: 'sub', reason: /sub-stream/ },
    { name: 'no profiles', profiles: [], mode: 'none', reason: /no media profiles/ },
    { name: 'no URIs', profiles: [p('main', 'H264 1280x720', { uri: undefined })], mode: 'none', reason: /no RTSP stream URI/ },
  ];
  for (const c of cases) {
    const choice = chooseEchoStream(c.profiles, c.canTranscode === undefined ? {} : { canTranscode: c.canTranscode });
    assert.equal(choice.mode, c.mode, c.name);
    assert.equal(choice.mode === 'none' ? undefined : choice.profile.token, c.token, c.name);
    assert.match(choice.reason, c.reason, c.name);
  }
});

test('videoCodec reads how Media1, Media2 and vendors name codecs', () => {
  const cases: Array<[string | undefined, VideoCodec]> = [
    ['H264', 'H264'], ['h.264', 'H264'], ['H265', 'H265'], ['HEVC', 'H265'], ['JPEG', 'MJPEG'], ['MPEG4', 'MPEG4'], ['MPV4-ES', 'MPEG4'], ['VP8', 'unknown'], [undefined, 'unknown'],
  ];
  for (const [encoding, codec] of cases) assert.equal(videoCodec(encoding), codec, String(encoding));
});
