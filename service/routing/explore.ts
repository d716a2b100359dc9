import type { RankedTarget } from "./aggregate.ts";

/** What the exploration policy recommended, and with what probability. */
export interface Explored {
  /** The target recommended; null when nothing qualifies (an objective excluded every target). */
  recommended: string | null;
  /** True when `recommended` is not the greedy choice (the best by score, or by the objective). */
  explored: boolean;
  /** The probability the policy had of recommending `recommended`: for inverse-propensity weighting. */
  propensity: number;
  /** True when it was a new target's trial (`ExplorationOptions.trial`) that recommended it. */
  trial: boolean;
}

/**
 * New targets on trial at this query: with probability `share` one of them, drawn uniformly, is
 * recommended, whatever the ranking says; until each has enough outcomes here.
 */
export interface Trial {
  share: number;
  targets: readonly string[];
}

export interface ExplorationOptions {
  /** Most share of answers that may recommend other than the greedy choice, in [0, 1]. */
  share: number;
  /** Posterior draws the Thompson distribution is estimated from. Default 128. */
  draws?: number;
  /** Uniform [0, 1) numbers; Math.random by default (a seeded one makes tests repeatable). */
  random?: () => number;
  /** New targets on trial here, and the share of answers that try one. */
  trial?: Trial;
}

/** The spread of a score with no evidence: p(1 − p) at its widest, never below this. */
const MIN_VARIANCE = 0.01;

/**
 * A target's posterior over its score given its neighbours, as a normal: mean the ranked score,
 * variance p(1 − p) / (support + 1), the variance of a [0, 1] outcome shrunk by the neighbours that
 * scored it. A target no neighbour scored is offered at its prior: the outcomes that prior rests on
 * narrow it instead (none: the whole spread).
 */
export function posteriorSd(t: Pick<RankedTarget, "score" | "support" | "priorOutcomes">): number {
  const p = Math.min(Math.max(t.score, 0), 1);
  return Math.sqrt(Math.max(p * (1 - p), MIN_VARIANCE) / (t.support + (t.priorOutcomes ?? 0) + 1));
}

/**
 * Thompson sampling capped at a share. With probability 1 − share the greedy choice is recommended;
 * with probability share, the choice made on scores drawn from each target's posterior: the top
 * drawn score, or with `pick`, what it chooses from a drawn ranking (it applies the caller's
 * objective, so a target the objective excludes is never recommended). The Thompson distribution
 * is the empirical one of `draws` draws, and the recommendation is taken from it, so the
 * propensity reported is exactly the policy's:
 *
 *   P(t) = (1 − share)·[t = greedy] + share·(draws won by t) / draws.
 *
 * At most `share` of answers explore, in expectation. With a trial (`options.trial`), a share of
 * answers recommends one of the new targets on trial here instead, drawn uniformly, and the
 * propensity stays exact: P(t) = a·[t on trial]/|trial| + (1 − a)·P_thompson(t).
 */
export function explore(
  ranked: readonly RankedTarget[],
  greedy: string | null,
  pick: ((drawn: RankedTarget[]) => string | null) | undefined,
  options: ExplorationOptions,
): Explored {
  const random = options.random ?? Math.random;
  const trial = options.trial && options.trial.targets.length > 0 ? options.trial : undefined;
  const a = trial ? Math.min(Math.max(trial.share, 0), 1) : 0;
  const policy = thompson(ranked, greedy, pick, options, random);
  const tried = (t: string | null) =>
    trial && t !== null && trial.targets.includes(t) ? 1 / trial.targets.length : 0;
  // The trial's draw comes first, so that its share is exact whatever the rest of the policy does.
  const fromTrial = trial !== undefined && a > 0 && random() < a;
  const recommended = fromTrial
    ? (trial.targets[
        Math.min(Math.floor(random() * trial.targets.length), trial.targets.length - 1)
      ] as string)
    : policy.choose();
  if (recommended === null) return { recommended: null, explored: false, propensity: 0, trial: false };
  return {
    recommended,
    explored: recommended !== greedy,
    propensity: a * tried(recommended) + (1 - a) * policy.probability(recommended),
    trial: fromTrial,
  };
}

/**
 * Thompson sampling capped at `options.share`: its choice, and the probability it had of choosing
 * each target (P(t) = (1 − share)·[t = greedy] + share·(draws won by t) / draws).
 */
