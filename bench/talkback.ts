/**
 * Mouth-to-camera latency of talkback, measured on this machine: a werift viewer (standing in for
 * the Echo) sends Opus that is silent for 2 s and then a tone; the time from sending the first
 * tone packet to the tone appearing in the fake camera's backchannel capture is the latency
 * porchlight adds (werift → ffmpeg Opus→G.711 → RTSP backchannel), plus the camera's own write.
 * Used by bench/talkback-latency.ts (`npm run bench:talkback`) and bench/run.ts (`npm run bench`).
 */
import { createSocket } from 'node:dgram';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RtpPacket } from 'werift';
import { decodeMuLaw } from '../src/camera/g711.ts';
import { startBridge, type TestBridge } from '../test/helpers/bridge.ts';
import { directive } from '../test/helpers/directives.ts';
import { echoViewer } from '../test/helpers/echo-offer.ts';
import { startFakeCamera, type FakeCamera } from '../test/fixtures/fake-camera.ts';

const SILENCE_SEC = 2;
const TONE_THRESHOLD = 2000;

/** One talkback run with its own fake camera and in-process bridge: ms from tone sent to tone captured. */
export async function measureTalkbackOnce(runIndex: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'porchlight-bench-talk-'));
  const capture = join(dir, 'backchannel.ulaw');
  let camera: FakeCamera | undefined;
  let bridge: TestBridge | undefined;
  let viewer: Awaited<ReturnType<typeof echoViewer>> | undefined;
  const opus = createSocket('udp4');
  let ffmpeg: ReturnType<typeof spawn> | undefined;
  try {
    camera = await startFakeCamera({ audio: 'pcmu', backchannel: capture });
    bridge = await startBridge({
      webrtc: { hostAddresses: ['127.0.0.1'], udpPorts: '42000-42100' },
      cameras: [{ id: 'door', name: 'Door', url: camera.url, talkback: 'onvif' }],
    });
    viewer = await echoViewer();
    const { micTrack } = viewer;
    const { json } = await bridge.postAlexa(directive('Alexa.RTCSessionController', 'InitiateSessionWithOffer', {
      endpointId: 'door',
      payload: { sessionId: `bench-${runIndex}`, offer: { format: 'SDP', value: viewer.offer } },
    }));
    if (json.event.header.name !== 'AnswerGeneratedForSession') throw new Error(`no answer: ${JSON.stringify(json.event.payload)}`);
    await viewer.pc.setRemoteDescription({ type: 'answer', sdp: json.event.payload.answer.value });

    // ffmpeg's first Opus RTP timestamp is unrelated to the rest, so packets are counted instead:
    // 20 ms each, the tone starts with packet SILENCE_SEC / 0.02.
    let packets = 0;
    let toneSentAt: number | undefined;
    await new Promise<void>((resolve) => opus.bind(0, '127.0.0.1', resolve));
    opus.on('message', (message) => {
      if (packets === SILENCE_SEC * 50) toneSentAt = performance.now();
      packets += 1;
      micTrack.writeRtp(RtpPacket.deSerialize(message));
    });
    ffmpeg = spawn('ffmpeg', [
      '-hide_banner', '-loglevel', 'error', '-re', '-f', 'lavfi',
      '-i', `sine=f=440:sample_rate=48000,volume=volume=0:enable='lt(t,${SILENCE_SEC})'`, '-t', String(SILENCE_SEC + 2),
      '-c:a', 'libopus', '-application', 'lowdelay', '-frame_duration', '20', '-f', 'rtp', '-payload_type', '111',
      `rtp://127.0.0.1:${opus.address().port}?rtcpport=${opus.address().port}`,
    ], { stdio: 'ignore' });

    const deadline = performance.now() + (SILENCE_SEC + 6) * 1000;
    while (performance.now() < deadline) {
      if (toneSentAt !== undefined && existsSync(capture)) {
        const samples = decodeMuLaw(readFileSync(capture));
        if (samples.some((sample) => Math.abs(sample) > TONE_THRESHOLD)) return performance.now() - toneSentAt;
      }
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    throw new Error('the tone never reached the camera');
  } finally {
    ffmpeg?.kill('SIGKILL');
    opus.close();
    await viewer?.pc.close();
    await bridge?.close();
    await camera?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface TalkbackLatency {
  median: number;
  min: number;
  max: number;
  runs: number[];
}

/** `runs` independent runs (each with a fresh camera and bridge); the median is the figure. */
export async function measureTalkbackLatency(runs: number): Promise<TalkbackLatency> {
  const results: number[] = [];
  for (let i = 0; i < runs; i += 1) results.push(Math.round(await measureTalkbackOnce(i)));
  const sorted = [...results].sort((a, b) => a - b);
  return { median: sorted[Math.floor(sorted.length / 2)]!, min: sorted[0]!, max: sorted.at(-1)!, runs: results };
}
