import type { RankingSettings } from "./aggregate.ts";
import { type FoldedNeighbours, foldNeighbours, type LabelledItem } from "./crossval.ts";
import { DenseFolds } from "./dense-folds.ts";
import { aiq, type CurvePoint, hull } from "./metrics.ts";

/** Ranking settings with the number of neighbours: everything /rank needs that tuning chooses. */
export interface RoutingChoice {
  k: number;
  settings: RankingSettings;
}

/**
 * Before tuning has shown that neighbours help, ranking leans almost wholly on each target's
 * overall mean: every query then ranks the targets as the best single model per budget would, and
 * the neighbours only break ties between targets whose means are equal (sparse one-positive labels).
 */
export const SAFE_CHOICE: RoutingChoice = {
  k: 20,
  settings: { power: 1, shrinkage: 1000, prior: "overall", minSimilarity: 0, minSupport: 1 },
};

/** The settings of a few examples (under SMALL_DATA) before tuning: see `defaultChoice`. */
export const SMALL_DATA_CHOICE: RoutingChoice = {
  k: 5,
  settings: { power: 1, shrinkage: 1, prior: "category", minSimilarity: 0, minSupport: 1 },
};

/** Below this many examples, the neighbours decide with small-data settings (and tuning leaves one out). */
export const SMALL_DATA = 50;

/**
 * The settings for `n` examples before tuning has chosen any. Under SMALL_DATA the safe settings'
 * shrinkage (1000 toward the overall means) would ignore every neighbour, and every prompt would
 * rank alike: a few examples are all the evidence there is, so a small k and a shrinkage of one
 * label's worth let a clear neighbour signal through. From SMALL_DATA on, SAFE_CHOICE until tuning
 * has shown that neighbours help.
 */
export function defaultChoice(n: number): RoutingChoice {
  if (n >= SMALL_DATA) return SAFE_CHOICE;
  return SMALL_DATA_CHOICE;
}

/**
 * A fallback floor that makes more than this share of the held-out examples, or of the recent
 * queries, fall back is never chosen: settings must not bury the evidence they are given.
 */
export const MAX_FALLBACK_SHARE = 0.5;

/** What tuning maximises: the AIQ of the cost-quality curve when every target has a price, else 1 − RMSE of the predicted scores. */
export type TuningMetric = "aiq" | "score_fit";

export interface TuneInput {
  items: readonly LabelledItem[];
  /** Each item's stored vector, as the service searches them. */
  vectors: readonly Float32Array[];
  /** Blended USD per 1M tokens of each target; used when every target scored anywhere has one. */
  prices?: Readonly<Record<string, number>>;
  /** Each item's length in tokens: its cost under a target is price × tokens / 1e6. */
  tokens?: readonly number[];
  /** The settings in force, evaluated on the same folds so a replacement is judged fairly. */
  current?: RoutingChoice;
  /** Cross-validation folds. Default 5. */
  folds?: number;
  /** Seed of the fold assignment. Default 1. */
  seed?: number;
  /** Told how many candidate settings were evaluated of how many. */
  onProgress?: (done: number, total: number) => void;
  /**
   * Recent queries' nearest similarities (nearest first, a few each): a fallback floor under which
   * most of them would fall back is not chosen.
   */
  recent?: ReadonlyArray<readonly number[]>;
}

export interface Evaluated extends RoutingChoice {
  value: number;
}

export interface TuneResult {
  metric: TuningMetric;
  /** The best candidate, SAFE_CHOICE included: neighbours are used only when they beat the prior. */
  best: Evaluated;
  /** The settings in force on the same folds, when given. */
  current?: number;
  baselines: {
    /** Ranking by each target's mean alone (the prior, no neighbours). */
    priorOnly: number;
    /** With prices: the best single model per budget (the hull of always-one-target points). */
    bestSingle?: number;
    /** With prices: every query sent where it scores best (the per-query oracle). */
    oracle?: number;
  };
  /** With prices: the cost-quality curves (mean USD per query, mean quality); `current` of the settings in force. */
  curves?: { router: CurvePoint[]; bestSingle: CurvePoint[]; oracle: CurvePoint[]; current?: CurvePoint[] };
  /** Whether the chosen settings use the neighbours at all (false: SAFE_CHOICE won). */
  neighboursHelp: boolean;
  /** Candidate settings evaluated. */
  evaluated: number;
  examples: number;
  /** Cross-validation folds. */
  folds: number;
}

