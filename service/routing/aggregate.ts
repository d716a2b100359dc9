/** A stored example near the query, with what it knows: its category and per-target scores. */
export interface ScoredNeighbour {
  id: string;
  similarity: number;
  category: string | null;
  scores: Readonly<Record<string, number>>;
}

/** What ranking needs to know about a target. */
export interface TargetInfo {
  name: string;
  enabled: boolean;
}

/** One ranked target. */
export interface RankedTarget {
  target: string;
  /** Similarity-weighted mean of the neighbours' scores for this target, over those that have one. */
  score: number;
  /** How many neighbours scored this target. */
  support: number;
}

export interface RankOptions {
  /** Rank only these targets; all enabled targets when absent. */
  only?: readonly string[];
}

/**
 * Ranks targets by the similarity-weighted mean of the neighbours' scores, best first.
 *
 * Weights are max(similarity, 0): a neighbour pointing away from the query is no evidence. A target
 * is averaged only over the neighbours that scored it, so a model that was evaluated on fewer
 * examples is not penalised for the missing ones; `support` says how many there were. When every
 * supporting neighbour has weight 0 the plain mean is used. Targets with no support, disabled
 * targets and targets outside `only` are left out. Ties break on support, then on name, so the
 * order is deterministic.
 */
export function rankTargets(
  neighbours: readonly ScoredNeighbour[],
  targets: readonly TargetInfo[],
  options: RankOptions = {},
): RankedTarget[] {
  const only = options.only ? new Set(options.only) : undefined;
  const eligible = new Set(
    targets.filter((t) => t.enabled && (!only || only.has(t.name))).map((t) => t.name),
  );
  const acc = new Map<string, { weighted: number; weight: number; plain: number; support: number }>();
  for (const n of neighbours) {
    const w = Math.max(n.similarity, 0);
    for (const [target, score] of Object.entries(n.scores)) {
      if (!eligible.has(target)) continue;
      let a = acc.get(target);
      if (!a) {
        a = { weighted: 0, weight: 0, plain: 0, support: 0 };
        acc.set(target, a);
      }
      a.weighted += w * score;
      a.weight += w;
      a.plain += score;
      a.support += 1;
    }
  }
  const ranked: RankedTarget[] = [];
  for (const [target, a] of acc) {
    const score = a.weight > 0 ? a.weighted / a.weight : a.plain / a.support;
    ranked.push({ target, score, support: a.support });
  }
  return ranked.sort(
    (x, y) =>
      y.score - x.score || y.support - x.support || (x.target < y.target ? -1 : x.target > y.target ? 1 : 0),
  );
}
