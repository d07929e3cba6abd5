import { readdirSync, readFileSync } from 'node:fs';
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';

/**
 * What this test process holds, read from /proc: the bridge runs in-process, so its child
 * processes, file descriptors and memory are this process's.
 */

/** Live (not zombie) child processes of this process whose command name is `comm`, e.g. 'ffmpeg'. */
export function childProcesses(comm: string): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (name === comm && state !== 'Z' && Number(ppid) === process.pid) found.push(pid);
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

/** How many file descriptors this process has open (sockets, pipes, files). */
export function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

/**
 * Resident memory, JS heap and memory held outside it (Buffers, ArrayBuffers) in MiB, after a
 * full garbage collection, so growth means retained objects.
 */
export function settledMemoryMb(): { rss: number; heap: number; external: number } {
  collectGarbage();
  collectGarbage();
  const { rss, heapUsed, external } = process.memoryUsage();
  const mb = (bytes: number) => Number((bytes / 2 ** 20).toFixed(1));
  return { rss: mb(rss), heap: mb(heapUsed), external: mb(external) };
}

let gc: (() => void) | undefined;
function collectGarbage(): void {
  if (!gc) {
    // node --test gives no way to pass --expose-gc to one file; the flag can still be set at run time.
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  }
  gc();
}
