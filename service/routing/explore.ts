import type { RankedTarget } from "./aggregate.ts";

/** What the exploration policy recommended, and with what probability. */
export interface Explored {
  /** The target recommended; null when nothing qualifies (an objective excluded every target). */
  recommended: string | null;
  /** True when `recommended` is not the greedy choice (the best by score, or by the objective). */
  explored: boolean;
  /** The probability the policy had of recommending `recommended`: for inverse-propensity weighting. */
  propensity: number;
}

export interface ExplorationOptions {
  /** Most share of answers that may recommend other than the greedy choice, in [0, 1]. */
  share: number;
  /** Posterior draws the Thompson distribution is estimated from. Default 128. */
  draws?: number;
  /** Uniform [0, 1) numbers; Math.random by default (a seeded one makes tests repeatable). */
  random?: () => number;
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
 * with probability share, the choice made on scores drawn from each target's posterior (`pick`
 * applies the caller's objective to a drawn ranking, so a target the objective excludes is never
 * recommended). The Thompson distribution is the empirical one of `draws` draws, and the
 * recommendation is taken from it, so the propensity reported is exactly the policy's:
 *
 *   P(t) = (1 − share)·[t = greedy] + share·(draws won by t) / draws.
 *
 * At most `share` of answers explore, in expectation.
 */
export function explore(
  ranked: readonly RankedTarget[],
  greedy: string | null,
  pick: (drawn: RankedTarget[]) => string | null,
  options: ExplorationOptions,
): Explored {
  const share = Math.min(Math.max(options.share, 0), 1);
  if (greedy === null || share === 0 || ranked.length < 2) {
    return { recommended: greedy, explored: false, propensity: greedy === null ? 0 : 1 };
  }
  const random = options.random ?? Math.random;
  const draws = options.draws ?? 128;
  const sd = ranked.map(posteriorSd);
  const wins = new Map<string | null, number>();
  const winners: Array<string | null> = [];
  for (let d = 0; d < draws; d++) {
    const drawn = ranked
      .map((t, i) => ({ ...t, score: t.score + (sd[i] as number) * normal(random) }))
      .sort((a, b) => b.score - a.score);
    const w = pick(drawn);
    winners.push(w);
    wins.set(w, (wins.get(w) ?? 0) + 1);
  }
  const thompson = (t: string | null) => (wins.get(t) ?? 0) / draws;
  const chosen =
    random() < share ? (winners[Math.min(Math.floor(random() * draws), draws - 1)] ?? null) : greedy;
  // A drawn ranking can leave nothing the objective accepts; then the greedy choice stands.
  const recommended = chosen ?? greedy;
  const propensity =
    (1 - share) * (recommended === greedy ? 1 : 0) +
    share * (thompson(recommended) + (recommended === greedy ? thompson(null) : 0));
  return { recommended, explored: recommended !== greedy, propensity };
}

/** A standard normal draw (Box-Muller). */
function normal(random: () => number): number {
  const u = 1 - random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}
