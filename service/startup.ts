/**
 * The service's start-up (and shutdown) procedures, each a named step that `buildDeps` runs in
 * order once the parts are wired: finish a template switch cut short, check that the stored
 * vectors are the embedder's, load or reconcile the vector index, seed an empty database. The
 * embedded index's image and journal are `index-image.ts`'s.
 */
import type { Config } from "./config.ts";
import type { ExampleService } from "./core/example-service.ts";
import type { IndexSync } from "./core/index-sync.ts";
import { seedFromDirectory } from "./core/seed.ts";
import type { TargetService } from "./core/target-service.ts";
import { StartupError } from "./errors.ts";
import { loadIndex } from "./index-image.ts";
import type { Logger } from "./logger.ts";
import type { Stores } from "./store/stores.ts";
import { promoteStaged } from "./templates/switch.ts";
import { DeferredIndex } from "./vectors/deferred.ts";
import type { VectorIndex } from "./vectors/vector-index.ts";

/** A switch to these templates was committed and stopped before its vectors were all stored: finish it. */
export async function finishTemplateSwitch(
  stores: Stores,
  embedderId: string,
  logger: Logger,
): Promise<void> {
  if (stores.staging.count(embedderId) === 0) return;
  const moved = await promoteStaged(stores.staging, embedderId);
  logger.info("finished storing the vectors of the learned templates", { moved });
}

/** Refuses to start when stored vectors were made by another embedder than the configured one. */
export function assertOneEmbedder(stores: Stores, embedderId: string): void {
  const foreign = stores.ledger.otherEmbedders(embedderId);
  if (foreign.length === 0) return;
  const found = foreign.map((f) => `${f.rows} rows by ${f.embedderId}`).join(", ");
  throw new StartupError(
    `the database holds embeddings from another embedder (${found}); the configured embedder is ` +
      `${embedderId}. Start with the embedder that made them, or re-embed them with \`npm run reindex\` ` +
      "(in the image: `node dist/cli/reindex.js`; docs/deployment.md has the compose steps).",
  );
}

/** Copies to a persistent index what it lacks and removes what SQLite no longer holds. */
export async function reconcileIndex(sync: IndexSync, logger: Logger): Promise<void> {
  const started = performance.now();
  const fixed = await sync.reconcile();
  logger.info("vector index reconciled with SQLite", {
    ...fixed,
    ms: Math.round(performance.now() - started),
  });
}

/**
 * Brings the vector index in line with SQLite: an in-process one is loaded, a persistent one
 * reconciled, one that has not opened yet is reconciled when it opens.
 */
export async function bringIndexInLine(
  config: Config,
  stores: Stores,
  index: VectorIndex,
  embedderId: string,
  reconcile: () => Promise<void>,
  logger: Logger,
): Promise<void> {
  if (index instanceof DeferredIndex) {
    // Reconciled when it opens.
  } else if (index.persistent) {
    await reconcile();
  } else {
    await loadIndex(config, stores, index, embedderId, logger);
  }
}

/**
 * Seeds an empty database from SEED_DIR when asked to. Seeding is marked started, then done: a
 * start after a crash in between seeds again (upserts, so what was written is overwritten, not
 * duplicated) and the targets get their prices.
 */
export async function seedIfEmpty(
  config: Config,
  stores: Stores,
  examples: ExampleService,
  targets: TargetService,
  logger: Logger,
): Promise<void> {
  const seed = stores.state.get("seed");
  const seedNow = seed === "started" || (seed === undefined && stores.examples.countExamples() === 0);
  if (!config.database.seedOnEmpty || !seedNow) return;
  stores.state.set("seed", "started");
  const seeded = await seedFromDirectory(config.database.seedDir, examples, targets);
  stores.state.set("seed", "done");
  logger.info("seeded the database", {
    dir: config.database.seedDir,
    resumed: seed === "started",
    ...seeded,
  });
}

/**
 * The remote embedder's dimension as the stored vectors it made say (their embedder id ends in it),
 * so that a start while the embedding server is down need not wait for its probe.
 */
export function withStoredDimension(config: Config["embedder"], stores: Stores): Config["embedder"] {
  const prefix =
    config.kind === "huggingface"
      ? `huggingface:${config.huggingface.model ?? config.huggingface.endpointUrl}:`
      : config.kind === "openai"
        ? `openai:${config.openai.model}:`
        : undefined;
  if (prefix === undefined) return config;
  for (const { embedderId } of stores.ledger.otherEmbedders("")) {
    const stored = embedderId.startsWith(prefix)
      ? /^(\d+)(\+|$)/.exec(embedderId.slice(prefix.length))?.[1]
      : undefined;
    if (!stored) continue;
    const dimension = Number(stored);
    return config.kind === "huggingface"
      ? { ...config, huggingface: { ...config.huggingface, dimension } }
      : { ...config, openai: { ...config.openai, dimension } };
  }
  return config;
}
