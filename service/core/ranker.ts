import { prepareText } from "../embedding/embedder.ts";
import { DEFAULT_TRUNCATE_STRATEGY, type TruncateStrategy } from "../embedding/truncate.ts";
import { AppError } from "../errors.ts";
import type { RankStage } from "../metrics.ts";
import {
  DEFAULT_SETTINGS,
  dominantCategory,
  fallbackReason,
  type KnnRouterScore,
  knnRouterScores,
  type RankedTarget,
  rankByPriors,
  rankTargets,
  type ScoredNeighbour,
  scoredNeighbour,
  type TargetInfo,
  type TargetStats,
  withUnsupported,
} from "../routing/aggregate.ts";
import type { Explored } from "../routing/explore.ts";
import { choose, type Objective, type PricedTarget, type Prices } from "../routing/objective.ts";
import { QueryPriors } from "../routing/priors.ts";
import type { RoutingChoice } from "../routing/tuning.ts";
import type { ExampleStore } from "../store/example-store.ts";
import type { TargetStore } from "../store/target-store.ts";
import type { ActiveEmbedding } from "./active-embedding.ts";
import type { TargetStatsCache } from "./target-stats.ts";

export interface RankRequest {
  query: string;
  k?: number;
  targets?: readonly string[];
  truncateStrategy?: TruncateStrategy;
  objective?: Objective;
  /** The caller's category for the query: its means become the prior and the fallback ranking. */
  category?: string;
}

export interface RankHit {
  id: string;
  category: string | null;
  similarity: number;
}

/** A ranked target; priced (`price`, and `utility` under a willingness to pay) when the request had an objective. */
export type RankedRow = RankedTarget & Partial<Pick<PricedTarget, "price" | "utility">>;

export interface RankResult {
  hits: RankHit[];
  /** Best first: by score, or as the objective orders them (then priced). */
  scores: RankedRow[];
  /**
   * With an objective or exploration on: the target recommended, null when none qualifies;
   * undefined otherwise.
   */
  recommended: string | null | undefined;
  /** With exploration on: whether `recommended` is an exploration, and the policy's probability of it. */
  exploration: Explored | undefined;
  /** The category an outcome on this ranking is filed under: the caller's, else the neighbours' dominant one. */
  filedUnder: string | undefined;
  /**
   * The router's label estimate of each target its labels supported here: what an outcome on this
   * ranking is read against.
   */
  predictions: Record<string, number>;
  /** The nearest neighbours' similarities (up to 5), nearest first. */
  similarities: number[];
  k: number;
  /** True when the query was cut to the embedder's input limit before embedding. */
  truncated: boolean;
  /** Set when no stored example is close enough: `scores` then come from the targets' overall means. */
  fallback: string | undefined;
  /** Given a category: whether any stored example has it (if not, it was not used). */
  categoryKnown: boolean | undefined;
  /** Milliseconds spent in each stage. */
  stages: Record<RankStage, number>;
  /** The embedder that embedded the query (the one in force when the request began). */
  embedder: string;
  /** The share of the query's letters the model cannot read (undefined: the embedder cannot tell). */
  unknownShare: number | undefined;
}

/** knn-router's answer: its hits (category always a string) and its scores. */
export interface KnnRouterResult {
  hits: Array<{ id: string; category: string; similarity: number }>;
  scores: KnnRouterScore[];
  /** Milliseconds spent in each stage. */
  stages: Record<RankStage, number>;
  /** As in RankResult. */
  unknownShare: number | undefined;
}

export interface RankerOptions {
  /** The settings in force, read at every request: k when a request gives none, and how scores combine. */
  choice: () => RoutingChoice;
  /** The target a fallback ranks first (FALLBACK_TARGET), when it is eligible. */
  fallbackTarget?: string;
  /**
   * Where a hit's category and scores are read: SQLite (`store`, the default) or the evidence the
   * index keeps beside each vector (`index`: one query, no SQLite read; the index must store it).
   */
  evidenceFrom?: "store" | "index";
  /**
   * How answers recommend while the router learns (exploration, a new target's trials) and where a
   * new target starts: the learning layer's. Absent: no exploration, no trials, no prior advantage.
   */
  policy?: RecommendationPolicy;
}

