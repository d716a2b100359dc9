import { QuantizedScanIndex } from "../vectors/embedded.ts";
import {
  clamp01,
  DEFAULT_SETTINGS,
  fallbackReason,
  type RankingSettings,
  type Residual,
  rankByPriors,
  rankTargets,
  type ScoredNeighbour,
  scoredNeighbour,
  type TargetStats,
} from "./aggregate.ts";
import { QueryPriors } from "./priors.ts";

/** A labelled example as cross-validation sees it: its category, per-target scores and their weights. */
export interface LabelledItem {
  category: string | null;
  scores: Readonly<Record<string, number>>;
  /** What each score counts for where it is not 1 (an outcome's example), as /rank weighs it. */
  weights?: Readonly<Record<string, number>>;
  /** What each score is read against, where it has a baseline (labels' and outcomes' alike). */
  baselines?: Readonly<Record<string, number>>;
  /** An outcome's example: out of the label means, its scores read against their baselines. */
  outcome?: boolean;
}

/** An item as a neighbour: an outcome's carries its baselines, so it is read against them. */
function asNeighbour(item: LabelledItem) {
  return {
    category: item.category,
    scores: item.scores,
    ...(item.weights && { weights: item.weights }),
    ...(item.outcome && item.baselines && { baselines: item.baselines }),
  };
}

/** Deterministic pseudo-random numbers (mulberry32), so every run splits the same way. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fold number of each item: a seeded shuffle dealt round-robin into `k` folds. */
export function assignFolds(n: number, k: number, seed: number): number[] {
  const next = rng(seed);
  const order = [...Array(n).keys()];
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [order[i], order[j]] = [order[j] as number, order[i] as number];
  }
  const fold = new Array<number>(n);
  order.forEach((item, pos) => {
    fold[item] = pos % k;
  });
  return fold;
}

/**
 * The statistics of `items` as the store keeps them: each target's mean over the labels (each score
 * counting its weight), overall and per category, with the weight behind each; and every score's
 * residual against its baseline, labels' and outcomes' alike ('' for items without a category).
 */
export function targetStats(items: readonly LabelledItem[]): TargetStats {
  const add = (acc: Map<string, [number, number]>, t: string, s: number, w: number) => {
    const a = acc.get(t) ?? [0, 0];
    acc.set(t, [a[0] + w * s, a[1] + w]);
  };
  const addResidual = (acc: Record<string, Residual>, t: string, r: number, w: number) => {
    const a = acc[t] ?? { sum: 0, weight: 0, n: 0, sq: 0 };
    acc[t] = { sum: a.sum + w * r, weight: a.weight + w, n: a.n + 1, sq: a.sq + w * r * r };
  };
  const overall = new Map<string, [number, number]>();
  const byCategory = new Map<string, Map<string, [number, number]>>();
  const residuals: Record<string, Residual> = {};
  const residualsByCategory = new Map<string, Record<string, Residual>>();
  for (const item of items) {
    for (const [t, s] of Object.entries(item.scores)) {
      const w = item.weights?.[t] ?? 1;
      const b = item.baselines?.[t];
      if (b !== undefined) {
        addResidual(residuals, t, s - b, w);
        const c = residualsByCategory.get(item.category ?? "") ?? {};
        addResidual(c, t, s - b, w);
        residualsByCategory.set(item.category ?? "", c);
      }
      if (item.outcome) continue;
      add(overall, t, s, w);
      if (item.category !== null) {
        const m = byCategory.get(item.category) ?? new Map();
        add(m, t, s, w);
        byCategory.set(item.category, m);
      }
    }
  }
  const means = (m: Map<string, [number, number]>) =>
    Object.fromEntries([...m].map(([t, [s, n]]) => [t, s / n]));
  const weights = (m: Map<string, [number, number]>) =>
    Object.fromEntries([...m].map(([t, [, n]]) => [t, n]));
  return {
    overall: means(overall),
    byCategory: new Map([...byCategory].map(([c, m]) => [c, means(m)])),
    counts: {
      overall: weights(overall),
      byCategory: new Map([...byCategory].map(([c, m]) => [c, weights(m)])),
    },
    residuals: { overall: residuals, byCategory: residualsByCategory },
  };
}

/** The neighbours of every item among the other folds' items, found once and reused across settings. */
export interface FoldedNeighbours {
  fold: number[];
  /** neighbours[i]: up to `maxK` training items closest to item i, closest first. */
  neighbours: ScoredNeighbour[][];
  /** stats[f]: target means over the training items of fold f. */
  stats: TargetStats[];
}

/** Builds one exact index per fold (the service's own index) and searches every held-out item. */
export async function foldNeighbours(
  items: readonly LabelledItem[],
  vectors: readonly Float32Array[],
  options: { folds: number; seed: number; maxK: number },
  onProgress?: (done: number, total: number) => void,
): Promise<FoldedNeighbours> {
  const fold = assignFolds(items.length, options.folds, options.seed);
  const neighbours: ScoredNeighbour[][] = new Array(items.length);
  const stats: TargetStats[] = [];
  let done = 0;
  for (let f = 0; f < options.folds; f++) {
    const train = items.map((_, i) => i).filter((i) => fold[i] !== f);
    stats.push(targetStats(train.map((i) => items[i] as LabelledItem)));
    const dim = (vectors[0] as Float32Array).length;
    const index = new QuantizedScanIndex(dim);
    await index.upsert(train.map((i) => ({ id: String(i), vector: vectors[i] as Float32Array })));
    for (let i = 0; i < items.length; i++) {
      if (fold[i] !== f) continue;
      const found = await index.search(vectors[i] as Float32Array, options.maxK);
      neighbours[i] = found.map((n) => scoredNeighbour(n, asNeighbour(items[Number(n.id)] as LabelledItem)));
      onProgress?.(++done, items.length);
    }
  }
  return { fold, neighbours, stats };
}

/**
 * Predicted score of every target for every item, through the service's ranking code as /rank runs
 * it, using the first `k` neighbours and `settings`: the fallback to the label means, or the
 * neighbours (an outcome read against its baseline); a target no neighbour scored gets its label
 * mean, or (known only by scores read against a baseline) the query's baseline plus its advantage.
 * With `categoryHint`, each query passes its own category as a caller would (POST /rank `category`).
 */
export function predict(
  items: readonly LabelledItem[],
  folded: FoldedNeighbours,
  k: number,
  settings: RankingSettings = DEFAULT_SETTINGS,
  categoryHint = false,
): Array<Record<string, number>> {
  return items.map((item, i) => {
    const category = (categoryHint && item.category) || undefined;
    const stats = folded.stats[folded.fold[i] as number] as TargetStats;
    const names = [
      ...new Set([...Object.keys(stats.overall), ...Object.keys(stats.residuals?.overall ?? {})]),
    ];
    const targets = names.map((name) => ({ name, enabled: true }));
    const near = (folded.neighbours[i] as ScoredNeighbour[]).slice(0, k);
    const fallback = fallbackReason(near, settings, k) !== undefined;
    const priors = new QueryPriors(fallback ? [] : near, stats, settings, new Set(names), category);
    const ranked = fallback
      ? rankByPriors(targets, stats, { category })
      : rankTargets(near, targets, {
          settings,
          stats: settings.shrinkage > 0 ? stats : undefined,
          category,
          priors,
        });
    const out: Record<string, number> = { ...stats.overall };
    for (const t of names) {
      if (out[t] !== undefined) continue;
      const p = priors.prior(t);
      if (p) out[t] = clamp01(p.mean);
    }
    for (const r of ranked) out[r.target] = r.score;
    return out;
  });
}
