/**
 * CPU and memory under load: the bridge process with 0, 1, 10 and 50 werift viewers of one
 * camera (viewers that connect and receive, in bench/viewer-farm.ts), and the same 10-viewer load
 * through a naive pipeline: a second bridge with one camera entry per viewer, all pointing at the
 * same camera, i.e. one ffmpeg per viewer feeding werift from one Node process.
 *
 * CPU is Δ(utime+stime)/Δwall from /proc/<pid>/stat over a steady window once every viewer
 * receives video, as a percentage of one core; the camera ffmpeg children are measured apart.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { BENCH_PROXY_SECRET, metricValue, startBridgeProcess, type BridgeProcess } from './bridge-process.ts';
import { cpuPercent, monotonicUs, readRssBytes, sampleCpu, udpDrops } from './proc-stats.ts';
import { percentile } from './answer-latency.ts';
import { costPerViewer, type Cost } from './noise.ts';
import { windowCounts, type ViewerFarm, type WindowCounts } from './viewers.ts';

export interface LoadPoint {
  /** The audience asked for (0, 1, 10, 50); `viewers` is how many were connected. */
  step: number;
  viewers: number;
  /** Offer → answer (POST /alexa round trip) of the viewers that joined for this step. */
  joinAnswerMs?: { p50: number; max: number; failed: number };
  /** The bridge's Node process, % of one core. */
  bridgeCpuPct: number;
  /** The same, second by second: its spread is the window's noise. */
  bridgeCpuSamples: number[];
  /** Its camera ffmpeg children together, % of one core. */
  ffmpegCpuPct: number;
  ffmpegProcesses: number;
  /** The viewer farm(s) (werift receivers), for context: they share the machine. */
  viewerCpuPct: number;
  rssMb: number;
  windowSec: number;
  /** The window on the monotonic clock, to slice the bridge's CPU profile. */
  windowUs: [number, number];
  /** Video RTP packets the camera's ffmpeg delivered to the bridge in the window. */
  cameraPackets: number;
  /** What the camera's stream delivered (video + audio RTP), kbit/s. */
  cameraKbps: number;
  /** RTP packets the bridge dropped for viewers that fell behind (porchlight_rtp_dropped_total). */
  bridgeDropped: number;
  viewerSide: WindowCounts;
  /** Datagrams the kernel dropped at the sockets' receive buffers in the window (/proc/net/udp). */
  udpDrops: { bridge: number; viewers: number };
  dropPct: number;
}

const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;

/** One steady window: CPU sampled tightly around the sleep, counters read just outside it. */
export async function measureWindow(bridge: BridgeProcess, farm: ViewerFarm | ViewerFarm[], viewers: number, seconds: number): Promise<Omit<LoadPoint, 'step'>> {
  const farms = Array.isArray(farm) ? farm : [farm];
  const farmPids = farms.map((f) => f.pid);
  const snapshot = async () => (await Promise.all(farms.map((f) => f.snapshot()))).flat();
  const viewerDrops = () => farmPids.reduce((sum, pid) => sum + udpDrops(pid), 0);
  const metricsBefore = await bridge.metrics();
  const countsBefore = await snapshot();
  const ffmpegs = bridge.ffmpegPids();
  const dropsBefore = { bridge: udpDrops(bridge.pid), viewers: viewerDrops() };
  const before = { bridge: sampleCpu([bridge.pid]), ffmpeg: sampleCpu(ffmpegs), farm: sampleCpu(farmPids) };
  const startUs = monotonicUs();
  // Sampled every second too: the spread of those samples is the window's noise (bench/noise.ts).
  const bridgeCpuSamples: number[] = [];
  let last = before.bridge;
  for (let second = 0; second < seconds; second += 1) {
    await sleep(1000);
    const now = sampleCpu([bridge.pid]);
    bridgeCpuSamples.push(round(cpuPercent(last, now).pct));
    last = now;
  }
  const endUs = monotonicUs();
  const after = { bridge: sampleCpu([bridge.pid]), ffmpeg: sampleCpu(ffmpegs), farm: sampleCpu(farmPids) };
  const rss = readRssBytes(bridge.pid) ?? Number.NaN;
  const dropsAfter = { bridge: udpDrops(bridge.pid), viewers: viewerDrops() };
  const countsAfter = await snapshot();
  const metricsAfter = await bridge.metrics();
  const delta = (name: string, labels: Record<string, string> = {}) => metricValue(metricsAfter, name, labels) - metricValue(metricsBefore, name, labels);
  const viewerSide = windowCounts(countsBefore, countsAfter);
  const bridgeDropped = delta('porchlight_rtp_dropped_total');
  const lossBase = viewerSide.expected + bridgeDropped;
  const windowSec = (after.bridge.atMs - before.bridge.atMs) / 1000;
  return {
    viewers,
    bridgeCpuPct: round(cpuPercent(before.bridge, after.bridge).pct),
    bridgeCpuSamples,
    ffmpegCpuPct: round(cpuPercent(before.ffmpeg, after.ffmpeg).pct),
    ffmpegProcesses: ffmpegs.length,
    viewerCpuPct: round(cpuPercent(before.farm, after.farm).pct),
    rssMb: round(rss / 1024 / 1024, 1),
    windowSec: round(windowSec),
    windowUs: [startUs, endUs],
    cameraPackets: delta('porchlight_rtp_packets_total', { kind: 'video' }),
    cameraKbps: Math.round((delta('porchlight_rtp_bytes_total') * 8) / windowSec / 1000),
    bridgeDropped,
    viewerSide,
    udpDrops: { bridge: dropsAfter.bridge - dropsBefore.bridge, viewers: dropsAfter.viewers - dropsBefore.viewers },
    dropPct: lossBase > 0 ? round((100 * (bridgeDropped + viewerSide.lost)) / lossBase, 3) : 0,
  };
}

