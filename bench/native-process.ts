/**
 * The benchmark's side of bench/native-forwarder.ts: starts it as a process of its own and gives
 * it the shape bench/cpu-load.ts measures (pid, url, metrics, its ffmpeg children, close).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BridgeProcess } from './bridge-process.ts';
import { watchOutput } from './child-output.ts';
import { childPids } from './proc-stats.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const START_TIMEOUT_MS = 20_000;

export async function startNativeForwarder(options: { cameras: Array<{ id: string; url: string }>; udpPorts: string }): Promise<BridgeProcess> {
  const child = spawn(join(ROOT, 'scripts/node.sh'), [join(ROOT, 'bench/native-forwarder.ts'), JSON.stringify(options)], {
    cwd: ROOT,
    env: { ...process.env, PORCHLIGHT_NODE: process.execPath },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const pid = child.pid ?? -1;
  const output = watchOutput(child, 16_384);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let closing: Promise<void> | undefined;
  const close = () => (closing ??= (async () => {
    const ffmpegs = childPids(pid, 'ffmpeg');
    if (child.exitCode === null && child.signalCode === null) {
      child.stdin!.end();
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    for (const ffmpeg of ffmpegs) {
      try {
        process.kill(ffmpeg, 'SIGKILL');
      } catch {
        // gone with the forwarder
      }
    }
  })());
  const url = await output.ready(/READY (http:\/\/\S+)/, START_TIMEOUT_MS, 'native forwarder').catch(async (err: unknown) => {
    await close();
    throw err;
  });
  const get = async (path: string) => (await fetch(`${url}${path}`, { signal: AbortSignal.timeout(15_000) })).text();
  return {
    pid,
    url,
    label: 'native',
    async postAlexa(body) {
      const response = await fetch(`${url}/alexa`, { method: 'POST', body: JSON.stringify(body), signal: AbortSignal.timeout(15_000) });
      return response.json();
    },
    metrics: () => get('/metrics'),
    async status() {
      return {};
    },
    ffmpegPids: () => childPids(pid, 'ffmpeg'),
    logTail: () => output.tail(),
    close,
  };
}
