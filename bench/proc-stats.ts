/**
 * Process statistics read straight from /proc (what `pidusage` does on Linux, without the
 * dependency), and a description of the machine. Readers are synchronous and side-effect free;
 * a process that has gone reads as undefined.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';

export interface ProcStat {
  pid: number;
  ppid: number;
  comm: string;
  state: string;
  /** utime + stime, in clock ticks. */
  cpuTicks: number;
}

let clockTicks: number | undefined;

/** USER_HZ, the unit of /proc/<pid>/stat's times (100 on every Linux seen). */
export function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** Parses a /proc/<pid>/stat line; comm may hold spaces and parentheses, so split at the last ')'. */
export function parseStat(pid: number, text: string): ProcStat | undefined {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  // Fields after comm, 0-based here: 0 state, 1 ppid, … 11 utime, 12 stime (man 5 proc: 3, 4, 14, 15).
  const rest = text.slice(close + 2).split(' ');
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return undefined;
  return { pid, ppid: Number(rest[1]), comm: text.slice(open + 1, close), state: rest[0] ?? '?', cpuTicks: utime + stime };
}

export function readStat(pid: number): ProcStat | undefined {
  try {
    return parseStat(pid, readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** Resident set size in bytes (VmRSS), undefined when the process is gone. */
export function readRssBytes(pid: number): number | undefined {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Live (not zombie) direct children of pid, optionally only those whose comm is `comm`. */
export function childPids(pid: number, comm?: string): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    const child = Number(name);
    if (!Number.isInteger(child)) continue;
    const stat = readStat(child);
    if (stat && stat.ppid === pid && stat.state !== 'Z' && (comm === undefined || stat.comm === comm)) found.push(child);
  }
  return found;
}

/**
 * Datagrams the kernel dropped on arrival at this process's UDP sockets (receive buffer full),
 * summed from /proc/net/udp's `drops` column over the socket inodes among its open files.
 * Tells loss at the viewers' sockets apart from loss at the bridge's.
 */
export function udpDrops(pid: number): number {
  const inodes = new Set<string>();
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (match) inodes.add(match[1]!);
      } catch {
        // closed meanwhile
      }
    }
  } catch {
    return 0;
  }
  let drops = 0;
  for (const table of ['/proc/net/udp', '/proc/net/udp6']) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
      if (fields.length >= 13 && inodes.has(fields[9]!)) drops += Number(fields[12]) || 0;
    }
  }
  return drops;
}

export interface CpuSample {
  atMs: number;
  ticks: Map<number, number>;
}

export function sampleCpu(pids: number[]): CpuSample {
  const ticks = new Map<number, number>();
  for (const pid of pids) {
    const stat = readStat(pid);
    if (stat) ticks.set(pid, stat.cpuTicks);
  }
  return { atMs: performance.now(), ticks };
}

/**
 * CPU between two samples as a percentage of one core: Δ(utime+stime) / Δwall, summed over the
 * processes present in both (a process that started or ended inside the window is left out, and
 * counted in `missing`).
 */
export function cpuPercent(before: CpuSample, after: CpuSample): { pct: number; missing: number } {
  let ticks = 0;
  let missing = 0;
  for (const [pid, start] of before.ticks) {
    const end = after.ticks.get(pid);
    if (end === undefined) missing += 1;
    else ticks += end - start;
  }
  for (const pid of after.ticks.keys()) if (!before.ticks.has(pid)) missing += 1;
  const seconds = (after.atMs - before.atMs) / 1000;
  return { pct: seconds > 0 ? (100 * ticks) / ticksPerSecond() / seconds : 0, missing };
}

export interface MachineInfo {
  cores: number;
  cpuModel: string;
  loadAverage: number[];
  kernel: string;
}

export function machineInfo(): MachineInfo {
  let cpuModel = cpus()[0]?.model ?? 'unknown';
  let kernel = 'unknown';
  try {
    cpuModel = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? cpuModel;
    kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  } catch {
    // not Linux: keep what os.cpus() says
  }
  return { cores: cpus().length, cpuModel, loadAverage: loadavg().map((l) => Math.round(l * 100) / 100), kernel };
}

/** "5.1.9-0+deb12u1" from `ffmpeg -version`, or undefined without ffmpeg. */
export function ffmpegVersion(ffmpeg = 'ffmpeg'): string | undefined {
  try {
    return /^ffmpeg version (\S+)/.exec(execFileSync(ffmpeg, ['-hide_banner', '-version'], { encoding: 'utf8', timeout: 10_000 }))?.[1];
  } catch {
    return undefined;
  }
}

/** Now on the monotonic clock V8's CPU profiles stamp their samples with, in µs. */
export function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}
