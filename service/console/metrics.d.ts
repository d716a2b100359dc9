// Types of metrics.js (plain JavaScript served to the browser as is), for the tests that import it.
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
export type Buckets = Array<[number, number]>;
export function parseMetrics(text: string): Sample[];
export function total(samples: Sample[], name: string, where?: Record<string, string>): number;
export function buckets(samples: Sample[], name: string): Buckets;
export function quantile(q: number, cumulative: Buckets): number | null;
export function bucketDelta(now: Buckets, before: Buckets): Buckets;
export interface Traffic {
  requestsPerSecond: number | null;
  ranks: number;
  p50: number | null;
  p90: number | null;
  p99: number | null;
  fallbackRate: number | null;
  firstShares: Array<{ target: string; share: number; count: number }>;
}
export function traffic(now: Sample[], before: Sample[] | null, seconds: number): Traffic;
