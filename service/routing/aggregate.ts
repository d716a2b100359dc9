/**
 * A comparison of two targets on one prompt: `a` beat `b` in `aWins` of `games` (a tie is half a
 * win each). Pairs are stored in name order (`a` < `b`).
 */
export type Pair = readonly [a: string, b: string, aWins: number, games: number];

/** A stored example near the query, with what it knows: its category, per-target scores, comparisons. */
export interface ScoredNeighbour {
  id: string;
  similarity: number;
  category: string | null;
  scores: Readonly<Record<string, number>>;
  /**
   * What each score counts for against a label, where it is not 1 (an outcome's: see
   * `outcomeWeight`); 1 where absent.
   */
  weights?: Readonly<Record<string, number>>;
  /** Pairwise evidence (arena battles, preference outcomes); absent or empty for most examples. */
  preferences?: readonly Pair[];
  /**
   * An outcome's example: what each of its scores is read against (the router's predictions there
   * for the other targets), so its prompt's difficulty cancels. Absent for operators' labels.
   */
  baselines?: Readonly<Record<string, number>>;
}

/** A hit with its evidence (a stored example's, or a labelled item's), as the ranking maths reads it. */
export function scoredNeighbour(
  hit: { id: string; similarity: number },
  e: Pick<ScoredNeighbour, "category" | "scores" | "weights" | "preferences" | "baselines">,
): ScoredNeighbour {
  return {
    id: hit.id,
    similarity: hit.similarity,
    category: e.category,
    scores: e.scores,
    ...(e.weights && { weights: e.weights }),
    ...(e.preferences && { preferences: e.preferences }),
    ...(e.baselines && { baselines: e.baselines }),
  };
}

/** What ranking needs to know about a target. */
export interface TargetInfo {
  name: string;
  enabled: boolean;
  /** Its score where no example tells (a target created before any example scored it); else null. */
  priorScore?: number | null;
}

/** One ranked target. */
export interface RankedTarget {
  target: string;
  /** Predicted score: the similarity-weighted mean of the neighbours' scores, shrunk toward the prior. */
  score: number;
  /** How many neighbours scored this target. */
  support: number;
  /** Share of the score that comes from the neighbours rather than the prior, in [0, 1]. */
  confidence: number;
  /**
   * For a target no neighbour scored, offered at its prior: the weight of evidence that prior rests
   * on, labels and scores read against a baseline (what exploration's posterior narrows by; none for
   * a new target). Not part of the answer.
   */
  priorOutcomes?: number;
}

import { QueryPriors, type TargetStats } from "./priors.ts";

export type { Residual, ResidualStats, TargetStats } from "./priors.ts";

/** How neighbours' scores are combined; fitted on the operator's data by `npm run eval -- --tune`. */
export interface RankingSettings {
  /** Weight of a neighbour = max(similarity, 0) ^ power. Default 1. */
  power: number;
  /** Pseudo-weight of the prior: how much evidence it takes to move away from it. Default 0 (plain kNN). */
  shrinkage: number;
  /** Prior: each target's mean over the neighbours' categories, or over all examples. Default "category". */
  prior: "category" | "overall";
  /** Neighbours below this similarity do not count as evidence for the fallback rule. Default 0. */
  minSimilarity: number;
  /**
   * Fewer neighbours than this at or above `minSimilarity`: the query is out of distribution or
   * the evidence is thin, so targets are ranked by their means instead. Default 1 (fall back only
   * when no neighbour reaches the floor).
   */
  minSupport: number;
}

export const DEFAULT_SETTINGS: RankingSettings = {
  power: 1,
  shrinkage: 0,
  prior: "category",
  minSimilarity: 0,
  minSupport: 1,
};

export interface RankOptions {
  /** Rank only these targets; all enabled targets when absent. */
  only?: readonly string[];
  settings?: RankingSettings;
  /** Needed when `settings.shrinkage` > 0 or for a fallback. */
  stats?: TargetStats;
  /**
   * The caller's category for this query. When `stats` know it, the prior is that category's
   * means instead of a mix of the neighbours' categories.
   */
  category?: string;
  /** The query's priors, when the caller built them already (they are the same for every step). */
  priors?: QueryPriors;
  /** A target's prior advantage over the others (an operator's prior score over the field's). */
  priorAdvantage?: (target: string) => number;
}