/** What a recommendation policy is told about one ranking. */
export interface RecommendationInput {
  /** The targets ranked, best first by score. */
  ranked: readonly RankedTarget[];
  /** What the ranking alone recommends: the top score, or the objective's choice. */
  greedy: string | null;
  /** The objective's choice from a ranking, when the request has one. */
  pick: ((drawn: RankedTarget[]) => string | null) | undefined;
  /** Every target with its switch and prior. */
  targets: readonly TargetInfo[];
  /** The statistics the ranking read. */
  stats: TargetStats;
  /** The region of the prompt space the query is in: the category an outcome on it is filed under. */
  region: string | undefined;
  /** Whether the request would take `target` at all (enabled, asked for, within its objective). */
  accepts(target: string): boolean;
}

/**
 * How answers recommend while the router learns, and where a new target starts (the learning
 * layer's `LearningPolicy`): exploration and a new target's trials, with the exact probability of
 * each recommendation.
 */
export interface RecommendationPolicy {
  /** Every enabled target is offered, at its prior where no neighbour scored it (exploration is on). */
  readonly offersAll: boolean;
  /** Each target's prior advantage over the field: an operator's prior score for a new target. */
  priorAdvantage(targets: readonly TargetInfo[], stats: TargetStats): (target: string) => number;
  /** The recommendation and its propensity; undefined when the policy has nothing to add. */
  recommend(input: RecommendationInput): Explored | undefined;
}

/** POST /rank: embed the query, find its neighbours, read their scores (SQLite, or the index's payloads), aggregate. */
export class Ranker {
  constructor(
    /** Where hits' evidence is read when it is not the index's (none on a replica). */
    private readonly store: Pick<ExampleStore, "evidence"> | undefined,
    private readonly targets: {
      targetFlags(): Array<{ name: string; enabled: boolean; priorScore: number | null }>;
      targetPrices: TargetStore["targetPrices"];
    },
    private readonly embedding: Pick<ActiveEmbedding, "current">,
    private readonly stats: Pick<TargetStatsCache, "get">,
    private readonly options: RankerOptions = { choice: () => ({ k: 20, settings: DEFAULT_SETTINGS }) },
  ) {}

  async rank(request: RankRequest): Promise<RankResult> {
    const targets = this.targets.targetFlags();
    if (request.targets) {
      const known = new Set(targets.map((t) => t.name));
      const unknown = request.targets.flatMap((t, i) => (known.has(t) ? [] : [{ t, i }]));
      if (unknown.length > 0) {
        throw new AppError("UNKNOWN_TARGET", `unknown targets: ${unknown.map((u) => u.t).join(", ")}`, {
          details: unknown.map(({ t, i }) => ({ path: `targets.${i}`, message: `no example scores ${t}` })),
        });
      }
    }
    const { k: defaultK, settings } = this.options.choice();
    const k = request.k ?? defaultK;
    const { neighbours, truncated, stages, embedder, unknownShare } = await this.neighbours(
      request.query,
      k,
      request.truncateStrategy,
    );
    const aggregating = performance.now();

    const { fallbackTarget, policy } = this.options;
    const { category } = request;
    const why = fallbackReason(neighbours, settings, k);
    const stats = this.stats.get();
    const categoryKnown = category === undefined ? undefined : stats.byCategory.has(category);
    const used = why === undefined ? neighbours : [];
    const eligible = new Set(
      targets
        .filter((t) => t.enabled && (!request.targets || request.targets.includes(t.name)))
        .map((t) => t.name),
    );
    const priorAdvantage = policy?.priorAdvantage(targets, stats);
    const priors = new QueryPriors(used, stats, settings, eligible, category, priorAdvantage);
    let fallback: string | undefined;
    let scores: RankedTarget[];
    if (why !== undefined) {
      scores = rankByPriors(targets, stats, { only: request.targets, category, preferred: fallbackTarget });
      const by = categoryKnown ? `mean score in category ${JSON.stringify(category)}` : "overall mean score";
      const first =
        scores[0]?.target === fallbackTarget ? `, the default target ${fallbackTarget} first` : "";
      fallback = `${why}: ranked by each target's ${by}${first}`;
    } else {
      scores = rankTargets(neighbours, targets, {
        only: request.targets,
        settings,
        stats: settings.shrinkage > 0 ? stats : undefined,
        category,
        priors,
      });
    }
    const filedUnder = category ?? dominantCategory(neighbours, settings);
    scores = withUnsupported(scores, used, targets, stats, {
      only: request.targets,
      settings,
      category,
      all: policy?.offersAll ?? false,
      priors,
    });
    const prices = request.objective && this.prices();
    const decide = (ranked: RankedTarget[]) =>
      request.objective && prices
        ? choose(ranked, prices, request.objective)
        : { recommended: ranked[0]?.target ?? null, scores: ranked };
    const choice = decide(scores);
    const exploration = policy?.recommend({
      ranked: scores,
      greedy: choice.recommended,
      pick: request.objective && ((drawn) => decide(drawn).recommended),
      targets,
      stats,
      region: filedUnder,
      // What the request would take: offered, and (under an objective) what it would recommend alone.
      accepts: (t) => {
        const row = choice.scores.find((r) => r.target === t);
        return row !== undefined && (!request.objective || decide([row]).recommended === t);
      },
    });
    stages.aggregate = performance.now() - aggregating;
    const predictions: Record<string, number> = {};
    if (why === undefined) for (const [t, p] of priors.predictions) predictions[t] = p;
    return {
      hits: neighbours.map((n) => ({ id: n.id, category: n.category, similarity: n.similarity })),
      scores: choice.scores,
      recommended: exploration ? exploration.recommended : request.objective ? choice.recommended : undefined,
      exploration,
      filedUnder,
      predictions,
      similarities: neighbours.slice(0, 5).map((n) => n.similarity),
      k,
      truncated,
      fallback,
      categoryKnown,
      stages,
      embedder,
      unknownShare,
    };
  }

