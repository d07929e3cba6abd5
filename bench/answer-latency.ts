/**
 * Offer → answer latency through signed POST /alexa, as the skill Lambda sees it (HTTP round
 * trip included): werift offerers shaped like an Echo (host candidates only), one at a time and
 * then `concurrency` at once. Sessions are hung up after each sample; nobody connects.
 */
import type { RTCPeerConnection } from 'werift';
import { directive } from '../test/helpers/directives.ts';
import { echoViewer } from '../test/helpers/echo-offer.ts';
import type { BridgeProcess } from './bridge-process.ts';
import { cpuPercent, monotonicUs, sampleCpu } from './proc-stats.ts';

const RTC = 'Alexa.RTCSessionController';

export interface LatencyStats {
  p50: number;
  p99: number;
  max: number;
  samples: number;
  failures: number;
}

export interface AnswerLatency {
  sequential: LatencyStats;
  concurrent: LatencyStats & { concurrency: number; roundMaxMs: number[] };
  /** Each recorded burst, first offer sent → last answer in, on the monotonic clock (to slice the bridge's CPU profile). */
  burstsUs: Array<[number, number]>;
  /** The bridge's CPU time over the concurrent rounds (answers and hang-ups) per offer, ms. */
  bridgeCpuMsPerOffer: number;
}

/** Nearest-rank percentile of an unsorted list. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function median(values: number[]): number {
  return percentile(values, 50);
}

function stats(values: number[], failures: number): LatencyStats {
  const round = (n: number) => Math.round(n * 10) / 10;
  return { p50: round(percentile(values, 50)), p99: round(percentile(values, 99)), max: round(Math.max(...values)), samples: values.length, failures };
}

let counter = 0;

/** One timed offer; undefined when the bridge did not answer with an SDP answer. */
async function timedOffer(bridge: BridgeProcess, cameraId: string, offer: string): Promise<{ ms?: number; sessionId: string; error?: string }> {
  const sessionId = `answer-${process.pid}-${counter++}`;
  const request = directive(RTC, 'InitiateSessionWithOffer', { endpointId: cameraId, payload: { sessionId, offer: { format: 'SDP', value: offer } } });
  const started = performance.now();
  try {
    const reply = await bridge.postAlexa(request);
    const ms = performance.now() - started;
    if (reply?.event?.header?.name !== 'AnswerGeneratedForSession') return { sessionId, error: JSON.stringify(reply?.event?.payload) };
    return { ms, sessionId };
  } catch (err) {
    return { sessionId, error: (err as Error).message };
  }
}

async function hangUp(bridge: BridgeProcess, cameraId: string, sessionIds: string[], pcs: RTCPeerConnection[]): Promise<void> {
  await Promise.all(sessionIds.map((sessionId) =>
    bridge.postAlexa(directive(RTC, 'SessionDisconnected', { endpointId: cameraId, payload: { sessionId } })).catch(() => {})));
  await Promise.all(pcs.map((pc) => Promise.race([pc.close().catch(() => {}), new Promise((resolve) => setTimeout(resolve, 2000))])));
}

export async function measureAnswerLatency(
  bridge: BridgeProcess,
  cameraId: string,
  options: { sequential: number; rounds: number; concurrency: number; warmup?: number; log?: (line: string) => void },
): Promise<AnswerLatency> {
  const errors: string[] = [];
  const one = async (record: number[] | undefined) => {
    const viewer = await echoViewer();
    const result = await timedOffer(bridge, cameraId, viewer.offer);
    if (result.ms !== undefined) record?.push(result.ms);
    else errors.push(result.error ?? 'no answer');
    await hangUp(bridge, cameraId, [result.sessionId], [viewer.pc]);
  };
  for (let i = 0; i < (options.warmup ?? 3); i += 1) await one(undefined);
  errors.length = 0;

  const sequential: number[] = [];
  for (let i = 0; i < options.sequential; i += 1) await one(sequential);
  const sequentialFailures = errors.length;

  const concurrent: number[] = [];
  const roundMaxMs: number[] = [];
  const burstsUs: Array<[number, number]> = [];
  const burst = async (record: boolean) => {
    const viewers = await Promise.all(Array.from({ length: options.concurrency }, () => echoViewer()));
    const firedUs = monotonicUs();
    const results = await Promise.all(viewers.map((viewer) => timedOffer(bridge, cameraId, viewer.offer)));
    if (record) burstsUs.push([firedUs, monotonicUs()]);
    for (const result of results) {
      if (result.ms !== undefined && record) concurrent.push(result.ms);
      else if (result.ms === undefined) errors.push(result.error ?? 'no answer');
    }
    if (record) roundMaxMs.push(Math.round(Math.max(...results.map((r) => r.ms ?? 0))));
    await hangUp(bridge, cameraId, results.map((r) => r.sessionId), viewers.map((v) => v.pc));
    await new Promise((resolve) => setTimeout(resolve, 300)); // let the closed sessions' sockets go
  };
  // One unrecorded burst first, as one-at-a-time has its warm-up offers: the code paths that only
  // concurrency exercises are otherwise measured before V8 has optimised them.
  await burst(false);
  const cpuBefore = sampleCpu([bridge.pid]);
  for (let round = 0; round < options.rounds; round += 1) await burst(true);
  const cpuAfter = sampleCpu([bridge.pid]);
  const cpuMs = (cpuPercent(cpuBefore, cpuAfter).pct / 100) * (cpuAfter.atMs - cpuBefore.atMs);
  if (errors.length > 0) options.log?.(`answer latency: ${errors.length} offers failed, first: ${errors[0]}`);
  if (sequential.length === 0 || concurrent.length === 0) throw new Error(`no offer was answered: ${errors[0]}`);
  return {
    sequential: stats(sequential, sequentialFailures),
    concurrent: { ...stats(concurrent, errors.length - sequentialFailures), concurrency: options.concurrency, roundMaxMs },
    burstsUs,
    bridgeCpuMsPerOffer: Math.round((10 * cpuMs) / (options.rounds * options.concurrency)) / 10,
  };
}
