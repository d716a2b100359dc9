import type { RankedTarget } from "./aggregate.ts";

/** Fewer neighbours than this scored the top target: its score rests on thin evidence. */
export const THIN_SUPPORT = 3;
/** The top two scores closer than this: a near tie. */
export const NEAR_TIE = 0.02;

/** How unsure a ranking is, in [0, 1] (0: sure), and why. */
export interface Doubt {
  uncertainty: number;
  reasons: string[];
}

/**
 * What makes a ranking worth labelling: a fallback (no close examples: 1), thin support for the
 * top target ((THIN_SUPPORT − support) / THIN_SUPPORT), a near tie at the top (1 − margin /
 * NEAR_TIE). The uncertainty is the largest of them.
 */
export function doubt(scores: readonly RankedTarget[], fallback: string | undefined): Doubt {
  const reasons: string[] = [];
  let uncertainty = 0;
  if (fallback !== undefined) {
    reasons.push(`fallback: ${fallback}`);
    uncertainty = 1;
  }
  const [first, second] = scores;
  if (first && fallback === undefined && first.support < THIN_SUPPORT) {
    reasons.push(`thin support: ${first.support} neighbours scored the top target ${first.target}`);
    uncertainty = Math.max(uncertainty, (THIN_SUPPORT - first.support) / THIN_SUPPORT);
  }
  if (first && second && first.score - second.score < NEAR_TIE) {
    const margin = first.score - second.score;
    reasons.push(
      `near tie: ${first.target} ${first.score.toFixed(3)} against ${second.target} ${second.score.toFixed(3)}`,
    );
    uncertainty = Math.max(uncertainty, 1 - margin / NEAR_TIE);
  }
  return { uncertainty, reasons };
}
