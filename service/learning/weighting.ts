import type { KeptRanking } from "../store/feedback-store.ts";

/** The default cap on 1 / propensity: 1, outcomes are not weighted by their propensity. */
export const DEFAULT_MAX_OUTCOME_WEIGHT = 1;

/**
 * What one outcome counts for against a label (FEEDBACK_OUTCOME_WEIGHT's default). A label scores
 * every target on its prompt, so comparing two targets on it cancels the prompt's difficulty; an
 * outcome scores one, and that difficulty stays in. Two targets' scores on the same prompt correlate
 * by ρ ≈ 0.54 in RouterDC's training files (0.44 to 0.63 by task), so a comparison between targets
 * built from single scores is about 1 / (1 − ρ) ≈ 2 times as noisy as one from full rows: an
 * outcome counts half a label.
 */
export const DEFAULT_OUTCOME_WEIGHT = 0.5;

/**
 * How many labels the outcome of `target` on a ranking counts for: `base` (what one outcome counts
 * for against a label), times, when `target` was the recommendation, 1 / the policy's probability of
 * recommending it (inverse propensity weighting) capped at `maxWeight`. A target the caller chose
 * itself counts `base` (its probability is not known). With exploration, the recommended target is
 * called mostly where it looked best, and its outcomes there are better than its outcomes elsewhere
 * would be; weighted by 1 / propensity, each target's outcomes count as the prompts they were drawn
 * from. That removes the bias in expectation but adds variance: on RouterDC's replay (binary
 * scores, small categories) a cap of 10 did worse than none, hence the default cap of 1 (off).
 */
export function outcomeWeight(
  ranking: Pick<KeptRanking, "recommended" | "propensity">,
  target: string,
  maxWeight = DEFAULT_MAX_OUTCOME_WEIGHT,
  base = DEFAULT_OUTCOME_WEIGHT,
): number {
  const p = ranking.propensity;
  if (target !== ranking.recommended || p === null || !(p > 0)) return base;
  return base * Math.min(1 / p, maxWeight);
}