function thompson(
  ranked: readonly RankedTarget[],
  greedy: string | null,
  pick: ((drawn: RankedTarget[]) => string | null) | undefined,
  options: ExplorationOptions,
  random: () => number,
): { choose(): string | null; probability(t: string): number } {
  const share = Math.min(Math.max(options.share, 0), 1);
  if (greedy === null || share === 0 || ranked.length < 2) {
    return { choose: () => greedy, probability: (t) => (t === greedy ? 1 : 0) };
  }
  const draws = options.draws ?? 128;
  const n = ranked.length;
  const mean = new Float64Array(n);
  const sd = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t = ranked[i] as RankedTarget;
    mean[i] = t.score;
    sd[i] = posteriorSd(t);
  }
  // Each draw's winner, by its index in `ranked` (-1: `pick` chose nothing); counted after.
  const winners = new Int32Array(draws);
  if (pick) {
    const noise = normals(draws * n, random);
    const index = new Map(ranked.map((t, i) => [t.target, i]));
    for (let d = 0; d < draws; d++) {
      const drawn = ranked
        .map((t, i) => ({
          ...t,
          score: (mean[i] as number) + (sd[i] as number) * (noise[d * n + i] as number),
        }))
        .sort((a, b) => b.score - a.score);
      const w = pick(drawn);
      winners[d] = w === null ? -1 : (index.get(w) ?? -1);
    }
  } else {
    // The top drawn score, without building a ranking or an array of draws: this runs on every
    // /rank while exploring.
    let x = seed(random);
    for (let d = 0; d < draws; d++) {
      let best = 0;
      let top = Number.NEGATIVE_INFINITY;
      for (let i = 0; i < n; i++) {
        // `quantiles`' generator, inlined: this loop is the whole cost of exploring.
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        const v =
          (mean[i] as number) + (sd[i] as number) * (QUANTILES[Math.imul(x, 0x2545f491) >>> 20] as number);
        if (v > top) {
          top = v;
          best = i;
        }
      }
      winners[d] = best;
    }
  }
  const counts = new Int32Array(n + 1);
  for (let d = 0; d < draws; d++) {
    const j = (winners[d] as number) + 1;
    counts[j] = (counts[j] as number) + 1;
  }
  const wins = new Map<string | null, number>([[null, counts[0] as number]]);
  for (let i = 0; i < n; i++) {
    const t = (ranked[i] as RankedTarget).target;
    wins.set(t, (wins.get(t) ?? 0) + (counts[i + 1] as number));
  }
  const winner = (d: number): string | null => {
    const i = winners[d] as number;
    return i < 0 ? null : (ranked[i] as RankedTarget).target;
  };
  const won = (t: string | null) => (wins.get(t) ?? 0) / draws;
  return {
    choose: () => {
      const chosen = random() < share ? winner(Math.min(Math.floor(random() * draws), draws - 1)) : greedy;
      // A drawn ranking can leave nothing the objective accepts; then the greedy choice stands.
      return chosen ?? greedy;
    },
    probability: (t) =>
      (1 - share) * (t === greedy ? 1 : 0) + share * (won(t) + (t === greedy ? won(null) : 0)),
  };
}

/**
 * The standard normal's quantiles at (i + 0.5) / 4096: a draw is one uniform number and a lookup,
 * several times cheaper than Box-Muller's logarithm and cosine, and exact enough for posterior
 * sampling (the tails end at ±3.7 sd).
 */
const QUANTILES = Float64Array.from({ length: 4096 }, (_, i) => inverseNormal((i + 0.5) / 4096));

/**
 * Standard normal draws, each a lookup in `QUANTILES` at an index from a xorshift generator seeded
 * by one of `random`'s numbers: a few nanoseconds a draw where a call to Math.random takes ten,
 * and a seeded `random` still makes the draws repeatable. The generator's state is multiplied by
 * an odd constant before its top 12 bits are read (xorshift*), whose high bits pass the usual
 * statistical tests; a posterior draw needs no more.
 */
function quantiles(random: () => number): () => number {
  let x = seed(random);
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return QUANTILES[Math.imul(x, 0x2545f491) >>> 20] as number;
  };
}

/** A xorshift generator's non-zero 32-bit seed, from one of `random`'s numbers. */
function seed(random: () => number): number {
  return Math.floor(random() * 0x100000000) | 0 || 0x2545f491;
}

/** `count` standard normal draws. */
function normals(count: number, random: () => number): Float64Array {
  const out = new Float64Array(count);
  const quantile = quantiles(random);
  for (let i = 0; i < count; i++) out[i] = quantile();
  return out;
}

/** The standard normal's quantile at p in (0, 1) (Acklam's rational approximation, error below 1.2e-9). */
export function inverseNormal(p: number): number {
  const a = [
    -39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716,
    2.506628277459239,
  ];
  const b = [
    -54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572,
  ];
  const c = [
    -0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968,
    2.938163982698783,
  ];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const [a0, a1, a2, a3, a4, a5] = a as [number, number, number, number, number, number];
  const [b0, b1, b2, b3, b4] = b as [number, number, number, number, number];
  const [c0, c1, c2, c3, c4, c5] = c as [number, number, number, number, number, number];
  const [d0, d1, d2, d3] = d as [number, number, number, number];
  const low = 0.02425;
  if (p < low) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (
      (((((c0 * q + c1) * q + c2) * q + c3) * q + c4) * q + c5) /
      ((((d0 * q + d1) * q + d2) * q + d3) * q + 1)
    );
  }
  if (p > 1 - low) {
    const q = Math.sqrt(-2 * Math.log(1 - p));
    return (
      -(((((c0 * q + c1) * q + c2) * q + c3) * q + c4) * q + c5) /
      ((((d0 * q + d1) * q + d2) * q + d3) * q + 1)
    );
  }
  const q = p - 0.5;
  const r = q * q;
  return (
    ((((((a0 * r + a1) * r + a2) * r + a3) * r + a4) * r + a5) * q) /
    (((((b0 * r + b1) * r + b2) * r + b3) * r + b4) * r + 1)
  );
}