  /**
   * POST / as knn-router answers it: the `defaultK` nearest examples, each weighing by its raw
   * similarity, scores aggregated by knn-router's formula (`knnRouterScores`).
   */
  async rankLikeKnnRouter(query: string, truncateStrategy?: TruncateStrategy): Promise<KnnRouterResult> {
    const { neighbours, stages, unknownShare } = await this.neighbours(
      query,
      this.options.choice().k,
      truncateStrategy,
    );
    const aggregating = performance.now();
    const scores = knnRouterScores(neighbours, this.targets.targetFlags());
    stages.aggregate = performance.now() - aggregating;
    return {
      hits: neighbours.map((n) => ({ id: n.id, category: n.category ?? "", similarity: n.similarity })),
      scores,
      stages,
      unknownShare,
    };
  }

  /** Truncates and embeds the query, searches the index, and reads the hits' scores from SQLite. */
  private async neighbours(
    query: string,
    k: number,
    strategy: TruncateStrategy = DEFAULT_TRUNCATE_STRATEGY,
  ): Promise<{
    neighbours: ScoredNeighbour[];
    truncated: boolean;
    stages: Record<RankStage, number>;
    embedder: string;
    unknownShare: number | undefined;
  }> {
    const t0 = performance.now();
    const { embedder, index } = this.embedding.current();
    const { text, truncated } = await prepareText(embedder, query, strategy);
    const unknownShare = embedder.unknownShare?.(text);
    const [vector] = await embedder.embed([text], "query");
    const t1 = performance.now();
    const neighbours: ScoredNeighbour[] = [];
    let t2: number;
    if (!this.store || (this.options.evidenceFrom === "index" && index.searchWithEvidence)) {
      if (!index.searchWithEvidence) throw new Error("without a store, the index must keep the evidence");
      // One query: each hit carries its evidence. A point written without it is left out.
      const found = await index.searchWithEvidence(vector as Float32Array, k);
      t2 = performance.now();
      for (const n of found) {
        if (n.evidence) neighbours.push(scoredNeighbour(n, n.evidence));
      }
    } else {
      const found = await index.search(vector as Float32Array, k);
      t2 = performance.now();
      const evidence = this.store.evidence(found.map((n) => n.id));
      // A neighbour SQLite does not have (deleted meanwhile, not yet replicated) is dropped.
      for (const n of found) {
        const e = evidence.get(n.id);
        if (e) neighbours.push(scoredNeighbour(n, e));
      }
    }
    const stages = { embed: t1 - t0, search: t2 - t1, scores: performance.now() - t2, aggregate: 0 };
    return { neighbours, truncated, stages, embedder: embedder.id, unknownShare };
  }

  private prices(): Map<string, Prices> {
    return new Map(this.targets.targetPrices().map((t) => [t.name, t]));
  }
}
