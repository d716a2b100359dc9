import type { RankingSettings } from "./aggregate.ts";
import { type FoldedNeighbours, foldNeighbours, type LabelledItem, predict } from "./crossval.ts";
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
}

const GRID = {
  k: [5, 10, 20, 50, 100],
  power: [1, 2, 4, 8],
  shrinkage: [0, 1, 2, 4, 8, 16, 32, 64],
};

/** Fewest examples worth cross-validating: below this, folds are too small to tell settings apart. */
export const MIN_TUNING_EXAMPLES = 50;

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
  const folds = input.folds ?? 5;
  const seed = input.seed ?? 1;
  const trainSize = Math.floor((items.length * (folds - 1)) / folds);
  const ks = [...new Set(GRID.k.map((k) => Math.min(k, trainSize)))];
  const maxK = Math.max(...ks, input.current?.k ?? 0, SAFE_CHOICE.k);
  const folded = await foldNeighbours(items, vectors, { folds, seed, maxK: Math.min(maxK, trainSize) });
  const score = scorer(input, folded);

  const hasCategories = items.some((i) => i.category !== null);
  const priors = hasCategories ? (["category", "overall"] as const) : (["overall"] as const);
  const candidates: RoutingChoice[] = [SAFE_CHOICE];
  for (const k of ks)
    for (const power of GRID.power)
      for (const shrinkage of GRID.shrinkage)
        for (const prior of priors) {
          if (shrinkage === 0 && prior === "overall") continue;
          candidates.push({ k, settings: { power, shrinkage, prior, minSimilarity: 0, minSupport: 1 } });
        }
  const thresholds = fallbackThresholds(folded);
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
  if (grid.settings !== SAFE_CHOICE.settings) {
    for (const t of thresholds) {
      consider({
        k: grid.k,
        settings: { ...grid.settings, ...t, minSupport: Math.min(t.minSupport, grid.k) },
      });
    }
  }
  let chosen = best as Evaluated;
  if (chosen.settings !== SAFE_CHOICE.settings) {
    // The best of hundreds of candidates on one split is flattered by the choice itself. Confirm it
    // on a differently seeded split: it must beat the safe settings there, fold by fold, by more
    // than twice the standard error of the difference; else the neighbours are not trusted.
    const other = await foldNeighbours(items, vectors, {
      folds,
      seed: seed + 1,
      maxK: Math.min(maxK, trainSize),
    });
    const again = scorer(input, other);
    const d = again.byFold(chosen).map((v, f) => v - (again.byFold(SAFE_CHOICE)[f] as number));
    const mean = d.reduce((a, b) => a + b, 0) / d.length;
    const se = Math.sqrt(d.reduce((a, b) => a + (b - mean) ** 2, 0) / (d.length - 1) / d.length);
    if (!(mean > 0 && mean > 2 * se)) chosen = { ...SAFE_CHOICE, value: score(SAFE_CHOICE) };
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
  };
  if (score.costs) {
    const router = score.curve(chosen);
    const bestSingle = singleModelHull(items, score.costs);
    const oracle = score.curveOf(items.map((i) => ({ ...i.scores })));
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
    ...(costs && { bestSingle: aiq(singleModelHull(input.items, costs), costs.range[0], costs.range[1]) }),
  };
}

interface Costs {
  /** cost(i, t): USD to answer item i with target t. */
  of(i: number, target: string): number;
  targets: string[];
  /** The single models' mean costs, lowest and highest: the range AIQ is taken over. */
  range: [number, number];
}

type Scorer = ((c: RoutingChoice) => number) & {
  /** The metric on each fold's held-out items alone. */
  byFold(c: RoutingChoice): number[];
  metric: TuningMetric;
  costs: Costs | undefined;
  curve(c: RoutingChoice): CurvePoint[];
  curveOf(predicted: ReadonlyArray<Record<string, number>>): CurvePoint[];
};

