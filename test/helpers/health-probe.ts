/** What a bridge's /healthz and this process's memory did while something hostile ran. */
export interface HealthProbe {
  /** The slowest /healthz answer. */
  maxMs: number;
  /** 200 answers. */
  answers: number;
  /** The most RSS grew over the baseline, in MB. */
  maxRssGrowthMb: number;
}

/** GET /healthz every 50 ms for `ms`, and the process's RSS (the bridge runs in it): the worst of each. */
export async function probeHealth(baseUrl: string, ms: number, baselineRss: number): Promise<HealthProbe> {
  const deadline = Date.now() + ms;
  const result: HealthProbe = { maxMs: 0, answers: 0, maxRssGrowthMb: 0 };
  while (Date.now() < deadline) {
    const started = performance.now();
    const response = await fetch(`${baseUrl}/healthz`, { signal: AbortSignal.timeout(5_000) });
    await response.arrayBuffer();
    result.maxMs = Math.max(result.maxMs, performance.now() - started);
    result.answers += response.status === 200 ? 1 : 0;
    result.maxRssGrowthMb = Math.max(result.maxRssGrowthMb, (process.memoryUsage().rss - baselineRss) / 1e6);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return result;
}
