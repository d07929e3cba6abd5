/** The whole-house scale table `npm run bench -- --scale` prints. Pure. */
import { formatCost } from './noise.ts';
import type { ScaleResult } from './scale.ts';

function grid(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** Bridge and its ffmpeg together under 2 cores, and nothing lost. */
export function fitsTwoCores(point: ScaleResult['points'][number]): boolean {
  return point.bridgeCpuPct + point.ffmpegCpuPct < 200 && point.dropPct === 0;
}

export function scaleTable(result: ScaleResult): string {
  const { clip, settings, native, footprint, answersUnderLoad: answers } = result;
  const rows = result.points.map((p) => {
    const samples = p.bridgeCpuSamples;
    const noise = samples.length > 0 ? `${Math.min(...samples)}–${Math.max(...samples)}` : 'n/a';
    return [
      p.label,
      `${p.bridgeCpuPct} % (${noise})`,
      `${p.ffmpegCpuPct} % (${p.ffmpegProcesses})`,
      `${p.rssMb} MB`,
      `${p.dropPct} %`,
      `${p.cameraCpuPct} %`,
      `${p.viewerCpuPct} %`,
      fitsTwoCores(p) ? 'yes' : 'NO',
    ];
  });
  const lines = [
    `whole house: ${settings.cameras} preloaded cameras, each a ${clip.width}x${clip.height} ${clip.fps} fps ${clip.kbps} kbit/s H.264 clip (${clip.gop} s GOP) looped by one GStreamer process`,
    grid(['load', 'bridge CPU (1 s min–max)', 'ffmpeg CPU (n)', 'bridge RSS', 'RTP lost', 'camera side', 'viewer farms', 'fits 2 cores'], rows),
    `per camera, nobody watching: bridge ${result.perCameraPct.bridge} % + its ffmpeg ${result.perCameraPct.ffmpeg} % of a core`,
    `per viewer across the house (0 → ${result.points[1]?.viewers ?? '?'} viewers): ${formatCost(result.perViewerWholeHouse, ' %')} of a core`,
    `answers during the ${result.points[1]?.viewers ?? '?'}-viewer load: 1 at a time p50 ${answers.sequential.p50} ms p99 ${answers.sequential.p99} ms; `
      + `20 concurrent p50 ${answers.concurrent.p50} ms p99 ${answers.concurrent.p99} ms (target ≤ 100 ms)`,
    '',
    `porchlight ÷ native (node-datachannel / libdatachannel), CPU per viewer on one camera, ${native.rounds} A/B round(s):`,
    `  at 10 viewers: ${formatCost(native.ratioAt10, '×')}  (porchlight ${formatCost(native.porchlight.at10, ' %')}, native ${formatCost(native.native.at10, ' %')})`,
    `  at 50 viewers: ${formatCost(native.ratioAt50, '×')}  (porchlight ${formatCost(native.porchlight.at50, ' %')}, native ${formatCost(native.native.at50, ' %')})`,
    `  round by round at 50: ${native.roundRatiosAt50.map((r) => (Number.isFinite(r) ? `${r}×` : 'unmeasurable')).join(', ')}  (goal ≤ 1.5×)`,
    '',
    `footprint of a one-camera bridge: idle RSS ${footprint.idle.rssMb} MB (heap ${footprint.idle.heapUsedMb} MB); `
      + `after ${footprint.sessions} sessions came and went RSS ${footprint.afterChurn.rssMb} MB (heap ${footprint.afterChurn.heapUsedMb} MB)`
      + (footprint.failed > 0 ? `; ${footprint.failed} sessions failed to connect` : ''),
  ];
  return lines.join('\n');
}