const GRID = {
  k: [5, 10, 20, 50, 100],
  power: [1, 2, 4, 8],
  shrinkage: [0, 1, 2, 4, 8, 16, 32, 64],
};

/**
 * Fewest examples tuning runs on: leaving one out at a time, ten examples can tell a clear neighbour
 * signal from none.
 */
export const MIN_TUNING_EXAMPLES = 10;

/**
 * Chooses ranking settings by seeded k-fold cross-validation on the stored examples: every item is
 * ranked from its neighbours among the other folds, through the service's own ranking code, and a
 * grid over k, power, shrinkage and prior is scored, then the fallback thresholds around the best.
 * Pure computation (no I/O): the service runs it in a worker thread.
 */
export async function tune(input: TuneInput): Promise<TuneResult> {
  const { items, vectors } = input;
  if (items.length < MIN_TUNING_EXAMPLES) {
    throw new Error(`tuning needs at least ${MIN_TUNING_EXAMPLES} examples; there are ${items.length}`);
  }
  // Under SMALL_DATA examples every one counts: leave one out (the folds are then the same whatever the seed).
  const folds = input.folds ?? (items.length < SMALL_DATA ? items.length : 5);
  const seed = input.seed ?? 1;
  const trainSize = Math.floor((items.length * (folds - 1)) / folds);
  const fallbackChoice = defaultChoice(items.length);
  const ks = [...new Set(GRID.k.map((k) => Math.min(k, trainSize)))];
  const maxK = Math.max(...ks, input.current?.k ?? 0, SAFE_CHOICE.k);
  const folded = await foldNeighbours(items, vectors, { folds, seed, maxK: Math.min(maxK, trainSize) });
  const score = scorer(input, folded);

  const hasCategories = items.some((i) => i.category !== null);
  const priors = hasCategories ? (["category", "overall"] as const) : (["overall"] as const);
  const candidates: RoutingChoice[] = [fallbackChoice];
  for (const k of ks)
    for (const power of GRID.power)
      for (const shrinkage of GRID.shrinkage)
        for (const prior of priors) {
          if (shrinkage === 0 && prior === "overall") continue;
          candidates.push({ k, settings: { power, shrinkage, prior, minSimilarity: 0, minSupport: 1 } });
        }
  const thresholds = fallbackThresholds(folded).filter(
    (t) =>
      fallbackShare(folded.neighbours, t) <= MAX_FALLBACK_SHARE &&
      fallbackShare(input.recent ?? [], t) <= MAX_FALLBACK_SHARE,
  );
  const total = candidates.length + thresholds.length;
  let done = 0;
  let best: Evaluated | undefined;
  const consider = (c: RoutingChoice) => {
    const value = score(c);
    done++;
    input.onProgress?.(done, total);
    if (!best || value > best.value) best = { ...c, value };
  };
  for (const c of candidates) consider(c);
  const grid = best as Evaluated;
  if (grid.settings !== fallbackChoice.settings) {
    for (const t of thresholds) {
      consider({
        k: grid.k,
        settings: { ...grid.settings, ...t, minSupport: Math.min(t.minSupport, grid.k) },
      });
    }
  }
  let chosen = best as Evaluated;
  if (chosen.settings !== fallbackChoice.settings) {
    // The best of hundreds of candidates on one split is flattered by the choice itself. Confirm it
    // on a differently seeded split (leaving one out, the same split item by item): it must beat
    // the default settings there, fold by fold, by more than twice the standard error of the
    // difference; else the default stands.
    const other =
      folds === items.length
        ? folded
        : await foldNeighbours(items, vectors, { folds, seed: seed + 1, maxK: Math.min(maxK, trainSize) });
    const again = scorer(input, other);
    const d = again.byFold(chosen).map((v, f) => v - (again.byFold(fallbackChoice)[f] as number));
    const mean = d.reduce((a, b) => a + b, 0) / d.length;
    const se = Math.sqrt(d.reduce((a, b) => a + (b - mean) ** 2, 0) / (d.length - 1) / d.length);
    if (!(mean > 0 && mean > 2 * se)) chosen = { ...fallbackChoice, value: score(fallbackChoice) };
  }

  const priorOnly: RoutingChoice = {
    k: 1,
    settings: {
      power: 1,
      shrinkage: Number.MAX_SAFE_INTEGER,
      prior: "overall",
      minSimilarity: 0,
      minSupport: 1,
    },
  };
  const result: TuneResult = {
    metric: score.metric,
    best: chosen,
    ...(input.current && { current: score(input.current) }),
    baselines: { priorOnly: score(priorOnly) },
    neighboursHelp: chosen.settings !== SAFE_CHOICE.settings,
    evaluated: done,
    examples: items.length,
    folds,
  };
  if (score.costs) {
    const router = score.curve(chosen);
    const bestSingle = score.singles();
    const oracle = score.oracle();
    const [from, to] = score.costs.range;
    result.baselines.bestSingle = aiq(bestSingle, from, to);
    result.baselines.oracle = aiq(oracle, from, to);
    result.curves = {
      router,
      bestSingle,
      oracle,
      ...(input.current && { current: score.curve(input.current) }),
    };
  }
  return result;
}

