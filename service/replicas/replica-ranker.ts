import { Ranker, type RankRequest, type RecommendationPolicy } from "../core/ranker.ts";
import type { TruncateStrategy } from "../embedding/truncate.ts";
import { AppError } from "../errors.ts";
import { CollectionMissingError } from "../vectors/vector-index.ts";
import type { DocumentFollower } from "./follower.ts";
import { documentStats } from "./routing-document.ts";

/**
 * A replica's ranking: everything from the routing document in force (settings, targets, prices,
 * means; the embedder and the collection) and the hits' evidence from Qdrant's payloads, with no
 * database. When the collection it queries is gone (the primary moved on), it reads the document
 * again and retries once; if the collection is still missing, 503 VECTOR_STORE_UNAVAILABLE, never
 * a 500.
 */
export class ReplicaRanker extends Ranker {
  constructor(
    private readonly follower: DocumentFollower,
    fallbackTarget: string | undefined,
    /** Exploration and new targets' trials (trials only where this replica's rankings reach the primary). */
    policy?: RecommendationPolicy,
  ) {
    super(
      undefined,
      {
        targetFlags: () =>
          follower
            .document()
            .targets.map((t) => ({ name: t.name, enabled: t.enabled, priorScore: t.priorScore ?? null })),
        targetPrices: () => follower.document().targets,
      },
      { current: () => follower.current() },
      { get: () => documentStats(follower.document()) },
      {
        choice: () => follower.document().choice,
        fallbackTarget,
        evidenceFrom: "index",
        ...(policy && { policy }),
      },
    );
  }

  override rank(request: RankRequest) {
    return this.once(() => super.rank(request));
  }

  override rankLikeKnnRouter(query: string, truncateStrategy?: TruncateStrategy) {
    return this.once(() => super.rankLikeKnnRouter(query, truncateStrategy));
  }

  private async once<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      if (!(err instanceof CollectionMissingError)) throw err;
      await this.follower.pollNow();
      try {
        return await call();
      } catch (again) {
        if (!(again instanceof CollectionMissingError)) throw again;
        throw new AppError(
          "VECTOR_STORE_UNAVAILABLE",
          "the vector collection is gone and the routing document names no other yet",
          { cause: again, retryAfterSeconds: 2 },
        );
      }
    }
  }
}
