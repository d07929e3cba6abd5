/**
 * Whole-house scale (issue 15), all from one run:
 *   1. 32 preloaded cameras (a pre-encoded clip looped by bench/fake-camera-clip.py), idle, then
 *      100 viewers spread over them, answers measured during that load, then the worst case: 50
 *      viewers on one camera while the 31 others stream;
 *   2. porchlight against a native forwarder (bench/native-forwarder.ts, libdatachannel) on one
 *      camera, 0/10/50 viewers, A/B interleaved round by round so machine drift cancels;
 *   3. the bridge's footprint idle with one camera and after `churnSessions` sessions came and went.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { measureAnswerLatency, type AnswerLatency } from './answer-latency.ts';
import { BENCH_PROXY_SECRET, metricValue, startBridgeProcess, type BridgeProcess } from './bridge-process.ts';
import { startClipCamera, type ClipSpec } from './clip-camera.ts';
import { measureWindow, type LoadPoint } from './cpu-load.ts';
import { startNativeForwarder } from './native-process.ts';
import { costPerViewer, costRatio, type Cost } from './noise.ts';
import { cpuPercent, readRssBytes, sampleCpu } from './proc-stats.ts';
import { ViewerFarm } from './viewers.ts';

const GC_ON_SIGNAL = fileURLToPath(new URL('./gc-on-signal.ts', import.meta.url));

export const CLIP: ClipSpec = { width: 1280, height: 720, fps: 25, gop: 4, gops: 3, kbps: 1500 };

export interface ScaleSettings {
  cameras: number;
  viewers: number;
  worstCase: number;
  windowSec: number;
  settleSec: number;
  abRounds: number;
  churnSessions: number;
}

export const SCALE_PROFILES: Record<'quick' | 'full', ScaleSettings> = {
  quick: { cameras: 32, viewers: 100, worstCase: 50, windowSec: 5, settleSec: 3, abRounds: 1, churnSessions: 200 },
  full: { cameras: 32, viewers: 100, worstCase: 50, windowSec: 15, settleSec: 4, abRounds: 2, churnSessions: 1000 },
};

export type ScalePoint = Omit<LoadPoint, 'step' | 'windowUs'> & { label: string; cameraCpuPct: number };

export interface Footprint {
  rssMb: number;
  heapUsedMb: number;
}

export interface ScaleResult {
  settings: ScaleSettings;
  clip: ClipSpec;
  points: ScalePoint[];
  /** Bridge + its ffmpeg per preloaded camera with nobody watching, % of a core. */
  perCameraPct: { bridge: number; ffmpeg: number };
  /** Bridge CPU per viewer across the 32 cameras (0 → 100 viewers). */
  perViewerWholeHouse: Cost;
  answersUnderLoad: AnswerLatency;
  native: {
    rounds: number;
    porchlight: { at10: Cost; at50: Cost };
    native: { at10: Cost; at50: Cost };
    ratioAt10: Cost;
    ratioAt50: Cost;
    /** porchlight ÷ native at 50, round by round: the ratio's own noise. */
    roundRatiosAt50: number[];
  };
  footprint: { idle: Footprint; afterChurn: Footprint; sessions: number; failed: number };
}

type Log = (line: string) => void;
const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;

async function waitAllStreaming(bridge: BridgeProcess, ids: string[], timeoutMs = 60_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let waiting = ids;
  while (performance.now() < deadline) {
    const metrics = await bridge.metrics();
    waiting = ids.filter((id) => metricValue(metrics, 'porchlight_rtp_packets_total', { camera: id, kind: 'video' }) === 0);
    if (waiting.length === 0) return;
    await sleep(500);
  }
  throw new Error(`${waiting.length} cameras did not stream within ${timeoutMs / 1000} s (${waiting.slice(0, 5).join(', ')})`);
}

/** Opens `count` viewers split over the farms, round robin over `cameraIds` (each farm starting further along). */
async function openSpread(target: BridgeProcess, farms: ViewerFarm[], cameraIds: string[], count: number, prefix: string, log: Log): Promise<number> {
  const per = Math.ceil(count / farms.length);
  const results = await Promise.all(farms.map((farm, i) => {
    const n = Math.min(per, count - i * per);
    const offset = (i * per) % cameraIds.length;
    const rotated = [...cameraIds.slice(offset), ...cameraIds.slice(0, offset)];
    return n > 0 ? farm.open({ url: target.url, secret: BENCH_PROXY_SECRET }, rotated, n, `${prefix}-${i}`, 60_000) : { connected: 0, errors: [] };
  }));
  const errors = results.flatMap((r) => r.errors);
  if (errors.length > 0) log(`  ${errors.length} viewers failed, first: ${errors[0]}`);
  return results.reduce((sum, r) => sum + r.connected, 0);
}

