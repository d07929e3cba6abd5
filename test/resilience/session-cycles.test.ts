/**
 * Soak: open and close viewing sessions over and over, each a werift Echo stand-in that connects
 * and receives video, and check that nothing accumulates: no ffmpeg left once the camera has
 * lingered, open file descriptors back to the baseline, bounded memory growth.
 *
 * 200 cycles in `npm test`; `PORCHLIGHT_SOAK=1` runs 1 000.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { RtpPacket } from 'werift';
import { DEMO_CLIP } from '../../src/config/load.ts';
import { alexaSchemaErrors } from '../helpers/alexa-schema.ts';
import { startBridge, type TestBridge } from '../helpers/bridge.ts';
import { directive } from '../helpers/directives.ts';
import { echoViewer } from '../helpers/echo-offer.ts';
import { childProcesses, openFds, settledMemoryMb } from '../helpers/process-census.ts';
import { until } from '../helpers/until.ts';

const RTC = 'Alexa.RTCSessionController';
const CYCLES = process.env.PORCHLIGHT_SOAK ? 1000 : 200;
/** Cycles between two waits for the camera to linger out, so ffmpeg is stopped and restarted too. */
const ROUND = 50;
const WARMUP = 10;
/** Retained memory allowed over the whole run, beyond the warmed-up level. */
const RSS_GROWTH_LIMIT_MB = CYCLES >= 1000 ? 60 : 40;

let bridge: TestBridge;
before(async () => {
  bridge = await startBridge({
    webrtc: { hostAddresses: ['127.0.0.1'], udpPorts: '43000-43099' },
    cameras: [{ id: 'demo', name: 'Demo Camera', url: `file:${DEMO_CLIP}`, lingerSec: 1 }],
  });
});
after(() => bridge?.close());

/**
 * Replies are schema-checked on a sample only: V8 optimising the huge generated schema validator
 * takes ~600 MiB of this process's memory after a few hundred calls, which would swamp the
 * bridge's own memory that this test watches. (The fuzz tests check every reply.)
 */
async function send(name: string, sessionId: string, cycleNumber: number, payload: Record<string, unknown> = {}): Promise<any> {
  const { status, json } = await bridge.postAlexa(directive(RTC, name, { endpointId: 'demo', payload: { sessionId, ...payload } }));
  assert.equal(status, 200);
  if (cycleNumber % ROUND === 0) assert.deepEqual(alexaSchemaErrors(json), []);
  return json;
}

/** One viewing: offer, answer, ICE + DTLS up, video flowing, then hang up both ends. */
async function cycle(n: number): Promise<void> {
  const sessionId = `soak-${n}`;
  const viewer = await echoViewer();
  try {
    const reply = await send('InitiateSessionWithOffer', sessionId, n, { offer: { format: 'SDP', value: viewer.offer } });
    assert.equal(reply.event.header.name, 'AnswerGeneratedForSession', JSON.stringify(reply.event.payload));
    await viewer.pc.setRemoteDescription({ type: 'answer', sdp: reply.event.payload.answer.value });
    let videoPackets = 0;
    const video = viewer.pc.getTransceivers().find((t) => t.kind === 'video')!;
    video.receiver.track.onReceiveRtp.subscribe((_rtp: RtpPacket) => {
      videoPackets += 1;
    });
    await until(`video in cycle ${n}`, () => videoPackets > 0, 10_000, 5);
    assert.equal((await send('SessionDisconnected', sessionId, n)).event.header.name, 'SessionDisconnected');
  } finally {
    await viewer.pc.close();
  }
}

/** Waits out the linger: the last viewer has gone, so the camera's ffmpeg must stop. */
async function assertCameraIdle(): Promise<void> {
  await until('no session left', () => bridge.app.sessions.size === 0, 5000);
  await until('ffmpeg to stop after the linger', () => childProcesses('ffmpeg').length === 0, 10_000);
}

test(`${CYCLES} session open/close cycles leave no ffmpeg, no leaked descriptors, bounded memory`, async (t) => {
  const baselineFds = openFds();
  for (let n = 0; n < WARMUP; n += 1) await cycle(n);
  await assertCameraIdle();
  const warm = settledMemoryMb();

  const fdsAfterRound: number[] = [];
  const memoryAfterRound: Array<ReturnType<typeof settledMemoryMb>> = [];
  for (let n = WARMUP; n < CYCLES; n += 1) {
    await cycle(n);
    if ((n + 1) % ROUND === 0 || n === CYCLES - 1) {
      await assertCameraIdle();
      fdsAfterRound.push(openFds());
      memoryAfterRound.push(settledMemoryMb());
    }
  }
  const settled = memoryAfterRound.at(-1)!;
  const grownRss = settled.rss - warm.rss;
  const { starts } = bridge.app.streams.peek('demo')!.status();
  const report = { cycles: CYCLES, baselineFds, fdsAfterRound, warmRssMb: Math.round(warm.rss), rssGrowthMb: Number(grownRss.toFixed(1)), heapGrowthMb: Number((settled.heap - warm.heap).toFixed(1)), ffmpegStarts: starts, memoryAfterRound };
  t.diagnostic(JSON.stringify(report));

  for (const fds of fdsAfterRound) assert.ok(Math.abs(fds - baselineFds) <= 10, `open descriptors ${fds} vs ${baselineFds} at start: ${JSON.stringify(report)}`);
  assert.ok(grownRss < RSS_GROWTH_LIMIT_MB, `RSS grew ${grownRss.toFixed(1)} MiB: ${JSON.stringify(report)}`);
  // The camera was stopped between rounds and restarted by the next viewer, not per session.
  assert.ok(starts >= fdsAfterRound.length && starts <= fdsAfterRound.length + 2, JSON.stringify(report));
  assert.equal(bridge.app.sessions.size, 0);
});
