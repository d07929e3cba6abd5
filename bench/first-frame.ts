/**
 * Answer → first decoded frame in headless Chromium (test/helpers/chromium-viewer.ts), through
 * signed POST /alexa to the bridge process: for a viewer joining a camera that is already
 * streaming (served from the keyframe cache) and for a cold start (the camera's ffmpeg not
 * running: each cold run first waits out the linger until that ffmpeg has exited).
 */
import { launchChromium, type ChromiumBrowser } from '../test/helpers/chromium-viewer.ts';
import { directive } from '../test/helpers/directives.ts';
import { median } from './answer-latency.ts';
import type { BridgeProcess } from './bridge-process.ts';

const RTC = 'Alexa.RTCSessionController';
const FIRST_FRAME_TIMEOUT_MS = 15_000;

export interface FirstFrameResult {
  warm: { medianMs: number; runs: number[] };
  cold: { medianMs: number; runs: number[] };
  /** Hang-up of a cold camera's last viewer → its ffmpeg gone, per cold run (linger + stop). */
  ffmpegGoneAfterMs: number[];
  /** Cold runs after which the camera's ffmpeg was still running when the wait ran out. */
  ffmpegLeftOver: number;
}

async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (performance.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** One Chromium viewer: offer, answer, first frame; returns ms from the answer to the first frame. */
async function firstFrame(browser: ChromiumBrowser, bridge: BridgeProcess, cameraId: string, sessionId: string): Promise<number> {
  const viewer = await browser.newViewer();
  try {
    const offer = await viewer.createOffer({ audio: 'recvonly' });
    const reply = await bridge.postAlexa(directive(RTC, 'InitiateSessionWithOffer', {
      endpointId: cameraId,
      payload: { sessionId, offer: { format: 'SDP', value: offer } },
    }));
    if (reply?.event?.header?.name !== 'AnswerGeneratedForSession') throw new Error(`no answer: ${JSON.stringify(reply?.event?.payload)}`);
    const answeredAt = await viewer.markAnswerTime();
    await viewer.setAnswer(reply.event.payload.answer.value);
    const stats = await viewer.waitFor((s) => s.firstFrameAtMs !== undefined && s.framesDecoded > 0, FIRST_FRAME_TIMEOUT_MS);
    return Math.round(stats.firstFrameAtMs! - answeredAt);
  } finally {
    await viewer.closePeer().catch(() => {});
    await bridge.postAlexa(directive(RTC, 'SessionDisconnected', { endpointId: cameraId, payload: { sessionId } })).catch(() => {});
    await viewer.page.close().catch(() => {});
  }
}

export async function measureFirstFrame(
  bridge: BridgeProcess,
  options: { warmCamera: string; coldCamera: string; warmRuns: number; coldRuns: number; lingerSec: number; log?: (line: string) => void },
): Promise<FirstFrameResult> {
  const log = options.log ?? (() => {});
  const browser = await launchChromium();
  const result: FirstFrameResult = { warm: { medianMs: Number.NaN, runs: [] }, cold: { medianMs: Number.NaN, runs: [] }, ffmpegGoneAfterMs: [], ffmpegLeftOver: 0 };
  try {
    // One unrecorded join first: Chromium's first decoder and page are slower than the rest.
    await firstFrame(browser, bridge, options.warmCamera, 'ff-warmup');
    for (let i = 0; i < options.warmRuns; i += 1) {
      // Join at scattered points of the camera's 4 s GOP: the keyframe cache should make it moot.
      await new Promise((resolve) => setTimeout(resolve, 300 + Math.random() * 1500));
      result.warm.runs.push(await firstFrame(browser, bridge, options.warmCamera, `ff-warm-${i}`));
      log(`  warm join ${i + 1}/${options.warmRuns}: ${result.warm.runs.at(-1)} ms`);
    }
    const baseline = new Set(bridge.ffmpegPids()); // the warm camera's (preloaded) ffmpeg
    const onlyBaseline = () => bridge.ffmpegPids().every((pid) => baseline.has(pid));
    const lingerWaitMs = options.lingerSec * 1000 + 10_000;
    for (let i = 0; i < options.coldRuns; i += 1) {
      if (!(await waitUntil(onlyBaseline, lingerWaitMs))) throw new Error('the cold camera\'s ffmpeg never stopped');
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 1000)); // scatter over the GOP
      result.cold.runs.push(await firstFrame(browser, bridge, options.coldCamera, `ff-cold-${i}`));
      log(`  cold start ${i + 1}/${options.coldRuns}: ${result.cold.runs.at(-1)} ms`);
      const hungUpAt = performance.now();
      if (await waitUntil(onlyBaseline, lingerWaitMs)) result.ffmpegGoneAfterMs.push(Math.round(performance.now() - hungUpAt));
      else result.ffmpegLeftOver += 1;
    }
  } finally {
    await browser.close();
  }
  result.warm.medianMs = median(result.warm.runs);
  result.cold.medianMs = median(result.cold.runs);
  return result;
}
