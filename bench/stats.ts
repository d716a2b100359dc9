/** The `p`th percentile of `xs` (nearest rank, on a sorted copy); NaN when there are none. */
export function percentile(xs: readonly number[], p: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

/** Latencies in ms as the benchmarks print them: `p50 … ms  p99 … ms  (n=…)`. */
export function latencySummary(ms: readonly number[]): string {
  return `p50 ${percentile(ms, 50).toFixed(2)} ms  p99 ${percentile(ms, 99).toFixed(2)} ms  (n=${ms.length})`;
}