async function closeAll(farms: ViewerFarm[]): Promise<void> {
  await Promise.all(farms.map((farm) => farm.closeAll()));
}

async function window(label: string, bridge: BridgeProcess, farms: ViewerFarm[], viewers: number, cameraPid: number, settings: ScaleSettings, log: Log): Promise<ScalePoint> {
  await sleep(settings.settleSec * 1000);
  const cameraBefore = sampleCpu([cameraPid]);
  const point = await measureWindow(bridge, farms, viewers, settings.windowSec);
  const cameraCpuPct = round(cpuPercent(cameraBefore, sampleCpu([cameraPid])).pct);
  const { windowUs: _window, ...rest } = point;
  log(`  ${label}: bridge ${point.bridgeCpuPct} % + ${point.ffmpegProcesses} ffmpeg ${point.ffmpegCpuPct} %, RSS ${point.rssMb} MB, lost ${point.dropPct} %; camera side ${cameraCpuPct} %, viewer farms ${point.viewerCpuPct} %`);
  return { label, ...rest, cameraCpuPct };
}

/** After a full GC (bench/gc-on-signal.ts): what the bridge really holds. */
async function footprint(bridge: BridgeProcess): Promise<Footprint> {
  process.kill(bridge.pid, 'SIGUSR2');
  await sleep(1000);
  const heap = metricValue(await bridge.metrics(), 'porchlight_nodejs_heap_size_used_bytes');
  return { rssMb: round((readRssBytes(bridge.pid) ?? Number.NaN) / 1024 / 1024, 1), heapUsedMb: round(heap / 1024 / 1024, 1) };
}

/** One stack's 0/10/50-viewer windows on its one camera; the viewers hang up at the end. */
async function abSteps(target: BridgeProcess, farms: ViewerFarm[], cameraPid: number, settings: ScaleSettings, log: Log): Promise<ScalePoint[]> {
  const points: ScalePoint[] = [];
  let open = 0;
  for (const step of [0, 10, 50]) {
    if (step > open) open += await openSpread(target, farms, ['cam'], step - open, `${target.label}-${step}`, log);
    points.push(await window(`${target.label}, ${open} viewers`, target, farms, open, cameraPid, settings, log));
  }
  await closeAll(farms);
  return points;
}

function pooled(rounds: ScalePoint[][], index: number): { viewers: number; samples: number[] } {
  return { viewers: Math.min(...rounds.map((r) => r[index]!.viewers)), samples: rounds.flatMap((r) => r[index]!.bridgeCpuSamples) };
}

