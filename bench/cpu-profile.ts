/**
 * Summarises a V8 .cpuprofile (what `node --cpu-prof` writes; `npm run bench -- --cpu-prof`
 * records the bridge's): self time by function and by where the code lives (a package under
 * node_modules, a file of src/, a module of Node's own, GC), as shares of the busy (non-idle) time.
 *
 *   scripts/node.sh bench/cpu-profile.ts FILE.cpuprofile [--top 20]
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface Profile {
  /** µs on the monotonic clock process.hrtime() reads (CLOCK_MONOTONIC on Linux). */
  startTime: number;
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface CostLine {
  name: string;
  ms: number;
  pct: number;
}

export interface ProfileSummary {
  busyMs: number;
  idleMs: number;
  functions: CostLine[];
  places: CostLine[];
}

/** Where a function's code lives: an npm package, a project file, Node itself, or a V8 pseudo-node. */
export function place(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (pkg) return pkg[1]!;
  if (url.startsWith('node:')) return url.replace(/^node:internal\//, 'node:');
  const project = /\/((?:src|bench|test)\/.*)$/.exec(url);
  return project ? project[1]! : url;
}

/** Self time per function; with `ranges` (monotonic µs, see monotonicUs()) only samples inside them. */
export function summarize(profile: Profile, top = 15, ranges?: Array<[number, number]>): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfMs = new Map<number, number>();
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i += 1) {
    const delta = profile.timeDeltas[i] ?? 0;
    at += delta;
    if (ranges && !ranges.some(([start, end]) => at >= start && at <= end)) continue;
    const id = profile.samples[i]!;
    selfMs.set(id, (selfMs.get(id) ?? 0) + delta / 1000);
  }
  let idleMs = 0;
  const functions = new Map<string, number>();
  const places = new Map<string, number>();
  for (const [id, ms] of selfMs) {
    const frame = byId.get(id)?.callFrame;
    if (!frame) continue;
    if (frame.functionName === '(idle)') {
      idleMs += ms;
      continue;
    }
    const where = place(frame.url, frame.functionName);
    const name = `${frame.functionName || '(anonymous)'} ${where}${frame.url ? `:${frame.lineNumber + 1}` : ''}`;
    functions.set(name, (functions.get(name) ?? 0) + ms);
    places.set(where, (places.get(where) ?? 0) + ms);
  }
  const busyMs = [...places.values()].reduce((a, b) => a + b, 0);
  const lines = (map: Map<string, number>) =>
    [...map].sort((a, b) => b[1] - a[1]).slice(0, top).map(([name, ms]) => ({ name, ms: Math.round(ms), pct: Math.round((1000 * ms) / busyMs) / 10 }));
  return { busyMs: Math.round(busyMs), idleMs: Math.round(idleMs), functions: lines(functions), places: lines(places) };
}

export function formatSummary(summary: ProfileSummary): string {
  const out = [`busy ${summary.busyMs} ms, idle ${summary.idleMs} ms`, 'self time by place:'];
  for (const line of summary.places) out.push(`  ${String(line.pct).padStart(5)} %  ${line.name}`);
  out.push('self time by function:');
  for (const line of summary.functions) out.push(`  ${String(line.pct).padStart(5)} %  ${line.name}`);
  return out.join('\n');
}

export function summarizeFile(path: string, top = 15, ranges?: Array<[number, number]>): ProfileSummary {
  return summarize(JSON.parse(readFileSync(path, 'utf8')) as Profile, top, ranges);
}

/** Every profile under dir/<label>/, summarised whole and over each named phase. */
export function phaseReport(dir: string, phases: Record<string, Array<[number, number]> | undefined>, top = 12): string {
  const out: string[] = [];
  for (const label of readdirSync(dir)) {
    for (const file of readdirSync(join(dir, label))) {
      const path = join(dir, label, file);
      out.push(`\nCPU profile of the ${label} process, whole run (${path}):\n${formatSummary(summarizeFile(path, top))}`);
      if (label !== 'bridge') continue;
      for (const [name, range] of Object.entries(phases)) {
        if (range?.length) out.push(`\n${label}, ${name}:\n${formatSummary(summarizeFile(path, top, range))}`);
      }
    }
  }
  return out.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '15' } } });
  for (const file of positionals) process.stdout.write(`${file}\n${formatSummary(summarizeFile(file, Number(values.top) || 15))}\n`);
}
