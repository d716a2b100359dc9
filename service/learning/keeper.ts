import type { Doubt } from "../routing/uncertainty.ts";
import type { KeptRanking } from "../store/feedback-store.ts";

/** A ranking as /rank hands it over to be kept for outcomes. */
export interface RankingToKeep {
  query: string;
  /** The category its outcomes' example is filed under, if any. */
  category?: string;
  targets: string[];
  recommended: string | null | undefined;
  /** The policy's probability of `recommended` (exploration on); 1 when it was the only choice. */
  propensity?: number;
  explored?: boolean;
  /** How unsure the ranking was, and why (the label queue). */
  doubt?: Doubt;
  /** The router's label estimate of each target its labels supported (what outcomes are read against). */
  predictions?: Record<string, number>;
  /** The nearest neighbours' similarities, nearest first. */
  similarities?: number[];
}

/** A ranking as it is kept, under `id`, now. */
export function keptRanking(id: string, ranking: RankingToKeep): KeptRanking {
  return {
    id,
    createdAt: new Date(),
    query: ranking.query,
    category: ranking.category ?? null,
    targets: ranking.targets,
    recommended: ranking.recommended ?? null,
    propensity: ranking.recommended == null ? null : (ranking.propensity ?? 1),
    explored: ranking.explored ?? false,
    uncertainty: ranking.doubt?.uncertainty ?? 0,
    reasons: ranking.doubt?.reasons ?? [],
    predictions: ranking.predictions ?? {},
    similarities: ranking.similarities ?? [],
  };
}

/** Where /rank hands its rankings: kept here (the primary) or sent to the primary (a replica). */
export interface RankingKeeper {
  /** An id for the ranking; it is kept (soon, in a batch) when feedback is enabled. */
  keep(ranking: RankingToKeep): string;
}
