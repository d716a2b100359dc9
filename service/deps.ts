import type { Config } from "./config.ts";
import { ExampleService } from "./core/example-service.ts";
import { Ranker } from "./core/ranker.ts";
import { seedFromDirectory } from "./core/seed.ts";
import type { Embedder } from "./embedding/embedder.ts";
import { createEmbedder } from "./embedding/factory.ts";
import type { Deps } from "./http/context.ts";
import type { Logger } from "./logger.ts";
import { openDatabase } from "./store/database.ts";
import { ExampleStore } from "./store/example-store.ts";
import { createVectorIndex } from "./vectors/factory.ts";

/** A start-up failure the operator must fix; its message says how. */
export class StartupError extends Error {
  override readonly name = "StartupError";
}

export interface Running extends Deps {
  /** Stops the embedder and index and closes the database. */
  close(): Promise<void>;
}

/**
 * Builds every dependency from config: opens and migrates SQLite, starts the embedder, fills the
 * vector index from the stored embeddings, and seeds an empty database when asked to.
 * `embedder` replaces the configured one (tests and benchmarks).
 */
export async function buildDeps(
  config: Config,
  logger: Logger,
  overrides: { embedder?: Embedder } = {},
): Promise<Running> {
  const { db, sqlite } = openDatabase(config.database.path);
  const store = new ExampleStore(db);
  const embedder = overrides.embedder ?? (await createEmbedder(config.embedder));
  try {
    const foreign = store.otherEmbedders(embedder.id);
    if (foreign.length > 0) {
      const found = foreign.map((f) => `${f.rows} rows by ${f.embedderId}`).join(", ");
      throw new StartupError(
        `the database holds embeddings from another embedder (${found}); the configured embedder is ` +
          `${embedder.id}. Start with the embedder that made them, or re-embed them with \`npm run reindex\`.`,
      );
    }
    const index = await createVectorIndex(config.vectors, embedder.dimension);
    const started = performance.now();
    let batch: Array<{ id: string; vector: Float32Array }> = [];
    for (const row of store.storedVectors(embedder.id)) {
      batch.push(row);
      if (batch.length === 5000) {
        await index.upsert(batch);
        batch = [];
      }
    }
    await index.upsert(batch);
    store.markAllIndexed();
    logger.info("vector index loaded", {
      vectors: await index.count(),
      ms: Math.round(performance.now() - started),
    });

    const examples = new ExampleService(store, embedder, index);
    const ranker = new Ranker(store, embedder, index, config.rank.defaultK);
    if (config.database.seedOnEmpty && store.countExamples() === 0) {
      const seeded = await seedFromDirectory(config.database.seedDir, examples, store);
      logger.info("seeded empty database", { dir: config.database.seedDir, ...seeded });
    }
    return {
      config,
      logger,
      store,
      embedder,
      index,
      ranker,
      examples,
      pingDatabase: async () => {
        sqlite.prepare("select 1").get();
      },
      close: async () => {
        await embedder.close();
        await index.close();
        sqlite.close();
      },
    };
  } catch (err) {
    await embedder.close();
    sqlite.close();
    throw err;
  }
}
