/**
 * What a query's ranking starts from, for each target: its prior, and the baseline its outcomes are
 * read against. Pure: neighbours and statistics in, numbers out.
 *
 * Two kinds of evidence meet here. An operator's label scores every target it names on one prompt;
 * the means of those labels (per category, and overall) are the classic prior. An outcome scores one
 * target on one prompt, and how hard that prompt was stays in its score: read as it is, a new
 * model's first outcomes on hard prompts bury it. So every score that can be read against a
 * baseline is: a label against the mean of its example's other targets, an outcome against what the
 * router predicted there for the targets it knew. The residual (score − baseline) is the target's
 * advantage over the others on that prompt, with the prompt's difficulty cancelled, and it
 * generalises: per category, and overall, each shrunk by its weight of evidence toward the level
 * above it (overall: toward the operator's prior, or none). A target known only that way (a new
 * model with outcomes and no labels) has as its prior at a query the query's own baseline plus that
 * advantage; a target with labels keeps its label mean. How much each level is shrunk depends on how
 * noisy the residuals are (`residualNoise`): a few quiet outcomes say as much as many loud ones.
 */

/** What the priors read of a neighbour (a `ScoredNeighbour`). */
export interface PriorNeighbour {
  similarity: number;
  category: string | null;
  scores: Readonly<Record<string, number>>;
  weights?: Readonly<Record<string, number>>;
  baselines?: Readonly<Record<string, number>>;
}

/** What the priors read of the ranking settings. */
export interface PriorSettings {
  power: number;
  shrinkage: number;
  prior: "category" | "overall";
}

/** Scores read against a baseline: Σ weight · (score − baseline), Σ weight, how many, and Σ weight · (score − baseline)². */
export interface Residual {
  sum: number;
  weight: number;
  n: number;
  sq: number;
}

/** Per-target residual totals, overall and per category. */
export interface ResidualStats {
  overall: Readonly<Record<string, Residual>>;
  byCategory: ReadonlyMap<string, Readonly<Record<string, Residual>>>;
}

/** Mean score of each target, overall and per category: the priors that thin evidence is shrunk toward. */
export interface TargetStats {
  /** Each target's mean over the operators' labels (outcomes are read against baselines instead). */
  overall: Readonly<Record<string, number>>;
  byCategory: ReadonlyMap<string, Readonly<Record<string, number>>>;
  /**
   * How much evidence each mean rests on: its labels' total weight (absent where not known).
   */
  counts?: {
    overall: Readonly<Record<string, number>>;
    byCategory: ReadonlyMap<string, Readonly<Record<string, number>>>;
  };
  /** Each target's advantage over the others where a score was read against a baseline. */
  residuals?: ResidualStats;
}

/**
 * How far apart two targets' overall advantages usually are (a standard deviation, in score): the
 * prior spread of a new target's advantage before its outcomes say where it is.
 */
export const ADVANTAGE_PRIOR_SD = 0.2;
/** How far a target's advantage in one category usually is from its overall advantage. */
export const CATEGORY_ADVANTAGE_SD = 0.15;
/**
 * How noisy one residual is assumed to be before any are measured (a variance), worth this many
 * residuals: a pass/fail score around a baseline varies by about this much.
 */
export const NOISE_PRIOR = 0.1;
export const NOISE_PRIOR_WEIGHT = 1;

const noises = new WeakMap<TargetStats, Map<string, number>>();

/**
 * How noisy `target`'s residuals are, per unit of weight: their variance within categories (pooled;
 * the differences between categories are the signal), blended with NOISE_PRIOR. Graded scores whose prompts'
 * difficulty cancels are quiet, and a few outcomes say much; pass/fail scores are loud, and it
 * takes many.
 */
export function residualNoise(stats: TargetStats, target: string): number {
  let cached = noises.get(stats);
  if (!cached) {
    cached = new Map();
    noises.set(stats, cached);
  }
  const known = cached.get(target);
  if (known !== undefined) return known;
  // Per unit of weight: a score weighing w varies as noise / w, so Σ w·(r − r̄)² / n estimates it.
  let ss = 0;
  let n = 0;
  for (const byTarget of stats.residuals?.byCategory.values() ?? []) {
    const r = byTarget[target];
    if (!r || !(r.weight > 0)) continue;
    ss += Math.max(0, r.sq - (r.sum * r.sum) / r.weight);
    n += r.n;
  }
  const noise = (ss + NOISE_PRIOR_WEIGHT * NOISE_PRIOR) / (n + NOISE_PRIOR_WEIGHT);
  cached.set(target, noise);
  return noise;
}

