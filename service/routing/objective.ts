import type { RankedTarget } from "./aggregate.ts";

/** What the caller is willing to trade: exactly one of the three. */
export interface Objective {
  /** USD per 1M tokens the caller would pay for +1.0 of predicted score: utility = score − price / this. */
  willingnessToPay?: number;
  /** Recommend the best target whose price is at most this (USD per 1M tokens). */
  maxPrice?: number;
  /** Recommend the cheapest target whose score is within this of the best score. */
  qualityTolerance?: number;
  /** Share of output tokens in the blended price (input·(1−s) + output·s). Default 0.5. */
  outputShare?: number;
  /** Order of the returned list. Default "score". */
  order?: "score" | "utility";
}

export interface Prices {
  inputPricePerMtok: number | null;
  outputPricePerMtok: number | null;
}

export interface PricedTarget extends RankedTarget {
  /** Blended USD per 1M tokens; null when the target has no price. */
  price: number | null;
  /** score − price / willingnessToPay, with that objective; null otherwise or without a price. */
  utility: number | null;
}

export interface Choice {
  recommended: string | null;
  scores: PricedTarget[];
}

/**
 * Applies a cost objective to ranked targets: prices each, picks `recommended`, and orders the list
 * by score (default) or utility. Targets without a price are never recommended under a price-based
 * objective; with `qualityTolerance` an unpriced target counts as dearer than every priced one.
 */
export function choose(
  ranked: readonly RankedTarget[],
  prices: ReadonlyMap<string, Prices>,
  objective: Objective,
): Choice {
  const share = objective.outputShare ?? 0.5;
  const priced: PricedTarget[] = ranked.map((r) => {
    const p = prices.get(r.target);
    const price =
      p && p.inputPricePerMtok !== null && p.outputPricePerMtok !== null
        ? p.inputPricePerMtok * (1 - share) + p.outputPricePerMtok * share
        : null;
    const utility =
      objective.willingnessToPay !== undefined && price !== null
        ? r.score - price / objective.willingnessToPay
        : null;
    return { ...r, price, utility };
  });
  let recommended: PricedTarget | undefined;
  if (objective.willingnessToPay !== undefined) {
    recommended = best(
      priced.filter((t) => t.utility !== null),
      (t) => t.utility as number,
    );
  } else if (objective.maxPrice !== undefined) {
    const cap = objective.maxPrice;
    recommended = best(
      priced.filter((t) => t.price !== null && t.price <= cap),
      (t) => t.score,
    );
  } else if (objective.qualityTolerance !== undefined && priced.length > 0) {
    const floor = Math.max(...priced.map((t) => t.score)) - objective.qualityTolerance;
    recommended = best(
      priced.filter((t) => t.score >= floor - 1e-12),
      (t) => -(t.price ?? Number.POSITIVE_INFINITY),
    );
  }
  const scores =
    objective.order === "utility"
      ? [...priced].sort(
          (a, b) => (b.utility ?? Number.NEGATIVE_INFINITY) - (a.utility ?? Number.NEGATIVE_INFINITY),
        )
      : priced;
  return { recommended: recommended?.target ?? null, scores };
}

/** The element with the largest key; the first one on ties (the list is ranked by score). */
function best<T>(items: readonly T[], key: (t: T) => number): T | undefined {
  let out: T | undefined;
  let top = Number.NEGATIVE_INFINITY;
  for (const t of items) {
    const k = key(t);
    if (k > top) {
      top = k;
      out = t;
    }
  }
  return out;
}