/**
 * The cross-validated metric of each of `choices` on the folds of `input.seed`, beside the best
 * single model's (with prices): how settings chosen elsewhere fare on folds they were not chosen on.
 */
export async function crossValidate(
  input: TuneInput,
  choices: readonly RoutingChoice[],
): Promise<{ metric: TuningMetric; values: number[]; bestSingle?: number }> {
  const folds = input.folds ?? 5;
  const trainSize = Math.floor((input.items.length * (folds - 1)) / folds);
  const maxK = Math.min(Math.max(...choices.map((c) => c.k)), trainSize);
  const folded = await foldNeighbours(input.items, input.vectors, { folds, seed: input.seed ?? 1, maxK });
  const score = scorer(input, folded);
  const costs = score.costs;
  return {
    metric: score.metric,
    values: choices.map((c) => score(c)),
    ...(costs && { bestSingle: aiq(score.singles(), costs.range[0], costs.range[1]) }),
  };
}

interface Costs {
  /** cost[i·T + t]: USD to answer item i with target t. */
  cost: Float64Array;
  /** The single models' mean costs, lowest and highest: the range AIQ is taken over. */
  range: [number, number];
}

type Scorer = ((c: RoutingChoice) => number) & {
  /** The metric on each fold's held-out items alone. */
  byFold(c: RoutingChoice): number[];
  metric: TuningMetric;
  costs: Costs | undefined;
  curve(c: RoutingChoice): CurvePoint[];
  /** The curve of the per-query oracle (every item sent where it scores best). */
  oracle(): CurvePoint[];
  /** The hull of always-one-target points: the best single model per budget. */
  singles(): CurvePoint[];
};

/** The objective for these items: AIQ when every target is priced (and costs differ), else 1 − RMSE. */
function scorer(input: TuneInput, folded: FoldedNeighbours): Scorer {
  const { items } = input;
  const dense = new DenseFolds(items, folded);
  const { targets, scores } = dense;
  const T = targets.length;
  const n = items.length;
  const prices = input.prices;
  let costs: Costs | undefined;
  if (prices !== undefined && targets.every((t) => prices[t] !== undefined)) {
    const tokens = input.tokens ?? items.map(() => 1);
    const cost = new Float64Array(n * T);
    const means = new Float64Array(T);
    for (let i = 0; i < n; i++) {
      for (let t = 0; t < T; t++) {
        const c = ((prices[targets[t] as string] as number) * (tokens[i] as number)) / 1e6;
        cost[i * T + t] = c;
        means[t] = (means[t] as number) + c / n;
      }
    }
    const range: [number, number] = [Math.min(...means), Math.max(...means)];
    if (range[1] > range[0]) costs = { cost, range };
  }
  const all = Array.from({ length: n }, (_, i) => i);
  const curveOf = (predicted: Float64Array, only: readonly number[] = all) =>
    hull(sweep(scores, T, predicted, costs as Costs, only));
  const value = (predicted: Float64Array, only?: readonly number[]) =>
    costs
      ? aiq(curveOf(predicted, only), costs.range[0], costs.range[1])
      : 1 - rmse(scores, T, predicted, only ?? all);
  const fn = ((c: RoutingChoice) => value(dense.predict(c.k, c.settings))) as Scorer;
  const folds = Math.max(...folded.fold) + 1;
  const members = Array.from({ length: folds }, (_, f) =>
    folded.fold.flatMap((g, i) => (g === f ? [i] : [])),
  );
  fn.byFold = (c) => {
    const predicted = dense.predict(c.k, c.settings);
    return members.map((only) => value(predicted, only));
  };
  fn.metric = costs ? "aiq" : "score_fit";
  fn.costs = costs;
  fn.curve = (c) => curveOf(dense.predict(c.k, c.settings));
  fn.oracle = () => curveOf(scores);
  fn.singles = () => {
    const c = costs as Costs;
    const points: CurvePoint[] = [];
    for (let t = 0; t < T; t++) {
      let x = 0;
      let y = 0;
      for (let i = 0; i < n; i++) {
        x += c.cost[i * T + t] as number;
        const sc = scores[i * T + t] as number;
        if (!Number.isNaN(sc)) y += sc;
      }
      points.push({ x: x / n, y: y / n });
    }
    return hull(points);
  };
  return fn;
}