/** The objective for these items: AIQ when every target is priced (and costs differ), else 1 − RMSE. */
function scorer(input: TuneInput, folded: FoldedNeighbours): Scorer {
  const { items } = input;
  const targets = [...new Set(items.flatMap((i) => Object.keys(i.scores)))].sort();
  const prices = input.prices;
  const priced = prices !== undefined && targets.every((t) => prices[t] !== undefined);
  let costs: Costs | undefined;
  if (priced) {
    const tokens = input.tokens ?? items.map(() => 1);
    const of = (i: number, t: string) => ((prices[t] as number) * (tokens[i] as number)) / 1e6;
    const means = targets.map((t) => items.reduce((s, _, i) => s + of(i, t), 0) / items.length);
    const range: [number, number] = [Math.min(...means), Math.max(...means)];
    if (range[1] > range[0]) costs = { of, targets, range };
  }
  const curveOf = (predicted: ReadonlyArray<Record<string, number>>, only?: readonly number[]) =>
    hull(sweep(items, predicted, costs as Costs, only));
  const value = (predicted: ReadonlyArray<Record<string, number>>, only?: readonly number[]) =>
    costs ? aiq(curveOf(predicted, only), costs.range[0], costs.range[1]) : 1 - rmse(items, predicted, only);
  const fn = ((c: RoutingChoice) => value(predict(items, folded, c.k, c.settings))) as Scorer;
  const folds = Math.max(...folded.fold) + 1;
  const members = Array.from({ length: folds }, (_, f) =>
    folded.fold.flatMap((g, i) => (g === f ? [i] : [])),
  );
  fn.byFold = (c) => {
    const predicted = predict(items, folded, c.k, c.settings);
    return members.map((only) => value(predicted, only));
  };
  fn.metric = costs ? "aiq" : "score_fit";
  fn.costs = costs;
  fn.curveOf = curveOf;
  fn.curve = (c) => curveOf(predict(items, folded, c.k, c.settings));
  return fn;
}

/** Root mean squared error of the predicted scores over every (item, target) the item scores (of `only`'s items). */
function rmse(
  items: readonly LabelledItem[],
  predicted: ReadonlyArray<Record<string, number>>,
  only: readonly number[] = items.map((_, i) => i),
): number {
  let sum = 0;
  let n = 0;
  only.forEach((i) => {
    const item = items[i] as LabelledItem;
    for (const [t, s] of Object.entries(item.scores)) {
      const d = (predicted[i]?.[t] ?? 0) - s;
      sum += d * d;
      n++;
    }
  });
  return n === 0 ? 0 : Math.sqrt(sum / n);
}

/** Willingness-to-pay sweep: at each λ every item (of `only`) goes to argmax predicted − λ·cost. */
function sweep(
  items: readonly LabelledItem[],
  predicted: ReadonlyArray<Record<string, number>>,
  costs: Costs,
  only: readonly number[] = items.map((_, i) => i),
): CurvePoint[] {
  const meanCost = (costs.range[0] + costs.range[1]) / 2 || 1;
  const lambdas = [0, ...Array.from({ length: 60 }, (_, i) => 10 ** (-4 + (i * 7) / 59) / meanCost)];
  return lambdas.map((lambda) => {
    let q = 0;
    let c = 0;
    for (const i of only) {
      const item = items[i] as LabelledItem;
      let best: string | undefined;
      let bestUtility = Number.NEGATIVE_INFINITY;
      for (const t of costs.targets) {
        if (item.scores[t] === undefined) continue;
        const u = (predicted[i]?.[t] ?? 0) - lambda * costs.of(i, t);
        if (u > bestUtility) {
          bestUtility = u;
          best = t;
        }
      }
      if (best === undefined) continue;
      q += item.scores[best] ?? 0;
      c += costs.of(i, best);
    }
    return { x: c / only.length, y: q / only.length };
  });
}

/** The hull of always-one-target points: the best single model per budget. */
function singleModelHull(items: readonly LabelledItem[], costs: Costs): CurvePoint[] {
  const n = items.length;
  return hull(
    costs.targets.map((t) => ({
      x: items.reduce((s, _, i) => s + costs.of(i, t), 0) / n,
      y: items.reduce((s, item) => s + (item.scores[t] ?? 0), 0) / n,
    })),
  );
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
