/**
 * How far a CPU figure can be trusted on a shared, noisy machine. A window's CPU is sampled every
 * second; the spread of those samples is its noise. A cost computed as the difference of two
 * windows is only reported when the difference clears both windows' noise: below that it is
 * "unmeasurable", with the reason, and never a negative cost. Pure.
 */

export interface Spread {
  mean: number;
  min: number;
  max: number;
  /** Standard error of the mean. */
  stderr: number;
  samples: number;
}

const round = (n: number, digits = 3) => Math.round(n * 10 ** digits) / 10 ** digits;

export function spread(samples: number[]): Spread {
  const n = samples.length;
  if (n === 0) return { mean: Number.NaN, min: Number.NaN, max: Number.NaN, stderr: Number.NaN, samples: 0 };
  const mean = samples.reduce((a, b) => a + b, 0) / n;
  const variance = n > 1 ? samples.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1) : 0;
  return { mean: round(mean), min: round(Math.min(...samples)), max: round(Math.max(...samples)), stderr: round(Math.sqrt(variance / n)), samples: n };
}

export interface CpuWindow {
  viewers: number;
  /** Per-second CPU samples of the process, % of one core. */
  samples: number[];
}

export type Cost =
  | { value: number; low: number; high: number }
  | { value: typeof Number.NaN; unmeasurable: string };

/**
 * CPU per extra viewer between two windows: (mean_b − mean_a) / (viewers_b − viewers_a), with the
 * range that two standard errors of each mean allow. Unmeasurable when the difference does not
 * clear that noise (or there are no extra viewers).
 */
export function costPerViewer(a: CpuWindow, b: CpuWindow): Cost {
  const extra = b.viewers - a.viewers;
  if (extra <= 0) return { value: Number.NaN, unmeasurable: `no extra viewers (${a.viewers} → ${b.viewers})` };
  const sa = spread(a.samples);
  const sb = spread(b.samples);
  if (sa.samples === 0 || sb.samples === 0) return { value: Number.NaN, unmeasurable: 'a window has no CPU samples' };
  const delta = sb.mean - sa.mean;
  const noise = 2 * (sa.stderr + sb.stderr);
  if (delta <= noise) {
    return {
      value: Number.NaN,
      unmeasurable: `${a.viewers} → ${b.viewers} viewers changed CPU by ${round(delta, 2)} % of a core, within the windows' noise (±${round(noise, 2)} %)`,
    };
  }
  return { value: round(delta / extra), low: round(Math.max(0, delta - noise) / extra), high: round((delta + noise) / extra) };
}

/** a ÷ b of two costs, with the range their ranges allow; unmeasurable when either is. */
export function costRatio(a: Cost, b: Cost): Cost {
  if (!('low' in a)) return { value: Number.NaN, unmeasurable: `numerator: ${a.unmeasurable}` };
  if (!('low' in b)) return { value: Number.NaN, unmeasurable: `denominator: ${b.unmeasurable}` };
  return { value: round(a.value / b.value, 2), low: round(a.low / b.high, 2), high: b.low > 0 ? round(a.high / b.low, 2) : Number.POSITIVE_INFINITY };
}

export function formatCost(cost: Cost, unit = ''): string {
  if (!('low' in cost)) return `unmeasurable (${cost.unmeasurable})`;
  const high = Number.isFinite(cost.high) ? String(cost.high) : '∞';
  return `${cost.value}${unit} (${cost.low}–${high})`;
}