/** Scores are in [0, 1]; a score read against a baseline (or a prior built on one) may leave it. */
export function clamp01(x: number): number {
  return Math.min(Math.max(x, 0), 1);
}

/**
 * Ranks targets best first. Each target's score is
 *
 *   (Σ wᵢ sᵢ + λ·prior) / (Σ wᵢ + λ),   wᵢ = max(similarityᵢ, 0)^power · ωᵢ,
 *
 * ωᵢ what the score counts for (1 for a label; less for an outcome, which scores one target where
 * a label scores them all, and more where propensity weighting is on, see `outcomeWeight`),
 * over the neighbours that scored it, with λ = `shrinkage`. An outcome's score sᵢ is read against
 * its baseline bᵢ (what the router predicted there for the other targets): it counts as
 * sᵢ − bᵢ + b(q), b(q) this query's baseline (`QueryPriors.baseline`), so how hard its prompt was
 * cancels. The prior is `QueryPriors.prior`: the label mean, blended with b(q) plus the target's
 * advantage over the others by the evidence behind each. With λ = 0 this is the plain
 * similarity-weighted mean; with λ > 0 thin evidence leans on the prior (the target's mean in
 * the caller's category when given and known, else over the neighbours' categories, or overall)
 * instead of one or two lucky neighbours. `support` counts
 * the neighbours that scored the target; `confidence` is Σw / (Σw + λ). A target is averaged only
 * over neighbours that scored it, so one evaluated on fewer examples is not penalised for the
 * missing ones. When every supporting neighbour has weight 0 and λ = 0, the plain mean is used.
 * Disabled targets, targets outside `only`, and targets no neighbour scored are left out. Ties break
 * on support, then name.
 */
export function rankTargets(
  neighbours: readonly ScoredNeighbour[],
  targets: readonly TargetInfo[],
  options: RankOptions = {},
): RankedTarget[] {
  const settings = options.settings ?? DEFAULT_SETTINGS;
  const eligible = eligibleTargets(targets, options.only);
  if (neighbours.some((n) => n.preferences?.some(([a, b]) => eligible.has(a) && eligible.has(b)))) {
    return rankByComparisons(neighbours, eligible, settings);
  }
  const q =
    options.priors ??
    new QueryPriors(neighbours, options.stats, settings, eligible, options.category, options.priorAdvantage);
  const shrink = settings.shrinkage > 0 && options.stats !== undefined;
  const acc = new Map<string, { weighted: number; weight: number; plain: number; support: number }>();
  for (const n of neighbours) {
    const similarity = Math.max(n.similarity, 0) ** settings.power;
    for (const [target, score] of Object.entries(n.scores)) {
      if (!eligible.has(target)) continue;
      let a = acc.get(target);
      if (!a) {
        a = { weighted: 0, weight: 0, plain: 0, support: 0 };
        acc.set(target, a);
      }
      // An outcome is read against its baseline: its advantage there, added to this query's baseline.
      const b = n.baselines?.[target];
      const base = b === undefined ? undefined : q.baseline(target);
      const value = base === undefined ? score : score - (b as number) + base;
      const w = similarity * (n.weights?.[target] ?? 1);
      a.weighted += w * value;
      a.weight += w;
      a.plain += value;
      a.support += 1;
    }
  }
  const ranked: RankedTarget[] = [];
  for (const [target, a] of acc) {
    const p = shrink ? q.prior(target)?.mean : undefined;
    const lambda = p === undefined ? 0 : settings.shrinkage;
    const score =
      a.weight + lambda > 0 ? (a.weighted + lambda * (p ?? 0)) / (a.weight + lambda) : a.plain / a.support;
    const confidence = a.weight + lambda > 0 ? a.weight / (a.weight + lambda) : 0;
    ranked.push({ target, score: clamp01(score), support: a.support, confidence });
  }
  return sortRanked(ranked);
}

/** Pseudo-games per pair of targets, split evenly: keeps every strength finite (one game's worth). */
export const BT_PSEUDO_GAMES = 1;