export interface LoadResult {
  points: LoadPoint[];
  /** Bridge CPU per extra viewer between the 1 and 10 viewer steps, and the 10 and 50 (by viewers connected), % of a core; unmeasurable below the windows' noise. */
  perViewer1to10: Cost;
  perViewer10to50: Cost;
  rssPerSessionMb: number;
}

/** Steps the one camera's audience up through `steps` (e.g. 0, 1, 10, 50), a window at each. */
export async function measureLoad(
  bridge: BridgeProcess,
  farm: ViewerFarm,
  options: { cameraId: string; steps: number[]; windowSec: number; settleSec: number; log: (line: string) => void },
): Promise<LoadResult> {
  const points: LoadPoint[] = [];
  let open = 0;
  for (const step of options.steps) {
    const answerMs: number[] = [];
    let failed = 0;
    // An offer the bridge could not answer in time (answerTimeoutMs) is retried, twice at most.
    for (let attempt = 0; attempt < 3 && open < step; attempt += 1) {
      const joined = await farm.open({ url: bridge.url, secret: BENCH_PROXY_SECRET }, [options.cameraId], step - open, `load-${step}`);
      if (joined.errors.length > 0) options.log(`  ${joined.errors.length} viewers failed, first: ${joined.errors[0]}`);
      failed += joined.errors.length;
      answerMs.push(...joined.answerMs);
      open += joined.connected;
    }
    if (open < step) options.log(`  only ${open} of ${step} viewers connected: measuring those`);
    await sleep(options.settleSec * 1000); // past the keyframe-cache replay burst and the connect work
    const point: LoadPoint = {
      step,
      ...(answerMs.length > 0 && { joinAnswerMs: { p50: percentile(answerMs, 50), max: Math.max(...answerMs), failed } }),
      ...(await measureWindow(bridge, farm, open, options.windowSec)),
    };
    points.push(point);
    const joins = point.joinAnswerMs ? `; joins answered in ${point.joinAnswerMs.p50} ms median, ${point.joinAnswerMs.max} ms max` : '';
    options.log(`  ${open} viewers: bridge ${point.bridgeCpuPct} % + ffmpeg ${point.ffmpegCpuPct} %, RSS ${point.rssMb} MB, lost ${point.dropPct} % (bridge dropped ${point.bridgeDropped}, socket drops bridge ${point.udpDrops.bridge} / viewers ${point.udpDrops.viewers}; viewer farm ${point.viewerCpuPct} %${joins})`);
  }
  const at = (n: number) => points.find((p) => p.step === n);
  const slope = (a: number, b: number): Cost => {
    const pa = at(a);
    const pb = at(b);
    if (!pa || !pb) return { value: Number.NaN, unmeasurable: `no ${a}- or ${b}-viewer window` };
    return costPerViewer({ viewers: pa.viewers, samples: pa.bridgeCpuSamples }, { viewers: pb.viewers, samples: pb.bridgeCpuSamples });
  };
  const max = Math.max(...options.steps);
  return {
    points,
    perViewer1to10: slope(1, 10),
    perViewer10to50: slope(10, max),
    rssPerSessionMb: round(((at(max)?.rssMb ?? Number.NaN) - (at(0)?.rssMb ?? Number.NaN)) / (at(max)?.viewers ?? max), 2),
  };
}

export interface NaiveResult extends Omit<LoadPoint, 'step'> {
  /** Node process + every ffmpeg, % of one core. */
  totalCpuPct: number;
  /** ffmpeg processes still running once the viewers had gone and the linger had passed. */
  ffmpegLeftAfterLinger: number;
}

/** The naive pipeline: `viewers` camera entries (one ffmpeg each), one viewer per entry. */
export async function measureNaive(
  cameraUrl: string,
  farm: ViewerFarm,
  options: { viewers: number; windowSec: number; settleSec: number; udpPorts: string; nodeArgs?: string[]; log: (line: string) => void },
): Promise<NaiveResult> {
  const ids = Array.from({ length: options.viewers }, (_, i) => `naive-${i}`);
  const bridge = await startBridgeProcess({
    label: 'naive',
    ...(options.nodeArgs && { nodeArgs: options.nodeArgs }),
    config: {
      lingerSec: 1,
      healthIntervalSec: 3600,
      webrtc: { hostAddresses: ['127.0.0.1'], udpPorts: options.udpPorts },
      cameras: ids.map((id) => ({ id, name: id, url: cameraUrl })),
    },
  });
  try {
    const { connected, errors } = await farm.open({ url: bridge.url, secret: BENCH_PROXY_SECRET }, ids, options.viewers, 'naive');
    if (connected < options.viewers) throw new Error(`naive: only ${connected} of ${options.viewers} viewers connected: ${errors[0]}`);
    await sleep(options.settleSec * 1000);
    const point = await measureWindow(bridge, farm, options.viewers, options.windowSec);
    await farm.closeAll();
    const deadline = performance.now() + 10_000;
    while (bridge.ffmpegPids().length > 0 && performance.now() < deadline) await sleep(100);
    const result = { ...point, totalCpuPct: round(point.bridgeCpuPct + point.ffmpegCpuPct), ffmpegLeftAfterLinger: bridge.ffmpegPids().length };
    options.log(`  naive, ${options.viewers} viewers: node ${point.bridgeCpuPct} % + ${point.ffmpegProcesses} ffmpeg ${point.ffmpegCpuPct} % = ${result.totalCpuPct} %`);
    return result;
  } finally {
    await farm.closeAll().catch(() => {});
    await bridge.close();
  }
}
