/**
 * porchlight's benchmark (docs/architecture.md "Performance targets"), all figures from one run on this
 * machine: a fake camera (1280x720, 25 fps, ~2 Mb/s, 4 s GOP, G.711 audio) and the bridge in a
 * process of its own, then
 *   1. offer → answer latency, 1 at a time and 20 concurrent (bench/answer-latency.ts)
 *   2. CPU / RSS / loss at 0, 1, 10, 50 werift viewers of one camera (bench/cpu-load.ts)
 *   3. the same 10 viewers through one ffmpeg per viewer (bench/cpu-load.ts, measureNaive)
 *   4. answer → first frame in Chromium, camera streaming and cold (bench/first-frame.ts)
 *   5. talkback mouth → camera latency (bench/talkback.ts), and the Lambda → bridge round trip
 *      through the relay beside the HTTP proxy path (bench/relay-latency.ts)
 *
 *   6. whole house: 32 cameras, 100 viewers, porchlight ÷ native, footprint (bench/scale.ts)
 *
 *   npm run bench [-- --quick] [-- --scale] [-- --out FILE] [-- --cpu-prof] [-- --bridge-import FILE]
 *
 * --scale: only the whole-house run (6), in full (about 8 minutes; with --quick about 4). The full
 * run ends with its quick version; --quick leaves it out.
 *
 * --quick: fewer offers and 5 s CPU windows instead of 30 s (about 1.5 minutes; full: about 4).
 * --cpu-prof: the bridge runs with `node --cpu-prof`; its profile lands in bench/profiles/ and is
 * summarised at the end, whole and per phase (the profiler costs CPU: figures of such a run are
 * not the headline ones). --bridge-import: preload FILE into both bridges' node (`--import`), to
 * measure an experiment without touching src/; the results
 * record it.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startFakeCamera, type FakeCamera } from '../test/fixtures/fake-camera.ts';
import { measureAnswerLatency } from './answer-latency.ts';
import { metricValue, startBridgeProcess, type BridgeProcess } from './bridge-process.ts';
import { phaseReport } from './cpu-profile.ts';
import { measureLoad, measureNaive } from './cpu-load.ts';
import { measureFirstFrame } from './first-frame.ts';
import { ffmpegVersion, machineInfo } from './proc-stats.ts';
import { table, verdicts, type Figures, type Unmeasurable } from './report.ts';
import { measureRelayRoundTrip } from './relay-latency.ts';
import { measureScale, SCALE_PROFILES, type ScaleResult } from './scale.ts';
import { scaleTable } from './scale-report.ts';
import { measureTalkbackLatency } from './talkback.ts';
import { ViewerFarm } from './viewers.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const BUSY_CAMERA = join(HERE, 'fake-camera-busy.py');
const CAMERA = { width: 1280, height: 720, fps: 25, gop: 4, bitrate: 2000, audio: 'pcmu' as const };
const LINGER_SEC = 1;

const PROFILES = {
  quick: { sequential: 30, rounds: 5, warmRuns: 5, coldRuns: 5, windowSec: 5, settleSec: 2, talkbackRuns: 3, relaySamples: 50, steps: [0, 1, 10, 50] },
  full: { sequential: 100, rounds: 10, warmRuns: 5, coldRuns: 5, windowSec: 30, settleSec: 3, talkbackRuns: 5, relaySamples: 200, steps: [0, 1, 10, 50] },
};

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    out: { type: 'string', default: join(HERE, 'results.json') },
    'cpu-prof': { type: 'boolean', default: false },
    'bridge-import': { type: 'string' },
    scale: { type: 'boolean', default: false },
  },
});
const settings = args.quick ? PROFILES.quick : PROFILES.full;
const started = performance.now();
const log = (line: string) => process.stderr.write(`[${((performance.now() - started) / 1000).toFixed(1).padStart(5)} s] ${line}\n`);
const bridgeNodeArgs = args['bridge-import'] ? ['--import', resolve(args['bridge-import'])] : [];
const profileDir = args['cpu-prof'] ? join(HERE, 'profiles', new Date().toISOString().replace(/[:.]/g, '-')) : undefined;

/** Everything started, closed in reverse order whatever happens (also on Ctrl-C). */
const cleanups: Array<() => Promise<void>> = [];
async function cleanUp(): Promise<void> {
  for (const close of cleanups.splice(0).reverse()) await close().catch((err: unknown) => log(`cleanup: ${(err as Error).message}`));
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`${signal}: stopping everything`);
    void cleanUp().finally(() => process.exit(130));
  });
}

