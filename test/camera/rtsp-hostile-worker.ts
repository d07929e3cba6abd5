/**
 * Runs porchlight's three RTSP readers (health probe, RtspClient, ONVIF backchannel) against the
 * hostile server, in a worker thread: if a reader spins, the test's own thread still runs and
 * terminates this worker instead of hanging. A heartbeat timer here measures the event loop.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { pino } from 'pino';
import { Backchannel } from '../../src/camera/rtsp-backchannel.ts';
import { RtspClient } from '../../src/camera/rtsp-client.ts';
import { probeRtsp } from '../../src/camera/rtsp-probe.ts';

interface Job {
  port: number;
  cases: number;
  timeoutMs: number;
  batch: number;
}

export interface ParserResult {
  caseIndex: number;
  parser: 'probe' | 'client' | 'backchannel';
  ms: number;
  outcome: string;
}

const { port, cases, timeoutMs, batch } = workerData as Job;
const log = pino({ level: 'silent' });
let lastBeat = performance.now();
let maxGapMs = 0;
const heartbeat = setInterval(() => {
  const now = performance.now();
  maxGapMs = Math.max(maxGapMs, now - lastBeat);
  lastBeat = now;
}, 10);

async function timed(caseIndex: number, parser: ParserResult['parser'], run: () => Promise<string>): Promise<ParserResult> {
  const started = performance.now();
  let outcome: string;
  try {
    outcome = await run();
  } catch (err) {
    outcome = `error: ${(err as Error).message.slice(0, 120)}`;
  }
  return { caseIndex, parser, ms: Math.round(performance.now() - started), outcome };
}

function runCase(caseIndex: number): Promise<ParserResult>[] {
  const url = `rtsp://127.0.0.1:${port}/case/${caseIndex}`;
  return [
    timed(caseIndex, 'probe', async () => JSON.stringify(await probeRtsp(url, { timeoutMs }))),
    timed(caseIndex, 'client', async () => {
      const client = await RtspClient.connect(new URL(url), undefined, timeoutMs);
      try {
        return `status ${(await client.request('OPTIONS', url, {}, timeoutMs)).status}`;
      } finally {
        client.destroy();
      }
    }),
    timed(caseIndex, 'backchannel', async () => {
      const backchannel = await Backchannel.open({ url, log, timeoutMs });
      await backchannel.close();
      return 'opened';
    }),
  ];
}

const results: ParserResult[] = [];
for (let first = 0; first < cases; first += batch) {
  const running: Promise<ParserResult>[] = [];
  for (let i = first; i < Math.min(cases, first + batch); i++) running.push(...runCase(i));
  results.push(...(await Promise.all(running)));
}
clearInterval(heartbeat);
parentPort!.postMessage({ results, maxGapMs: Math.round(maxGapMs) });