/**
 * Ranking when neighbours carry pairwise evidence: a similarity-weighted Bradley-Terry fit. Every
 * comparison among the neighbours counts with the neighbour's weight wᵢ = max(similarityᵢ, 0)^power:
 * a preference as its games (aWins of them to `a`), and two scores sₐ, s_b of one neighbour as one
 * game that `a` wins (1 + sₐ − s_b) / 2 of, so score and preference evidence combine in one fit.
 * Scores' weights (`weights`) do not apply: a comparison on one prompt cancels its difficulty, which
 * is what an outcome's single score is discounted for. Strengths pₜ maximise the weighted
 * likelihood Π (pₐ / (pₐ + p_b))^winsₐ (p_b / (pₐ + p_b))^wins_b, each pair also given BT_PSEUDO_GAMES split evenly (Hunter's MM iterations). A target's score is
 * its chance to beat the field: the mean over the other ranked targets u of pₜ / (pₜ + pᵤ), in
 * [0, 1], 0.5 for a target as good as the rest. `support` counts the neighbours that scored or
 * compared the target; `confidence` is Σw / (Σw + BT_PSEUDO_GAMES) over its games.
 */
export function rankByComparisons(
  neighbours: readonly ScoredNeighbour[],
  eligible: ReadonlySet<string>,
  settings: RankingSettings = DEFAULT_SETTINGS,
): RankedTarget[] {
  const wins = new Map<string, Map<string, number>>();
  const games = new Map<string, Map<string, number>>();
  const support = new Map<string, number>();
  const weightOf = new Map<string, number>();
  const add = (a: string, b: string, aWins: number, n: number) => {
    const row = (m: Map<string, Map<string, number>>, k: string) => {
      let r = m.get(k);
      if (!r) {
        r = new Map();
        m.set(k, r);
      }
      return r;
    };
    row(wins, a).set(b, (row(wins, a).get(b) ?? 0) + aWins);
    row(wins, b).set(a, (row(wins, b).get(a) ?? 0) + (n - aWins));
    row(games, a).set(b, (row(games, a).get(b) ?? 0) + n);
    row(games, b).set(a, (row(games, b).get(a) ?? 0) + n);
    weightOf.set(a, (weightOf.get(a) ?? 0) + n);
    weightOf.set(b, (weightOf.get(b) ?? 0) + n);
  };
  for (const n of neighbours) {
    const w = Math.max(n.similarity, 0) ** settings.power;
    const touched = new Set<string>();
    const scored = Object.entries(n.scores).filter(([t]) => eligible.has(t));
    for (const [t] of scored) touched.add(t);
    for (let i = 0; i < scored.length; i++) {
      for (let j = i + 1; j < scored.length; j++) {
        const [a, sa] = scored[i] as [string, number];
        const [b, sb] = scored[j] as [string, number];
        add(a, b, (w * (1 + sa - sb)) / 2, w);
      }
    }
    for (const [a, b, aWins, g] of n.preferences ?? []) {
      if (!eligible.has(a) || !eligible.has(b) || a === b) continue;
      add(a, b, w * aWins, w * g);
      touched.add(a);
      touched.add(b);
    }
    for (const t of touched) support.set(t, (support.get(t) ?? 0) + 1);
  }
  const names = [...support.keys()].sort();
  const strength = bradleyTerry(names, wins, games);
  const ranked = names.map((t) => {
    const p = strength.get(t) as number;
    const others = names.filter((u) => u !== t);
    const score =
      others.length === 0
        ? 0.5
        : others.reduce((s, u) => s + p / (p + (strength.get(u) as number)), 0) / others.length;
    const w = weightOf.get(t) ?? 0;
    return { target: t, score, support: support.get(t) as number, confidence: w / (w + BT_PSEUDO_GAMES) };
  });
  return sortRanked(ranked);
}

/**
 * Bradley-Terry strengths by minorisation-maximisation (Hunter 2004): pᵢ ← Wᵢ / Σⱼ nᵢⱼ / (pᵢ + pⱼ),
 * with BT_PSEUDO_GAMES added to every pair (half a win each way), scaled to a geometric mean of 1.
 */
