/**
 * The service's start-up (and shutdown) procedures, each a named step that `buildDeps` runs in
 * order once the parts are wired: finish a template switch cut short, check that the stored
 * vectors are the embedder's, load or reconcile the vector index, seed an empty database; at a
 * clean shutdown, save the index image.
 */
import { existsSync } from "node:fs";
import { rm } from "node:fs/promises";
import type { Config } from "./config.ts";
import type { ExampleService } from "./core/example-service.ts";
import { fillFromStore, type IndexSync } from "./core/index-sync.ts";
import { seedFromDirectory } from "./core/seed.ts";
import type { TargetService } from "./core/target-service.ts";
import { StartupError } from "./errors.ts";
import { errorFields, type Logger } from "./logger.ts";
import type { Stores } from "./store/stores.ts";
import { promoteStaged } from "./templates/switch.ts";
import { DeferredIndex } from "./vectors/deferred.ts";
import { type ImageStamp, QuantizedScanIndex } from "./vectors/embedded.ts";
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
 * Fills an in-process index: from its image when the image was taken from the database as it is
 * now, else from the stored vectors.
 */
async function loadIndex(
  config: Config,
  stores: Stores,
  index: VectorIndex,
  embedderId: string,
  logger: Logger,
): Promise<void> {
  const started = performance.now();
  const image = imageOf(config, index);
  const fromImage =
    image !== undefined && (await restoreImage(image.path, image.index, stores, embedderId, logger));
  if (!fromImage) await fillFromStore(stores.ledger, index, embedderId);
  logger.info("vector index loaded", {
    vectors: await index.count(),
    from: fromImage ? "image" : "database",
    ms: Math.round(performance.now() - started),
  });
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
 * At a clean shutdown, saves the embedded index beside the database, when it holds exactly what
 * SQLite does (nothing waiting for the background sync).
 */
export async function saveIndexImage(
  config: Config,
  stores: Stores,
  index: VectorIndex,
  embedderId: string,
  logger: Logger,
): Promise<void> {
  const image = imageOf(config, index);
  if (image === undefined) return;
  if (stores.ledger.countUnindexed() > 0 || stores.ledger.pendingDeleteIds(1).length > 0) return;
  const started = performance.now();
  try {
    await image.index.saveImage(image.path, currentStamp(stores, embedderId));
    logger.info("index image saved", { path: image.path, ms: Math.round(performance.now() - started) });
  } catch (err) {
    logger.warn("index image not saved: the next start fills the index from the database", {
      path: image.path,
      ...errorFields(err),
    });
  }
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

/**
 * The embedded index and where it keeps its image (`DATABASE_PATH.vectors`), or undefined when it keeps
 * none: another index, an in-memory database, or INDEX_IMAGE=false.
 */
function imageOf(
  config: Config,
  index: VectorIndex,
): { path: string; index: QuantizedScanIndex } | undefined {
  const { path } = config.database;
  if (!config.vectors.image || path === ":memory:" || !(index instanceof QuantizedScanIndex))
    return undefined;
  return { path: `${path}.vectors`, index };
}

/** What the index holds now, as the database says: the stamp an image must carry to be used. */
function currentStamp(stores: Stores, embedderId: string): ImageStamp {
  return {
    embedderId,
    dataVersion: stores.settings.dataVersion(),
    vectors: stores.ledger.countVectors(embedderId),
  };
}

/**
 * Fills the index from its image when the image was taken from the database as it is now (same
 * embedder, no example written since, as many vectors). The image is removed once read, used or
 * not: it stands for one clean shutdown, and any later change makes it stale.
 */
async function restoreImage(
  path: string,
  index: QuantizedScanIndex,
  stores: Stores,
  embedderId: string,
  logger: Logger,
): Promise<boolean> {
  // What a save cut short by a crash left.
  await rm(`${path}.tmp`, { force: true });
  if (!existsSync(path)) return false;
  const now = currentStamp(stores, embedderId);
  try {
    const used = await index.restoreImage(
      path,
      (s) =>
        s.embedderId === now.embedderId && s.dataVersion === now.dataVersion && s.vectors === now.vectors,
    );
    if (!used) logger.info("index image is stale: filling the index from the database", { path });
    return used;
  } catch (err) {
    logger.warn("index image unreadable: filling the index from the database", { path, ...errorFields(err) });
    return false;
  } finally {
    await rm(path, { force: true });
  }
}
