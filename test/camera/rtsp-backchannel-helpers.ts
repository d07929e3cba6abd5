// Shared by the rtsp-backchannel-*.test.ts files: the sample DESCRIBE answers (GStreamer's and a
// Hikvision-style camera's) and the small helpers for waiting on a Backchannel.

import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { BackchannelError, type Backchannel, type BackchannelCloseReason } from '../../src/camera/rtsp-backchannel.ts';
import { createLogger } from '../../src/log.ts';

export const log = createLogger({ level: 'silent' });

/** Polls `check` every 20 ms until true or `ms` passed; returns the last result. */
export async function until(check: () => boolean, ms: number): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (!check() && performance.now() < deadline) await sleep(20);
  return check();
}

export function closedEvent(backchannel: Backchannel): Promise<{ reason: BackchannelCloseReason; detail?: string }> {
  return new Promise((resolve) => backchannel.once('closed', (reason, detail) => resolve({ reason, detail })));
}

export async function rejectsWith(promise: Promise<unknown>, code: string, message?: RegExp): Promise<BackchannelError> {
  const err = await promise.then(() => assert.fail('expected a BackchannelError'), (e: unknown) => e);
  assert.ok(err instanceof BackchannelError, String(err));
  assert.equal(err.code, code, err.message);
  if (message) assert.match(err.message, message);
  return err;
}

// GStreamer 1.22's DESCRIBE answer with the Require header (fake camera, audio pcmu).
export const GSTREAMER_SDP = `v=0
o=- 6800651503806500613 1 IN IP4 127.0.0.1
s=Session streamed with GStreamer
i=rtsp-server
t=0 0
a=tool:GStreamer
a=type:broadcast
a=control:*
a=range:npt=now-
m=video 0 RTP/AVP 96
c=IN IP4 0.0.0.0
b=AS:819
a=rtpmap:96 H264/90000
a=framerate:15
a=fmtp:96 packetization-mode=1;sprop-parameter-sets=Z0LAFtoCgL/lwFqDAwNSgAAAAwCAAAAPR4sXUA==,aM48gA==;profile-level-id=42c016
a=control:stream=0
a=x-onvif-track:VIDEO000
a=recvonly
m=audio 0 RTP/AVP 0
c=IN IP4 0.0.0.0
b=AS:64
a=rtpmap:0 PCMU/8000
a=control:stream=1
a=x-onvif-track:AUDIO001
a=recvonly
m=audio 0 RTP/AVP 0
c=IN IP4 0.0.0.0
a=rtpmap:0 PCMU/8000
a=control:stream=2
a=x-onvif-track:AUDIO002
a=sendonly
`.replaceAll('\n', '\r\n');

// Hikvision-style: absolute session control, relative trackID controls, G.711 A-law both ways,
// and a metadata track.
export const HIKVISION_SDP = `v=0
o=- 1109162014219182 1109162014219192 IN IP4 192.168.1.64
s=Media Presentation
e=NONE
b=AS:5050
t=0 0
a=control:rtsp://192.168.1.64:554/Streaming/Channels/101/
m=video 0 RTP/AVP 96
c=IN IP4 0.0.0.0
b=AS:5000
a=recvonly
a=x-dimensions:1920,1080
a=control:trackID=1
a=rtpmap:96 H264/90000
a=fmtp:96 profile-level-id=420029; packetization-mode=1; sprop-parameter-sets=Z00AKp2oHgCJ+WbgICAgQA==,aO48gA==
m=audio 0 RTP/AVP 8
c=IN IP4 0.0.0.0
b=AS:50
a=recvonly
a=control:trackID=2
a=rtpmap:8 PCMA/8000
m=application 0 RTP/AVP 107
c=IN IP4 0.0.0.0
b=AS:5000
a=recvonly
a=control:trackID=3
a=rtpmap:107 isapi.metadata/90000
m=audio 0 RTP/AVP 8
c=IN IP4 0.0.0.0
a=sendonly
a=control:trackID=4
a=rtpmap:8 PCMA/8000
`.replaceAll('\n', '\r\n');
