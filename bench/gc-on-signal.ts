/**
 * Preloaded into a bridge the benchmark starts (`node --expose-gc --import bench/gc-on-signal.ts`):
 * SIGUSR2 runs a full garbage collection, so a footprint read after it is what is really held,
 * not garbage V8 has not collected yet. Benchmark-only; the bridge itself never calls gc().
 */
const gc = (globalThis as { gc?: () => void }).gc;
if (gc) process.on('SIGUSR2', () => gc());