async function waitStreaming(bridge: BridgeProcess, cameraId: string): Promise<void> {
  const deadline = performance.now() + 20_000;
  while (performance.now() < deadline) {
    if (metricValue(await bridge.metrics(), 'porchlight_rtp_packets_total', { camera: cameraId, kind: 'video' }) > 0) return;
    await sleep(200);
  }
  throw new Error(`camera ${cameraId} did not stream within 20 s\n${bridge.logTail().slice(-3000)}`);
}

async function scaleOnly(): Promise<void> {
  log(`porchlight bench, whole house (${args.quick ? 'quick' : 'full'})`);
  const scale = await measureScale(args.quick ? SCALE_PROFILES.quick : SCALE_PROFILES.full, log, cleanups);
  const durationSec = Math.round((performance.now() - started) / 1000);
  const results = { date: new Date().toISOString(), mode: args.quick ? 'quick' : 'full', durationSec, machine: machineInfo(), node: process.version, ffmpeg: ffmpegVersion(), scale };
  const out = resolve(args.out === join(HERE, 'results.json') ? join(HERE, 'results-scale.json') : args.out);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
  const m = results.machine;
  process.stdout.write(`\nporchlight bench, whole house, ${results.mode}, ${results.date}\n`);
  process.stdout.write(`${m.cores} × ${m.cpuModel}, Linux ${m.kernel}, load ${m.loadAverage.join(' ')}; node ${results.node}; ffmpeg ${results.ffmpeg}\n\n`);
  process.stdout.write(`${scaleTable(scale)}\n\nwritten to ${out} in ${durationSec} s\n`);
}