export async function measureScale(settings: ScaleSettings, log: Log, cleanups: Array<() => Promise<void>>): Promise<ScaleResult> {
  const camera = await startClipCamera(CLIP, settings.cameras);
  cleanups.push(() => camera.close());
  const farms = [ViewerFarm.start(), ViewerFarm.start()];
  cleanups.push(async () => { await Promise.all(farms.map((f) => f.close())); });
  const ids = Array.from({ length: settings.cameras }, (_, i) => `cam${i}`);

  log(`scale: ${settings.cameras} preloaded cameras looping a ${CLIP.width}x${CLIP.height} ${CLIP.kbps} kbit/s clip`);
  const house = await startBridgeProcess({
    label: 'house',
    config: {
      lingerSec: 1,
      healthIntervalSec: 3600,
      webrtc: { hostAddresses: ['127.0.0.1'], udpPorts: '45000-45999', maxViewersPerCamera: 100 },
      cameras: ids.map((id, i) => ({ id, name: `Camera ${i}`, url: camera.url(i), preload: true })),
    },
  });
  cleanups.push(() => house.close());
  await waitAllStreaming(house, ids);
  const points: ScalePoint[] = [];
  const idle = await window(`${settings.cameras} cameras, no viewer`, house, farms, 0, camera.pid, settings, log);
  points.push(idle);
  const connected = await openSpread(house, farms, ids, settings.viewers, 'house', log);
  const full = await window(`${settings.cameras} cameras, ${connected} viewers`, house, farms, connected, camera.pid, settings, log);
  points.push(full);
  log('  answers during that load: 10 one at a time, 3 rounds of 20 concurrent');
  const answersUnderLoad = await measureAnswerLatency(house, 'cam1', { sequential: 10, rounds: 3, concurrency: 20, warmup: 2, log });
  log(`  1 at a time p50 ${answersUnderLoad.sequential.p50} ms p99 ${answersUnderLoad.sequential.p99} ms; 20 concurrent p50 ${answersUnderLoad.concurrent.p50} ms p99 ${answersUnderLoad.concurrent.p99} ms`);
  await closeAll(farms);
  const worstOpen = await openSpread(house, farms, ['cam0'], settings.worstCase, 'worst', log);
  points.push(await window(`${worstOpen} viewers on one camera, ${settings.cameras - 1} others streaming`, house, farms, worstOpen, camera.pid, settings, log));
  await closeAll(farms);
  await house.close();

  log(`porchlight vs native (libdatachannel): one camera, 0/10/50 viewers, ${settings.abRounds} interleaved round(s)`);
  const single = { lingerSec: 1, healthIntervalSec: 3600, webrtc: { hostAddresses: ['127.0.0.1'], udpPorts: '47000-47399', maxViewersPerCamera: 100 } };
  const porchlight = await startBridgeProcess({ label: 'porchlight', nodeArgs: ['--expose-gc', '--import', GC_ON_SIGNAL], config: { ...single, cameras: [{ id: 'cam', name: 'Camera', url: camera.url(0), preload: true }] } });
  cleanups.push(() => porchlight.close());
  const native = await startNativeForwarder({ cameras: [{ id: 'cam', url: camera.url(0) }], udpPorts: '48000-48999' });
  cleanups.push(() => native.close());
  await waitAllStreaming(porchlight, ['cam']);
  await waitAllStreaming(native, ['cam']);
  await sleep(3000);
  const idleFootprint = await footprint(porchlight);
  const rounds = { porchlight: [] as ScalePoint[][], native: [] as ScalePoint[][] };
  for (let r = 0; r < settings.abRounds; r += 1) {
    const order = r % 2 === 0 ? (['porchlight', 'native'] as const) : (['native', 'porchlight'] as const);
    for (const which of order) rounds[which].push(await abSteps(which === 'porchlight' ? porchlight : native, farms, camera.pid, settings, log));
  }
  const costs = (stack: ScalePoint[][]) => ({
    at10: costPerViewer(pooled(stack, 0), pooled(stack, 1)),
    at50: costPerViewer(pooled(stack, 0), pooled(stack, 2)),
  });
  const p = costs(rounds.porchlight);
  const n = costs(rounds.native);
  const roundRatiosAt50 = rounds.porchlight.map((pr, i) => {
    const ratio = costRatio(costPerViewer(pooled([pr], 0), pooled([pr], 2)), costPerViewer(pooled([rounds.native[i]!], 0), pooled([rounds.native[i]!], 2)));
    return ratio.value;
  });
  await native.close();

  log(`footprint: ${settings.churnSessions} sessions through the one-camera bridge`);
  let sessions = 0;
  let failed = 0;
  const batch = 25;
  while (sessions + failed < settings.churnSessions) {
    const want = Math.min(batch, settings.churnSessions - sessions - failed);
    const opened = await openSpread(porchlight, farms, ['cam'], want, 'churn', () => {});
    sessions += opened;
    failed += want - opened;
    await closeAll(farms);
  }
  await sleep(10_000); // sessions' sockets closed, linger passed, the heap given a chance to shrink
  const afterChurn = await footprint(porchlight);
  log(`  idle RSS ${idleFootprint.rssMb} MB (heap ${idleFootprint.heapUsedMb} MB); after ${sessions} sessions ${afterChurn.rssMb} MB (heap ${afterChurn.heapUsedMb} MB)${failed ? `; ${failed} sessions failed` : ''}`);
  await porchlight.close();

  return {
    settings,
    clip: CLIP,
    points,
    perCameraPct: { bridge: round(idle.bridgeCpuPct / settings.cameras, 3), ffmpeg: round(idle.ffmpegCpuPct / settings.cameras, 3) },
    perViewerWholeHouse: costPerViewer({ viewers: 0, samples: idle.bridgeCpuSamples }, { viewers: full.viewers, samples: full.bridgeCpuSamples }),
    answersUnderLoad,
    native: {
      rounds: settings.abRounds,
      porchlight: p,
      native: n,
      ratioAt10: costRatio(p.at10, n.at10),
      ratioAt50: costRatio(p.at50, n.at50),
      roundRatiosAt50,
    },
    footprint: { idle: idleFootprint, afterChurn, sessions, failed },
  };
}
