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
  withIntroduced,
  withUnsupported,
} from "../routing/aggregate.ts";
import { type Explored, explore } from "../routing/explore.ts";
import { choose, type Objective, type PricedTarget, type Prices } from "../routing/objective.ts";
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
   * Most share of answers whose recommendation may explore (EXPLORATION_SHARE); 0, the default, is
   * off. When on, every answer recommends, and every enabled target is offered (at its prior with
   * support 0 where no neighbour scored it).
   */
  explorationShare?: number;
  /** Uniform [0, 1) numbers for exploration; Math.random by default. */
  random?: () => number;
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

    const { fallbackTarget } = this.options;
    const { category } = request;
    const why = fallbackReason(neighbours, settings, k);
    const share = this.options.explorationShare ?? 0;
    const introduced = targets.some((t) => t.priorScore !== null);
    const stats =
      settings.shrinkage > 0 || why !== undefined || category !== undefined || share > 0 || introduced
        ? this.smoothedStats(targets)
        : undefined;
    const categoryKnown = category === undefined ? undefined : stats?.byCategory.has(category) === true;
    let fallback: string | undefined;
    let scores: RankedTarget[];
    if (why !== undefined && stats) {
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
      });
    }
    if (stats) {
      scores = withUnsupported(scores, why === undefined ? neighbours : [], targets, stats, {
        only: request.targets,
        settings,
        category,
        all: share > 0,
      });
    }
    const prices = request.objective && this.prices();
    const decide = (ranked: RankedTarget[]) =>
      request.objective && prices
        ? choose(ranked, prices, request.objective)
        : { recommended: ranked[0]?.target ?? null, scores: ranked };
    const choice = decide(scores);
    const exploration =
      share > 0
        ? explore(scores, choice.recommended, request.objective && ((drawn) => decide(drawn).recommended), {
            share,
            random: this.options.random,
          })
        : undefined;
    stages.aggregate = performance.now() - aggregating;
    return {
      hits: neighbours.map((n) => ({ id: n.id, category: n.category, similarity: n.similarity })),
      scores: choice.scores,
      recommended: exploration ? exploration.recommended : request.objective ? choice.recommended : undefined,
      exploration,
      filedUnder: category ?? dominantCategory(neighbours, settings),
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

  /**
   * The statistics with introduced targets' means smoothed (`withIntroduced`), computed again only
   * when the statistics or the introduced targets' priors changed: it copies every category's means,
   * which /rank need not do at every request.
   */
  private smoothedStats(targets: readonly TargetInfo[]): TargetStats {
    const stats = this.stats.get();
    const key = targets
      .filter((t) => t.priorScore !== null)
      .map((t) => `${t.name}=${t.priorScore}`)
      .join("\n");
    if (this.smoothed?.stats !== stats || this.smoothed.key !== key) {
      this.smoothed = { stats, key, result: withIntroduced(stats, targets) };
    }
    return this.smoothed.result;
  }

  private smoothed: { stats: TargetStats; key: string; result: TargetStats } | undefined;

  private prices(): Map<string, Prices> {
    return new Map(this.targets.targetPrices().map((t) => [t.name, t]));
  }
}