async function main(): Promise<void> {
  log(`porchlight bench (${args.quick ? 'quick' : 'full'})`);
  const camera: FakeCamera = await startFakeCamera({ ...CAMERA, python: BUSY_CAMERA });
  cleanups.push(() => camera.close());
  const bridge = await startBridgeProcess({
    label: 'bridge',
    nodeArgs: bridgeNodeArgs,
    ...(profileDir && { cpuProfDir: profileDir }),
    config: {
      lingerSec: LINGER_SEC,
      healthIntervalSec: 3600, // no RTSP probes inside the CPU windows
      webrtc: { hostAddresses: ['127.0.0.1'], udpPorts: '43000-43999', maxViewersPerCamera: 100 },
      cameras: [
        { id: 'live', name: 'Live', url: camera.url, preload: true },
        { id: 'cold', name: 'Cold', url: camera.url, lingerSec: LINGER_SEC },
      ],
    },
  });
  cleanups.push(() => bridge.close());
  await waitStreaming(bridge, 'live');
  await sleep(2000); // JIT and the first GOP
  log(`bridge pid ${bridge.pid} at ${bridge.url}, camera ${camera.url} streaming`);

  log(`offer → answer: ${settings.sequential} one at a time, ${settings.rounds} rounds of 20 concurrent`);
  const answers = await measureAnswerLatency(bridge, 'live', { sequential: settings.sequential, rounds: settings.rounds, concurrency: 20, log });
  log(`  1 at a time p50 ${answers.sequential.p50} ms p99 ${answers.sequential.p99} ms; 20 concurrent p50 ${answers.concurrent.p50} ms p99 ${answers.concurrent.p99} ms (bridge CPU ${answers.bridgeCpuMsPerOffer} ms per offer)`);

  log(`load: ${settings.steps.join(', ')} viewers, ${settings.windowSec} s windows`);
  const farm = ViewerFarm.start();
  cleanups.push(() => farm.close());
  const load = await measureLoad(bridge, farm, { cameraId: 'live', steps: settings.steps, windowSec: settings.windowSec, settleSec: settings.settleSec, log });
  const closeErrors = await farm.closeAll();
  if (closeErrors.length > 0) log(`  hang-up errors: ${closeErrors[0]}`);
  log('naive pipeline: one ffmpeg per viewer, 10 viewers');
  const naive = await measureNaive(camera.url, farm, { viewers: 10, windowSec: settings.windowSec, settleSec: settings.settleSec + 2, udpPorts: '44000-44199', nodeArgs: bridgeNodeArgs, log });
  await farm.close();

  log(`first frame in Chromium: ${settings.warmRuns} joins of the streaming camera, ${settings.coldRuns} cold starts`);
  const frames = await measureFirstFrame(bridge, { warmCamera: 'live', coldCamera: 'cold', warmRuns: settings.warmRuns, coldRuns: settings.coldRuns, lingerSec: LINGER_SEC, log });
  await cleanUp(); // the bridge (writing its CPU profile) and the camera

  log(`talkback: ${settings.talkbackRuns} run(s)`);
  const talkback = await measureTalkbackLatency(settings.talkbackRuns);
  log(`Lambda → bridge round trip, HTTP proxy and relay (MQTT 5 over TLS), ${settings.relaySamples} ReportState each, interleaved`);
  const relay = await measureRelayRoundTrip({ samples: settings.relaySamples, log });
  let scale: ScaleResult | undefined;
  if (!args.quick) {
    scale = await measureScale(SCALE_PROFILES.quick, log, cleanups);
    await cleanUp();
  }

  const at = (n: number) => load.points.find((p) => p.step === n)!;
  const porchlightAt10 = at(10).bridgeCpuPct + at(10).ffmpegCpuPct;
  const round = (n: number, d = 2) => Math.round(n * 10 ** d) / 10 ** d;
  const perViewer = 'low' in load.perViewer10to50 ? load.perViewer10to50 : load.perViewer1to10;
  const unmeasurable: Unmeasurable = {};
  if ('unmeasurable' in perViewer) unmeasurable.cpuPerViewerPct = perViewer.unmeasurable;
  const figures: Figures = {
    answerP50Ms: answers.sequential.p50,
    answerP99Ms: answers.sequential.p99,
    answerP99MsAt20: answers.concurrent.p99,
    firstFrameMedianMs: frames.warm.medianMs,
    coldFirstFrameMedianMs: frames.cold.medianMs,
    cpuPerViewerPct: perViewer.value,
    cpuAt50ViewersPct: at(50).bridgeCpuPct,
    dropPctAt50: at(50).dropPct,
    rssPerSessionMb: load.rssPerSessionMb,
    naiveCpuRatioAt10: round(naive.totalCpuPct / porchlightAt10, 1),
    talkbackLatencyMs: talkback.median,
    relayAddedP50Ms: relay.addedP50Ms,
    ffmpegLeftAfterLinger: frames.ffmpegLeftOver + naive.ffmpegLeftAfterLinger,
  };
  const durationSec = Math.round((performance.now() - started) / 1000);
  const results = {
    ...figures,
    verdicts: verdicts(figures, unmeasurable),
    unmeasurable,
    cpuPerViewerRange: 'low' in perViewer ? [perViewer.low, perViewer.high] : undefined,
    viewersConnectedAt50: at(50).viewers,
    date: new Date().toISOString(),
    mode: args.quick ? 'quick' : 'full',
    ...(args['bridge-import'] && { bridgeImport: args['bridge-import'] }),
    durationSec,
    machine: machineInfo(),
    node: process.version,
    ffmpeg: ffmpegVersion(),
    camera: { ...CAMERA, pattern: 'smpte, moving', measuredKbps: at(0).cameraKbps },
    details: {
      answers,
      load: { ...load, porchlightCpuAt10WithFfmpegPct: round(porchlightAt10) },
      naive,
      firstFrame: frames,
      talkbackLatencyMs: talkback,
      relay,
      cpuProfiles: profileDir,
      scale,
    },
  };
  const out = resolve(args.out);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);

  const m = results.machine;
  process.stdout.write(`\nporchlight bench, ${results.mode}, ${results.date}\n`);
  if (args['bridge-import']) process.stdout.write(`EXPERIMENT: both bridges ran with --import ${args['bridge-import']}\n`);
  process.stdout.write(`${m.cores} × ${m.cpuModel}, Linux ${m.kernel}, load ${m.loadAverage.join(' ')}; node ${results.node}; ffmpeg ${results.ffmpeg}\n`);
  process.stdout.write(`camera 1280x720 25 fps 4 s GOP, measured ${results.camera.measuredKbps} kbit/s; bridge CPU at 0/1/10/50 viewers: ${load.points.map((p) => p.bridgeCpuPct).join(' / ')} % (+ its ffmpeg ${at(10).ffmpegCpuPct} %)\n\n`);
  process.stdout.write(`${table(figures, unmeasurable)}\n\nwritten to ${out} in ${durationSec} s\n`);
  if (scale) process.stdout.write(`\n${scaleTable(scale)}\n`);
  if (at(50).viewers < 50) process.stdout.write(`WARNING: only ${at(50).viewers} of 50 viewers could connect; the "50 viewers" figures are for them\n`);
  if (profileDir) {
    process.stdout.write(`${phaseReport(profileDir, {
      'offer → answer, 20-offer bursts (first sent → last answered)': answers.burstsUs,
      'steady, 10 viewers': [at(10).windowUs],
      'steady, 50 viewers': [at(50).windowUs],
    })}\n`);
  }
}

try {
  await (args.scale ? scaleOnly() : main());
} catch (err) {
  log(`bench failed: ${(err as Error).stack ?? String(err)}`);
  process.exitCode = 1;
} finally {
  await cleanUp();
}