export function bradleyTerry(
  names: readonly string[],
  wins: ReadonlyMap<string, ReadonlyMap<string, number>>,
  games: ReadonlyMap<string, ReadonlyMap<string, number>>,
): Map<string, number> {
  const p = new Map(names.map((t) => [t, 1]));
  const half = BT_PSEUDO_GAMES / 2;
  const totalWins = new Map(
    names.map((t) => [t, names.reduce((s, u) => (u === t ? s : s + (wins.get(t)?.get(u) ?? 0) + half), 0)]),
  );
  for (let iter = 0; iter < 500; iter++) {
    let change = 0;
    for (const t of names) {
      const pt = p.get(t) as number;
      let denom = 0;
      for (const u of names) {
        if (u === t) continue;
        denom += ((games.get(t)?.get(u) ?? 0) + BT_PSEUDO_GAMES) / (pt + (p.get(u) as number));
      }
      const next = (totalWins.get(t) as number) / denom;
      change = Math.max(change, Math.abs(Math.log(next / pt)));
      p.set(t, next);
    }
    const logMean = names.reduce((s, t) => s + Math.log(p.get(t) as number), 0) / names.length;
    for (const t of names) p.set(t, (p.get(t) as number) / Math.exp(logMean));
    if (change < 1e-10) break;
  }
  return p;
}

/**
 * Why a query's neighbours are not enough to rank on, or undefined when they are: fewer than
 * `minSupport` of them reach `minSimilarity` (a caller asking for `k` < minSupport neighbours asks
 * for no more support than k). No neighbours at all (an empty store) is not a fallback: there is
 * nothing to fall back on either.
 */
export function fallbackReason(
  neighbours: readonly ScoredNeighbour[],
  settings: RankingSettings,
  k = Number.POSITIVE_INFINITY,
): string | undefined {
  const best = neighbours[0]?.similarity;
  if (best === undefined) return undefined;
  const needed = Math.min(settings.minSupport, k);
  const close = neighbours.filter((n) => n.similarity >= settings.minSimilarity).length;
  if (close >= needed) return undefined;
  if (close === 0) {
    return `closest example has similarity ${best.toFixed(3)}, below the floor of ${settings.minSimilarity}`;
  }
  const reach = close === 1 ? "neighbour reaches" : "neighbours reach";
  return `${close} ${reach} the similarity floor of ${settings.minSimilarity}, fewer than the ${needed} required`;
}

export interface FallbackOptions {
  /** Rank only these targets; all enabled targets when absent. */
  only?: readonly string[];
  /** The caller's category: its means when the statistics know it. */
  category?: string;
  /** The operator's default target: first when it is eligible and scored anywhere. */
  preferred?: string;
}

/**
 * The fallback ranking: every eligible target by its mean score in `category` when the statistics
 * know it, else overall, with no neighbour support; the `preferred` target, when set, first.
 */
export function rankByPriors(
  targets: readonly TargetInfo[],
  stats: TargetStats,
  options: FallbackOptions = {},
): RankedTarget[] {
  const eligible = eligibleTargets(targets, options.only);
  const ranked = sortRanked(
    Object.entries(categoryMeans(stats, options.category) ?? stats.overall)
      .filter(([t]) => eligible.has(t))
      .map(([target, score]) => ({ target, score, support: 0, confidence: 0 })),
  );
  const first = ranked.findIndex((r) => r.target === options.preferred);
  if (first > 0) ranked.unshift(...ranked.splice(first, 1));
  return ranked;
}

/**
 * `category`'s mean of every target the statistics know (overall where the category has none), or
 * undefined when no example has that category.
 */
function categoryMeans(
  stats: TargetStats,
  category: string | undefined,
): Readonly<Record<string, number>> | undefined {
  const means = category === undefined ? undefined : stats.byCategory.get(category);
  return means && { ...stats.overall, ...means };
}

/**
 * The category with the most of the neighbours' weight (max(similarity, 0)^power), when the
 * neighbours with a category hold at least half of it; undefined otherwise, or on a tie. What an
 * outcome's example is filed under when the caller gave no category, so outcomes teach the
 * category means (the prior) as labelled examples do. A plurality, not a majority: a category with
 * fewer examples than k could never hold half of k neighbours.
 */
export function dominantCategory(
  neighbours: readonly ScoredNeighbour[],
  settings: RankingSettings = DEFAULT_SETTINGS,
): string | undefined {
  const weight = new Map<string, number>();
  let total = 0;
  let categorised = 0;
  for (const n of neighbours) {
    const w = Math.max(n.similarity, 0) ** settings.power;
    total += w;
    if (n.category === null) continue;
    weight.set(n.category, (weight.get(n.category) ?? 0) + w);
    categorised += w;
  }
  if (total === 0 || categorised < total / 2) return undefined;
  const [first, second] = [...weight].sort((a, b) => b[1] - a[1]);
  return first && (!second || first[1] > second[1]) ? first[0] : undefined;
}