/** Root mean squared error of the predicted scores over every (item, target) the item scores (of `only`'s items). */
function rmse(scores: Float64Array, T: number, predicted: Float64Array, only: readonly number[]): number {
  let sum = 0;
  let n = 0;
  for (const i of only) {
    for (let t = 0; t < T; t++) {
      const s = scores[i * T + t] as number;
      if (Number.isNaN(s)) continue;
      const p = predicted[i * T + t] as number;
      const d = (!Number.isNaN(p) ? p : 0) - s;
      sum += d * d;
      n++;
    }
  }
  return n === 0 ? 0 : Math.sqrt(sum / n);
}

/** Willingness-to-pay sweep: at each λ every item (of `only`) goes to argmax predicted − λ·cost. */
function sweep(
  scores: Float64Array,
  T: number,
  predicted: Float64Array,
  costs: Costs,
  only: readonly number[],
): CurvePoint[] {
  const meanCost = (costs.range[0] + costs.range[1]) / 2 || 1;
  const lambdas = [0, ...Array.from({ length: 60 }, (_, i) => 10 ** (-4 + (i * 7) / 59) / meanCost)];
  return lambdas.map((lambda) => {
    let q = 0;
    let c = 0;
    for (const i of only) {
      let best = -1;
      let bestUtility = Number.NEGATIVE_INFINITY;
      for (let t = 0; t < T; t++) {
        if (Number.isNaN(scores[i * T + t])) continue; // the item has no score for t
        const p = predicted[i * T + t] as number;
        const u = (!Number.isNaN(p) ? p : 0) - lambda * (costs.cost[i * T + t] as number);
        if (u > bestUtility) {
          bestUtility = u;
          best = t;
        }
      }
      if (best < 0) continue;
      q += scores[i * T + best] as number;
      c += costs.cost[i * T + best] as number;
    }
    return { x: c / only.length, y: q / only.length };
  });
}

/**
 * The share of `queries` (each its nearest similarities, nearest first) that would fall back under
 * `floor`: fewer than `minSupport` neighbours at `minSimilarity` (as far as the similarities kept
 * tell: a query with fewer kept than `minSupport` counts by those it has).
 */
export function fallbackShare(
  queries: ReadonlyArray<ReadonlyArray<number | { similarity: number }>>,
  floor: { minSimilarity: number; minSupport: number },
): number {
  let falls = 0;
  let counted = 0;
  for (const q of queries) {
    if (q.length === 0) continue;
    counted++;
    let close = 0;
    for (const s of q) if ((typeof s === "number" ? s : s.similarity) >= floor.minSimilarity) close++;
    if (close < Math.min(floor.minSupport, q.length)) falls++;
  }
  return counted === 0 ? 0 : falls / counted;
}

/** Fallback floors to try: low quantiles of the held-out items' closest-neighbour similarity. */
function fallbackThresholds(folded: FoldedNeighbours): Array<{ minSimilarity: number; minSupport: number }> {
  const top = folded.neighbours
    .map((n) => n[0]?.similarity)
    .filter((s): s is number => s !== undefined)
    .sort((a, b) => a - b);
  if (top.length === 0) return [];
  const at = (q: number) => Math.round((top[Math.floor(q * (top.length - 1))] as number) * 1000) / 1000;
  const floors = [...new Set([at(0.02), at(0.05), at(0.1), at(0.25)])];
  return floors.flatMap((minSimilarity) => [
    { minSimilarity, minSupport: 1 },
    { minSimilarity, minSupport: 3 },
  ]);
}
