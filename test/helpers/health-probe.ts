/** What a bridge's /healthz and this process's memory did while something hostile ran. */
export interface HealthProbe {
  /** The slowest /healthz answer. */
  maxMs: number;
  /** The 95th percentile of the answers' times. */
  p95Ms: number;
  /** 200 answers. */
  answers: number;
  /** The most RSS grew over the baseline, in MB. */
  maxRssGrowthMb: number;
}

/** GET /healthz every 50 ms for `ms`, and the process's RSS (the bridge runs in it): the worst of each. */
export async function probeHealth(baseUrl: string, ms: number, baselineRss: number): Promise<HealthProbe> {
  const deadline = Date.now() + ms;
  const result: HealthProbe = { maxMs: 0, p95Ms: 0, answers: 0, maxRssGrowthMb: 0 };
  const times: number[] = [];
  while (Date.now() < deadline) {
    const started = performance.now();
    const response = await fetch(`${baseUrl}/healthz`, { signal: AbortSignal.timeout(5_000) });
    await response.arrayBuffer();
    const took = performance.now() - started;
    times.push(took);
    result.maxMs = Math.max(result.maxMs, took);
    result.answers += response.status === 200 ? 1 : 0;
    result.maxRssGrowthMb = Math.max(result.maxRssGrowthMb, (process.memoryUsage().rss - baselineRss) / 1e6);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  times.sort((a, b) => a - b);
  result.p95Ms = times[Math.min(times.length - 1, Math.floor(times.length * 0.95))] ?? 0;
  return result;
}
