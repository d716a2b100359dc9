/**
 * The composition of a replica (ROLE=replica): no database, no writer lock, no tuning, no admin
 * API. It ranks by the routing document the primary publishes in Qdrant and the evidence each point
 * carries; it only reads Qdrant, never creates, moves or deletes anything there.
 */

import type { Config } from "./config.ts";
import type { Embedding } from "./core/active-embedding.ts";
import type { Embedder } from "./embedding/embedder.ts";
import { createEmbedder, withFeatures } from "./embedding/factory.ts";
import { AppError } from "./errors.ts";
import type { Deps } from "./http/context.ts";
import { LearningPolicy } from "./learning/exploration.ts";
import type { Logger } from "./logger.ts";
import { Metrics } from "./metrics.ts";
import { qdrantDocumentStore } from "./replicas/document-store.ts";
import { DocumentFollower } from "./replicas/follower.ts";
import { RankingRelay } from "./replicas/relay.ts";
import { ReplicaRanker } from "./replicas/replica-ranker.ts";
import type { RoutingDocument } from "./replicas/routing-document.ts";

export interface ReplicaRunning extends Deps {
  follower: DocumentFollower;
  close(): Promise<void>;
}

export async function buildReplica(
  config: Config,
  logger: Logger,
  overrides: { embedder?: Embedder } = {},
): Promise<ReplicaRunning> {
  if (config.vectors.kind !== "qdrant") {
    // Not a crash loop: the process stays up, not ready, saying why (and tries again now and then).
    throw new AppError(
      "NOT_READY",
      `ROLE=replica needs VECTOR_STORE=qdrant (and QDRANT_URL), not ${config.vectors.kind}: a replica holds no state and reads everything from Qdrant`,
      { retryAfterSeconds: 30 },
    );
  }
  const metrics = new Metrics();
  const base = overrides.embedder ?? (await createEmbedder(config.embedder));
  const { qdrant } = config.vectors;
  const { QdrantIndex } = await import("./vectors/qdrant.ts");

  /** The embedder and the collection `doc` names, reusing the previous ones where they are the same. */
  const open = async (doc: RoutingDocument, previous: Embedding | undefined): Promise<Embedding> => {
    const embedder =
      previous && previous.embedder.id === doc.embedder.id
        ? previous.embedder
        : withFeatures(base, doc.embedder.features);
    if (embedder.id !== doc.embedder.id) {
      throw new AppError(
        "NOT_READY",
        `this replica embeds with ${embedder.id} but the primary's vectors were made with ${doc.embedder.id}: ` +
          "configure the same EMBEDDER (and model) as the primary",
      );
    }
    const index =
      previous &&
      previous.index.collection === doc.collection &&
      previous.embedder.dimension === embedder.dimension
        ? previous.index
        : await QdrantIndex.open(
            {
              url: qdrant.url as string,
              apiKey: qdrant.apiKey,
              collection: doc.collection,
              timeoutMs: qdrant.timeoutMs,
              batchSize: config.vectors.batchSize,
              embedderId: doc.embedder.id,
              create: false,
            },
            embedder.dimension,
          );
    return { embedder, index, templates: doc.embedder.features.templates };
  };

  const follower = new DocumentFollower(qdrantDocumentStore(config), open, logger, {
    pollMs: config.database.replicaPollMs,
    maxStalenessSeconds: config.replica.maxStalenessSeconds,
  });
  await follower.start();
  metrics.watchDocument(() => follower.state());
  const keeper = rankingRelay(config, logger, metrics);
  const ranker = new ReplicaRanker(
    follower,
    config.rank.fallbackTarget,
    new LearningPolicy({
      explorationShare: config.rank.explorationShare,
      ...(keeper && { trials: config.rank.trials }),
    }),
  );
  return {
    config,
    logger,
    metrics,
    get embedder() {
      return follower.state() ? follower.current().embedder : base;
    },
    get index() {
      return follower.current().index;
    },
    ranker,
    ...(keeper && { keeper }),
    checks: {
      document: () => follower.check(),
      index: () => follower.current().index.health(),
      embedder: () => base.health(),
    },
    document: () => follower.state(),
    lifecycle: { draining: false },
    follower,
    close: async () => {
      await keeper?.close();
      await follower.stop();
      if (follower.state()) await follower.current().index.close();
      await base.close();
    },
  };
}

/**
 * Where a replica's rankings go when feedback is on (FEEDBACK_TOKEN): to the primary (PRIMARY_URL),
 * handed over with REPLICA_TOKEN. Without either, nothing is kept, and the start says why.
 */
function rankingRelay(config: Config, logger: Logger, metrics: Metrics): RankingRelay | undefined {
  if (!config.feedback.token) return undefined;
  const { primaryUrl, token } = config.replica;
  if (!primaryUrl || !token) {
    logger.warn(
      "FEEDBACK_TOKEN is set, but rankings are not handed to the primary: set PRIMARY_URL and REPLICA_TOKEN " +
        "(the primary's), or outcomes on this replica's rankings answer 404",
      { primaryUrl: primaryUrl ?? null, replicaToken: token ? "set" : "unset" },
    );
    return undefined;
  }
  return new RankingRelay(logger, {
    primaryUrl,
    token,
    onResult: (result, count) => metrics.handedOver.inc({ result }, count),
  });
}