/**
 * How many residuals' worth the prior of `target`'s advantage weighs: overall (toward the prior
 * advantage) and per category (toward the overall one), each its noise over the prior variance.
 */
export function advantageWeights(stats: TargetStats, target: string): { overall: number; category: number } {
  const noise = residualNoise(stats, target);
  return { overall: noise / ADVANTAGE_PRIOR_SD ** 2, category: noise / CATEGORY_ADVANTAGE_SD ** 2 };
}

/** The baseline of each label: the mean of its example's other scores (none when it scores no other). */
export function labelBaselines(scores: Readonly<Record<string, number>>): Record<string, number> {
  const entries = Object.entries(scores);
  if (entries.length < 2) return {};
  const total = entries.reduce((s, [, v]) => s + v, 0);
  return Object.fromEntries(entries.map(([t, v]) => [t, (total - v) / (entries.length - 1)]));
}

/**
 * What an outcome for `target` is read against: the mean of the router's predictions there for the
 * other targets its labels supported (undefined when there were none: read as it is).
 */
export function outcomeBaseline(
  predictions: Readonly<Record<string, number>>,
  target: string,
): number | undefined {
  let sum = 0;
  let n = 0;
  for (const [t, p] of Object.entries(predictions)) {
    if (t === target) continue;
    sum += p;
    n++;
  }
  return n === 0 ? undefined : sum / n;
}

/** A target's overall advantage, shrunk toward `prior` by its weight (`advantageWeights`). */
export function overallAdvantage(stats: TargetStats, target: string, prior = 0): number {
  const r = stats.residuals?.overall[target];
  const k = advantageWeights(stats, target).overall;
  return ((r?.sum ?? 0) + k * prior) / ((r?.weight ?? 0) + k);
}

/** A target's advantage in `category`, shrunk toward its overall advantage by its weight (`advantageWeights`). */
export function categoryAdvantage(
  stats: TargetStats,
  target: string,
  category: string | null,
  overall: number,
): number {
  const r = category === null ? undefined : stats.residuals?.byCategory.get(category)?.[target];
  if (!r) return overall;
  const k = advantageWeights(stats, target).category;
  return (r.sum + k * overall) / (r.weight + k);
}

/** The categories a query's priors mix, each with its weight. */
type Mix = Array<{ category: string | null; weight: number }>;

/**
 * The priors of one query. Its `predictions` are the router's label-based prediction of each
 * eligible target: the kNN estimate from the neighbours' labels alone (shrunk toward the label
 * mean), or the label mean where no neighbour's label scores it. They are what outcomes are read
 * against (`baseline`) and what a ranking keeps. `prior(t)` is the prior of t at this query with
 * the weight of evidence behind it.
 */
export class QueryPriors {
  private readonly mix: Mix;
  private readonly hinted: boolean;
  private readonly predicted = new Map<string, number>();
  private predictedTotal = 0;
  private readonly absolute = new Map<string, { mean: number; weight: number } | undefined>();

  constructor(
    neighbours: readonly PriorNeighbour[],
    private readonly stats: TargetStats | undefined,
    settings: PriorSettings,
    eligible: ReadonlySet<string>,
    category: string | undefined,
    /** A target's prior advantage over the others (an operator's prior over the field), if any. */
    private readonly priorAdvantage: (target: string) => number = () => 0,
  ) {
    this.hinted = category !== undefined && stats?.byCategory.has(category) === true;
    if (this.hinted) {
      this.mix = [{ category: category as string, weight: 1 }];
    } else if (settings.prior === "overall" || neighbours.length === 0) {
      this.mix = [{ category: null, weight: 1 }];
    } else {
      this.mix = neighbours.map((n) => ({
        category: n.category,
        weight: Math.max(n.similarity, 0) ** settings.power,
      }));
    }
    // The label estimates: each eligible target's labels among the neighbours, shrunk toward its mean.
    const acc = new Map<string, { weighted: number; weight: number; plain: number; support: number }>();
    for (const n of neighbours) {
      const w = Math.max(n.similarity, 0) ** settings.power;
      for (const [t, s] of Object.entries(n.scores)) {
        if (!eligible.has(t) || n.baselines?.[t] !== undefined) continue;
        let a = acc.get(t);
        if (!a) {
          a = { weighted: 0, weight: 0, plain: 0, support: 0 };
          acc.set(t, a);
        }
        const ws = w * (n.weights?.[t] ?? 1);
        a.weighted += ws * s;
        a.weight += ws;
        a.plain += s;
        a.support += 1;
      }
    }
    for (const t of eligible) {
      const a = acc.get(t);
      let prediction: number | undefined;
      if (a) {
        const m = settings.shrinkage > 0 ? this.labelMean(t)?.mean : undefined;
        const lambda = m === undefined ? 0 : settings.shrinkage;
        prediction =
          a.weight + lambda > 0
            ? (a.weighted + lambda * (m ?? 0)) / (a.weight + lambda)
            : a.plain / a.support;
      } else {
        // No neighbour's label scores it: its label mean (none for a target without labels).
        prediction = this.labelMean(t)?.mean;
      }
      if (prediction === undefined) continue;
      this.predicted.set(t, prediction);
      this.predictedTotal += prediction;
    }
  }

