import type { Embedder } from "../embedding/embedder.ts";
import { DEFAULT_TRUNCATE_STRATEGY, type TruncateStrategy, truncate } from "../embedding/truncate.ts";
import { AppError } from "../errors.ts";
import { type RankedTarget, rankTargets, type ScoredNeighbour } from "../routing/aggregate.ts";
import type { ExampleStore } from "../store/example-store.ts";
import type { VectorIndex } from "../vectors/vector-index.ts";

export interface RankRequest {
  query: string;
  k?: number;
  targets?: readonly string[];
  truncateStrategy?: TruncateStrategy;
}

export interface RankHit {
  id: string;
  category: string | null;
  similarity: number;
}

export interface RankResult {
  hits: RankHit[];
  scores: RankedTarget[];
  k: number;
  /** True when the query was cut to the embedder's input limit before embedding. */
  truncated: boolean;
}

/** POST /rank: embed the query, find its neighbours, read their scores from SQLite, aggregate. */
export class Ranker {
  constructor(
    private readonly store: ExampleStore,
    private readonly embedder: Embedder,
    private readonly index: VectorIndex,
    private readonly defaultK: number,
  ) {}

  async rank(request: RankRequest): Promise<RankResult> {
    const targets = this.store.targetFlags();
    if (request.targets) {
      const known = new Set(targets.map((t) => t.name));
      const unknown = request.targets.filter((t) => !known.has(t));
      if (unknown.length > 0) {
        throw new AppError("UNKNOWN_TARGET", `unknown targets: ${unknown.join(", ")}`, {
          details: unknown.map((t) => ({ path: "targets", message: `no example scores ${t}` })),
        });
      }
    }
    const k = request.k ?? this.defaultK;
    const text = truncate(
      request.query,
      this.embedder.maxInputTokens,
      request.truncateStrategy ?? DEFAULT_TRUNCATE_STRATEGY,
    );
    const [vector] = await this.embedder.embed([text], "query");
    const found = await this.index.search(vector as Float32Array, k);
    const evidence = this.store.evidence(found.map((n) => n.id));
    // A neighbour deleted between the search and the read is dropped: every hit has its scores.
    const neighbours: ScoredNeighbour[] = [];
    for (const n of found) {
      const e = evidence.get(n.id);
      if (e) neighbours.push({ id: n.id, similarity: n.similarity, category: e.category, scores: e.scores });
    }
    return {
      hits: neighbours.map((n) => ({ id: n.id, category: n.category, similarity: n.similarity })),
      scores: rankTargets(neighbours, targets, { only: request.targets }),
      k,
      truncated: text !== request.query,
    };
  }
}
