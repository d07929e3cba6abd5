/**
 * The bridge in a process of its own (`scripts/node.sh src/main.ts --config F`), so its CPU and
 * RSS can be read from /proc/<pid>: signed POST /alexa, GET /metrics and /api/status against it,
 * and a close that always leaves nothing running (SIGTERM, then SIGKILL of it and its ffmpegs).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { signatureHeaders } from '../src/signing/signature.ts';
import { watchOutput } from './child-output.ts';
import { childPids } from './proc-stats.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const BENCH_PROXY_SECRET = 'bench-proxy-secret-0123456789abcdef';
export const BENCH_ADMIN_TOKEN = 'bench-admin-token-0123456789abcdef';
const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 12_000;
const LOG_TAIL = 64 * 1024;

export interface BridgeProcessOptions {
  /** The config file's content less `server` and `dataDir`, which are filled in. */
  config: Record<string, unknown>;
  /** Write a V8 CPU profile of the bridge into this directory when it stops. */
  cpuProfDir?: string;
  /** More options for the bridge's node (e.g. --import of an experiment). */
  nodeArgs?: string[];
  label?: string;
}

export interface BridgeProcess {
  readonly pid: number;
  readonly url: string;
  readonly label: string;
  postAlexa(body: unknown): Promise<any>;
  metrics(): Promise<string>;
  status(): Promise<any>;
  /** The camera ffmpeg processes it runs now. */
  ffmpegPids(): number[];
  logTail(): string;
  /** Idempotent; resolves once the bridge and its ffmpeg processes are gone. */
  close(): Promise<void>;
}

function fetchWithTimeout(url: string, init: RequestInit = {}, timeoutMs = 15_000): Promise<Response> {
  return fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
}

export async function startBridgeProcess(options: BridgeProcessOptions): Promise<BridgeProcess> {
  const label = options.label ?? 'bridge';
  const dir = mkdtempSync(join(tmpdir(), 'porchlight-bench-'));
  const configPath = join(dir, 'porchlight.yaml');
  writeFileSync(configPath, stringify({
    ...options.config,
    dataDir: join(dir, 'data'),
    server: { host: '127.0.0.1', port: 0, proxySecret: BENCH_PROXY_SECRET, adminToken: BENCH_ADMIN_TOKEN },
  }));
  const nodeArgs: string[] = [...(options.nodeArgs ?? [])];
  if (options.cpuProfDir) {
    const profDir = join(options.cpuProfDir, label);
    mkdirSync(profDir, { recursive: true });
    nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${profDir}`);
  }
  // scripts/node.sh execs node, so the child's pid is the bridge's own.
  const child: ChildProcess = spawn(join(ROOT, 'scripts/node.sh'), [...nodeArgs, join(ROOT, 'src/main.ts'), '--config', configPath], {
    cwd: ROOT,
    env: { ...process.env, PORCHLIGHT_NODE: process.execPath, PORCHLIGHT_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = watchOutput(child, LOG_TAIL);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const address = output.ready(/"address":"(http:\/\/[^"]+)".*"msg":"porchlight listening"/, START_TIMEOUT_MS, label);

  let closing: Promise<void> | undefined;
  const pid = child.pid ?? -1;
  const close = () => (closing ??= (async () => {
    const ffmpegs = childPids(pid, 'ffmpeg');
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    }
    for (const ffmpeg of ffmpegs) {
      try {
        process.kill(ffmpeg, 'SIGKILL'); // normally gone already: the bridge stops them on SIGTERM
      } catch {
        // gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
  })());

  let url: string;
  try {
    url = await address;
  } catch (err) {
    await close();
    throw err;
  }
  return {
    pid,
    url,
    label,
    async postAlexa(body) {
      const raw = JSON.stringify(body);
      const response = await fetchWithTimeout(`${url}/alexa`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...signatureHeaders(BENCH_PROXY_SECRET, raw) },
        body: raw,
      });
      const text = await response.text();
      if (response.status !== 200) throw new Error(`POST /alexa: HTTP ${response.status} ${text.slice(0, 200)}`);
      return JSON.parse(text);
    },
    async metrics() {
      return (await fetchWithTimeout(`${url}/metrics`)).text();
    },
    async status() {
      return (await fetchWithTimeout(`${url}/api/status`, { headers: { authorization: `Bearer ${BENCH_ADMIN_TOKEN}` } })).json();
    },
    ffmpegPids: () => childPids(pid, 'ffmpeg'),
    logTail: () => output.tail(),
    close,
  };
}

/** Sum of a Prometheus counter's samples whose labels include every given label. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    total += Number(line.slice(line.lastIndexOf(' ') + 1)) || 0;
  }
  return total;
}