export interface UnsupportedOptions {
  /** Rank only these targets; all enabled targets when absent. */
  only?: readonly string[];
  settings?: RankingSettings;
  /** The caller's category, as for `rankTargets`. */
  category?: string;
  /**
   * Every eligible target no neighbour scored (exploration on: any of them may be tried); else only
   * introduced targets, those created with a prior before any example scored them.
   */
  all: boolean;
  /** The query's priors, when the caller built them already. */
  priors?: QueryPriors;
  /** A target's prior advantage over the others (an operator's prior score over the field's). */
  priorAdvantage?: (target: string) => number;
}

/**
 * `ranked` with the eligible targets it lacks added at their prior with support 0, re-sorted: the
 * query's prior (`QueryPriors.prior`: the label mean, or the query's baseline plus the target's
 * advantage over the others), else the prior it was created with, else the mean of the other
 * targets' overall means. `priorOutcomes` is the weight of evidence behind it (none for a new target,
 * whose posterior is then as wide as a score can be).
 */
export function withUnsupported(
  ranked: readonly RankedTarget[],
  neighbours: readonly ScoredNeighbour[],
  targets: readonly TargetInfo[],
  stats: TargetStats,
  options: UnsupportedOptions,
): RankedTarget[] {
  const have = new Set(ranked.map((r) => r.target));
  const missing = targets.filter(
    (t) =>
      !have.has(t.name) &&
      eligibleTargets([t], options.only).size > 0 &&
      (options.all || t.priorScore != null),
  );
  if (missing.length === 0) return [...ranked];
  const settings = options.settings ?? DEFAULT_SETTINGS;
  const q =
    options.priors ??
    new QueryPriors(
      neighbours,
      stats,
      settings,
      eligibleTargets(targets, options.only),
      options.category,
      options.priorAdvantage,
    );
  const overall = Object.values(stats.overall);
  const field = overall.length > 0 ? overall.reduce((a, b) => a + b, 0) / overall.length : 0.5;
  const added = missing.map((t) => {
    const prior = q.prior(t.name);
    return {
      target: t.name,
      score: clamp01(prior?.mean ?? t.priorScore ?? field),
      support: 0,
      confidence: 0,
      priorOutcomes: prior?.weight ?? 0,
    };
  });
  return sortRanked([...ranked, ...added]);
}

function eligibleTargets(targets: readonly TargetInfo[], only?: readonly string[]): Set<string> {
  const wanted = only ? new Set(only) : undefined;
  return new Set(targets.filter((t) => t.enabled && (!wanted || wanted.has(t.name))).map((t) => t.name));
}

function sortRanked(ranked: RankedTarget[]): RankedTarget[] {
  return ranked.sort(
    (x, y) =>
      y.score - x.score || y.support - x.support || (x.target < y.target ? -1 : x.target > y.target ? 1 : 0),
  );
}

/** One target as knn-router scores it. */
export interface KnnRouterScore {
  target: string;
  score: number;
}

/**
 * knn-router's aggregation (its server.go, `query`): every hit weighs by its raw similarity, and
 *
 *   score(t) = round(100 · Σ simᵢ · sᵢ(t) / Σ simᵢ) / 100
 *
 * where the denominator runs over all hits and a hit that does not score `t` adds 0 above. Scores
 * come best first (knn-router leaves the order to Go's map iteration), ties by name. Disabled
 * targets are left out. No hits, or similarities summing to 0, give no scores (knn-router would
 * divide by zero).
 */
export function knnRouterScores(
  neighbours: readonly ScoredNeighbour[],
  targets: readonly TargetInfo[],
): KnnRouterScore[] {
  const eligible = eligibleTargets(targets);
  let weightSum = 0;
  const sums = new Map<string, number>();
  for (const n of neighbours) {
    weightSum += n.similarity;
    for (const [target, score] of Object.entries(n.scores)) {
      if (eligible.has(target)) sums.set(target, (sums.get(target) ?? 0) + n.similarity * score);
    }
  }
  if (weightSum === 0) return [];
  return [...sums]
    .map(([target, sum]) => ({ target, score: Math.round((sum / weightSum) * 100) / 100 }))
    .sort((x, y) => y.score - x.score || (x.target < y.target ? -1 : x.target > y.target ? 1 : 0));
}