  /** The router's label-based prediction of each eligible target that has labels. */
  get predictions(): ReadonlyMap<string, number> {
    return this.predicted;
  }

  /**
   * `target`'s label mean at this query (the caller's category's when known, else mixed over the
   * neighbours' categories, or overall, as the settings say), with the label weight behind it.
   */
  labelMean(target: string): { mean: number; weight: number } | undefined {
    if (this.absolute.has(target)) return this.absolute.get(target);
    const stats = this.stats;
    let out: { mean: number; weight: number } | undefined;
    if (stats && stats.overall[target] !== undefined) {
      let sum = 0;
      let weight = 0;
      let behind = 0;
      for (const { category, weight: w } of this.mix) {
        // A category the statistics know but where this target has no labels adds nothing; an
        // unknown one (or none) adds the overall mean.
        const means = category === null ? undefined : stats.byCategory.get(category);
        const m = means ? means[target] : stats.overall[target];
        if (m === undefined) continue;
        const n = means
          ? (stats.counts?.byCategory.get(category as string)?.[target] ?? 0)
          : (stats.counts?.overall[target] ?? 0);
        sum += w * m;
        behind += w * n;
        weight += w;
      }
      out =
        weight > 0
          ? { mean: sum / weight, weight: behind / weight }
          : { mean: stats.overall[target] as number, weight: stats.counts?.overall[target] ?? 0 };
    }
    this.absolute.set(target, out);
    return out;
  }

  /**
   * What `target` is compared against at this query: the mean of the other targets' predictions;
   * undefined when no other target with labels is eligible here.
   */
  baseline(target: string): number | undefined {
    const own = this.predicted.get(target);
    const n = this.predicted.size - (own === undefined ? 0 : 1);
    return n > 0 ? (this.predictedTotal - (own ?? 0)) / n : undefined;
  }

  /** `target`'s advantage over the others at this query, mixed over its categories as its mean is. */
  advantage(target: string): { value: number; weight: number } {
    const stats = this.stats;
    if (!stats) return { value: this.priorAdvantage(target), weight: 0 };
    const overall = overallAdvantage(stats, target, this.priorAdvantage(target));
    let sum = 0;
    let behind = 0;
    let weight = 0;
    for (const { category, weight: w } of this.mix) {
      sum += w * categoryAdvantage(stats, target, category, overall);
      const r =
        category === null
          ? stats.residuals?.overall[target]
          : stats.residuals?.byCategory.get(category)?.[target];
      behind += w * (r?.weight ?? 0);
      weight += w;
    }
    return weight > 0 ? { value: sum / weight, weight: behind / weight } : { value: overall, weight: 0 };
  }

  /**
   * `target`'s prior at this query and the weight of evidence behind it: its label mean where it has
   * labels; else, for a target known only by scores read against a baseline (a new model's outcomes),
   * this query's baseline plus its advantage over the others. A new target with no evidence at all is
   * at the baseline, with weight 0: a starting point, not evidence.
   */
  prior(target: string): { mean: number; weight: number } | undefined {
    const label = this.labelMean(target);
    if (label) return label;
    const base = this.baseline(target);
    if (base === undefined) return undefined;
    const advantage = this.advantage(target);
    return { mean: base + advantage.value, weight: advantage.weight };
  }
}
