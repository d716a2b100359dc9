// Reading the service's own Prometheus text (GET /metrics) into what the Traffic page shows.

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Samples of the text exposition format: `{ name, labels, value }`, comments skipped. */
export function parseMetrics(text) {
  const samples = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = SAMPLE.exec(line);
    if (!m) continue;
    const labels = {};
    for (const [, k, v] of (m[2] ?? "").matchAll(LABEL)) labels[k] = v.replace(/\\(.)/g, "$1");
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return samples;
}

/** Sum of the samples called `name` whose labels match `where`. */
export function total(samples, name, where = {}) {
  let sum = 0;
  for (const s of samples) {
    if (s.name !== name) continue;
    if (Object.entries(where).every(([k, v]) => s.labels[k] === v)) sum += s.value;
  }
  return sum;
}

/** The cumulative buckets of histogram `name` as sorted `[upperBound, count]`. */
export function buckets(samples, name) {
  return samples
    .filter((s) => s.name === `${name}_bucket`)
    .map((s) => [s.labels.le === "+Inf" ? Number.POSITIVE_INFINITY : Number(s.labels.le), s.value])
    .sort((a, b) => a[0] - b[0]);
}

/**
 * The q-quantile from cumulative buckets, interpolated linearly inside its bucket (as Prometheus's
 * histogram_quantile does); null without observations. In the open last bucket: its lower bound.
 */
export function quantile(q, cumulative) {
  const count = cumulative.at(-1)?.[1] ?? 0;
  if (count === 0) return null;
  const rank = q * count;
  let lower = 0;
  let below = 0;
  for (const [upper, n] of cumulative) {
    if (n >= rank) {
      if (!Number.isFinite(upper)) return lower;
      return lower + ((upper - lower) * (rank - below)) / Math.max(n - below, 1e-12);
    }
    lower = upper;
    below = n;
  }
  return lower;
}

/** Bucket counts of `now` minus `before` (the observations between two scrapes). */
export function bucketDelta(now, before) {
  const old = new Map(before.map(([le, n]) => [le, n]));
  return now.map(([le, n]) => [le, n - (old.get(le) ?? 0)]);
}

/**
 * The traffic between two scrapes `seconds` apart (or since start when `before` is null): requests
 * a second (/metrics polls left out), /rank latency percentiles in ms, the fallback rate, each target's share of first places.
 */
export function traffic(now, before, seconds) {
  const prev = before ?? [];
  const delta = (name, where) => total(now, name, where) - (before ? total(prev, name, where) : 0);
  // The console's own polling of /metrics is not traffic.
  const requests =
    delta("router_http_requests_total") - delta("router_http_requests_total", { route: "/metrics" });
  const ranks = delta("router_rank_duration_seconds_count");
  const latency = before
    ? bucketDelta(buckets(now, "router_rank_duration_seconds"), buckets(prev, "router_rank_duration_seconds"))
    : buckets(now, "router_rank_duration_seconds");
  const ms = (q) => {
    const v = quantile(q, latency);
    return v === null ? null : v * 1000;
  };
  const targets = new Set(
    now.filter((s) => s.name === "router_rank_first_total").map((s) => s.labels.target),
  );
  const firsts = [...targets].map((target) => [target, delta("router_rank_first_total", { target })]);
  const firstTotal = firsts.reduce((a, [, n]) => a + n, 0);
  return {
    requestsPerSecond: seconds > 0 ? requests / seconds : null,
    ranks,
    p50: ms(0.5),
    p90: ms(0.9),
    p99: ms(0.99),
    fallbackRate: ranks > 0 ? delta("router_rank_fallbacks_total") / ranks : null,
    firstShares: firsts
      .map(([target, n]) => ({ target, share: firstTotal > 0 ? n / firstTotal : 0, count: n }))
      .sort((a, b) => b.count - a.count || a.target.localeCompare(b.target)),
  };
}
