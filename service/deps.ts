import { existsSync } from "node:fs";
import { rm } from "node:fs/promises";
import type { Config } from "./config.ts";
import { ActiveEmbedding } from "./core/active-embedding.ts";
import { ExampleService } from "./core/example-service.ts";
import { fillFromStore, IndexSync } from "./core/index-sync.ts";
import { Mutex } from "./core/mutex.ts";
import { Ranker } from "./core/ranker.ts";
import { seedFromDirectory } from "./core/seed.ts";
import { readTemplates, SettingsService, type TuningRunner } from "./core/settings-service.ts";
import { TargetService } from "./core/target-service.ts";
import { TargetStatsCache } from "./core/target-stats.ts";
import { promoteStaged, TemplateSwitch } from "./core/template-switch.ts";
import { WriterLock } from "./core/writer-lock.ts";
import type { Embedder } from "./embedding/embedder.ts";
import { createEmbedder, withFeatures } from "./embedding/factory.ts";
import { hasTemplates, type Templates, templatesDigest } from "./embedding/templates.ts";
import { AppError, StartupError } from "./errors.ts";
import type { Deps } from "./http/context.ts";
import { errorFields, type Logger } from "./logger.ts";
import { Metrics } from "./metrics.ts";
import { NO_FEATURES, readSettingsFile } from "./routing/settings-file.ts";
import { type Db, openDatabase } from "./store/database.ts";
import { ExampleStore } from "./store/example-store.ts";
import { SettingsStore } from "./store/settings-store.ts";
import { StagingStore } from "./store/staging-store.ts";
import { StateStore } from "./store/state-store.ts";
import { DeferredIndex } from "./vectors/deferred.ts";
import { type ImageStamp, QuantizedScanIndex } from "./vectors/embedded.ts";
import { createVectorIndex } from "./vectors/factory.ts";
import type { VectorIndex } from "./vectors/vector-index.ts";

export interface Running extends Deps {
  /** The SQLite store, for tools and tests; the HTTP edge goes through the services. */
  store: ExampleStore;
  sync: IndexSync;
  /** Learned templates: trial and switch (self-tuning drives it; tests and tools may too). */
  templates: TemplateSwitch;
  /** Stops the sync loop, the embedder and the index, and closes the database. */
  close(): Promise<void>;
}

/**
 * Builds every dependency from config: opens and migrates SQLite, starts the embedder, brings the
 * vector index in line with SQLite (filled at every start when in-process, reconciled when
 * persistent), seeds an empty database when asked to, and starts the background index sync.
 * `embedder` and `index` replace the configured ones (tests and benchmarks); `metrics` replaces a
 * fresh registry with process metrics.
 */
export async function buildDeps(
  config: Config,
  logger: Logger,
  overrides: {
    embedder?: Embedder;
    index?: VectorIndex;
    metrics?: Metrics;
    tuningRunner?: TuningRunner;
  } = {},
): Promise<Running> {
  const metrics = overrides.metrics ?? new Metrics();
  const readOnly = config.database.readOnly;
  if (readOnly && !existsSync(config.database.path)) {
    throw new StartupError(
      `READ_ONLY=true opens an existing database, and there is none at DATABASE_PATH=${config.database.path}: ` +
        "copy the primary's file there first",
    );
  }
  const { db, sqlite } = openDatabase(config.database.path, { readOnly });
  const store = new ExampleStore(db);
  const state = new StateStore(db);
  const writer =
    readOnly || config.database.path === ":memory:" ? undefined : new WriterLock(state, config.database.path);
  let base: Embedder | undefined;
  let embedder: Embedder | undefined;
  let index: VectorIndex | undefined;
  try {
    writer?.acquire();
    const path = config.rank.settingsPath;
    const tuned = readSettingsFile(path);
    if (path !== undefined && !tuned) {
      throw new StartupError(
        `ROUTING_SETTINGS names ${path}, which does not exist: fix the path or unset it`,
      );
    }
    if (tuned) logger.info("ranking settings pinned by ROUTING_SETTINGS", { path, ...tuned });
    // Templates: pinned by the file with the rest, or learned by self-tuning (recorded in SQLite).
    const templates = tuned ? tuned.features.templates : readTemplates(state);
    base =
      overrides.embedder ??
      (await createEmbedder(withStoredDimension(config.embedder, store), (hits, misses) => {
        if (hits > 0) metrics.embedCache.inc({ result: "hit" }, hits);
        if (misses > 0) metrics.embedCache.inc({ result: "miss" }, misses);
      }));
    embedder = withFeatures(base, tuned?.features ?? { ...NO_FEATURES, templates });
    const staging = new StagingStore(db);
    if (!readOnly && staging.count(embedder.id) > 0) {
      // A switch to these templates was committed and stopped before its vectors were all stored.
      const moved = await promoteStaged(staging, embedder.id);
      logger.info("finished storing the vectors of the learned templates", { moved });
    }
    const foreign = store.otherEmbedders(embedder.id);
    if (foreign.length > 0) {
      const found = foreign.map((f) => `${f.rows} rows by ${f.embedderId}`).join(", ");
      throw new StartupError(
        `the database holds embeddings from another embedder (${found}); the configured embedder is ` +
          `${embedder.id}. Start with the embedder that made them, or re-embed them with \`npm run reindex\`.`,
      );
    }
    const { dimension, id: embedderId } = embedder;
    const open = () => createVectorIndex(vectorsFor(config.vectors, templates), dimension, embedderId);
    const lock = new Mutex();
    let sync: IndexSync | undefined;
    const reconcile = async () => {
      if (readOnly || !sync) return;
      const started = performance.now();
      const fixed = await sync.reconcile();
      logger.info("vector index reconciled with SQLite", {
        ...fixed,
        ms: Math.round(performance.now() - started),
      });
    };
    try {
      index = overrides.index ?? (await open());
    } catch (err) {
      if (!(err instanceof AppError && err.code === "VECTOR_STORE_UNAVAILABLE")) throw err;
      // Start not ready rather than crash-loop: the index opens (and is reconciled) when it answers.
      logger.warn("vector store unreachable at start; serving 503 for it until it answers", errorFields(err));
      index = new DeferredIndex(
        dimension,
        open,
        () => reconcile().catch((e: unknown) => logger.error("reconciliation failed", errorFields(e))),
        (message, attempt) => logger.warn("vector store still unreachable", { message, attempt }),
      );
    }
    const active = new ActiveEmbedding(embedder, index, templates);
    sync = new IndexSync(store, () => active.index, lock, logger, {
      batchSize: config.vectors.batchSize,
      retryMs: config.vectors.retryMs,
    });
    const started = performance.now();
    if (readOnly && index.persistent) {
      // A read-only replica shares the primary's vector store and leaves its upkeep to the primary.
      logger.info("read-only replica: serving /rank from the shared vector store");
    } else if (index instanceof DeferredIndex) {
      // Reconciled when it opens.
    } else if (index.persistent) {
      await reconcile();
    } else {
      const image = imageOf(config, index);
      const fromImage =
        image !== undefined && (await restoreImage(image.path, image.index, store, db, embedder.id, logger));
      if (!fromImage) await fillFromStore(store, index, embedder.id, readOnly);
      logger.info("vector index loaded", {
        vectors: await index.count(),
        from: fromImage ? "image" : "database",
        ms: Math.round(performance.now() - started),
      });
    }

    const stats = new TargetStatsCache(store);
    const settingsStore = new SettingsStore(db);
    const baseEmbedder = base;
    const switcher = new TemplateSwitch(
      store,
      staging,
      active,
      baseEmbedder,
      async (t, e, fresh) => {
        const vectors = vectorsFor(config.vectors, t);
        const opened = await createVectorIndex(vectors, e.dimension, e.id, fresh ? "recreate" : "refuse");
        // A fresh index starts empty: what a stopped trial left in a collection of the same name goes.
        if (!fresh || !opened.persistent || (await opened.count()) === 0 || !opened.drop) return opened;
        await opened.drop();
        return createVectorIndex(vectors, e.dimension, e.id);
      },
      lock,
      () => settingsStore.dataVersion(),
      logger,
    );
    const settings = new SettingsService(settingsStore, store, active, logger, metrics, config.tuning, {
      readOnly,
      defaultK: config.rank.defaultK,
      ...(tuned && { file: { k: tuned.k, settings: tuned.settings } }),
      ...(overrides.tuningRunner && { runner: overrides.tuningRunner }),
      // A replica follows the primary's templates whatever TUNE_TEMPLATES says: its vectors are made with them.
      ...(!tuned && (config.tuning.templates || readOnly) && { templates: { switcher, state } }),
    });
    const examples = new ExampleService(store, active, sync, lock, logger, () => {
      stats.invalidate();
      settings.noteWrite();
    });
    const ranker = new Ranker(store, active, stats, {
      choice: () => settings.choice(),
      fallbackTarget: config.rank.fallbackTarget,
    });
    const targets = new TargetService(store);
    // Seeding is marked started, then done: a start after a crash in between seeds again (upserts,
    // so what was written is overwritten, not duplicated) and the targets get their prices.
    const seed = state.get("seed");
    const seedNow = seed === "started" || (seed === undefined && store.countExamples() === 0);
    if (!readOnly && config.database.seedOnEmpty && seedNow) {
      state.set("seed", "started");
      const seeded = await seedFromDirectory(config.database.seedDir, examples, targets);
      state.set("seed", "done");
      logger.info("seeded the database", {
        dir: config.database.seedDir,
        resumed: seed === "started",
        ...seeded,
      });
    }
    if (!readOnly) sync.start();
    settings.start();
    metrics.watch({
      examples: () => store.countExamples(),
      vectors: () => active.index.count(),
      unsynced: () => store.countUnindexed(),
    });
    return {
      config,
      logger,
      metrics,
      store,
      get embedder() {
        return active.embedder;
      },
      get index() {
        return active.index;
      },
      ranker,
      examples,
      targets,
      settings,
      sync,
      templates: switcher,
      lifecycle: { draining: false },
      pingDatabase: async () => {
        sqlite.prepare("select 1").get();
      },
      close: async () => {
        await settings.stop();
        await sync.stop();
        await switcher.close();
        const { embedder: e, index: i } = active.current();
        await e.close();
        // Under the write lock: no write can change the index while it is being saved.
        await lock.run(() => saveImage(config, i, store, db, e.id, logger));
        await i.close();
        writer?.release();
        sqlite.close();
      },
    };
  } catch (err) {
    await (embedder ?? base)?.close();
    await index?.close();
    writer?.release();
    sqlite.close();
    throw err;
  }
}

/**
 * The embedded index and where it keeps its image (`DATABASE_PATH.vectors`), or undefined when it keeps
 * none: another index, an in-memory or read-only database, or INDEX_IMAGE=false.
 */
function imageOf(
  config: Config,
  index: VectorIndex,
): { path: string; index: QuantizedScanIndex } | undefined {
  const { path, readOnly } = config.database;
  if (!config.vectors.image || readOnly || path === ":memory:" || !(index instanceof QuantizedScanIndex))
    return undefined;
  return { path: `${path}.vectors`, index };
}

/** What the index holds now, as the database says: the stamp an image must carry to be used. */
function currentStamp(store: ExampleStore, db: Db, embedderId: string): ImageStamp {
  return {
    embedderId,
    dataVersion: new SettingsStore(db).dataVersion(),
    vectors: store.countVectors(embedderId),
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
  store: ExampleStore,
  db: Db,
  embedderId: string,
  logger: Logger,
): Promise<boolean> {
  // What a save cut short by a crash left.
  await rm(`${path}.tmp`, { force: true });
  if (!existsSync(path)) return false;
  const now = currentStamp(store, db, embedderId);
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

/**
 * At a clean shutdown, saves the embedded index beside the database, when it holds exactly what
 * SQLite does (nothing waiting for the background sync).
 */
async function saveImage(
  config: Config,
  index: VectorIndex,
  store: ExampleStore,
  db: Db,
  embedderId: string,
  logger: Logger,
): Promise<void> {
  const image = imageOf(config, index);
  if (image === undefined) return;
  if (store.countUnindexed() > 0 || store.pendingDeleteIds(1).length > 0) return;
  const started = performance.now();
  try {
    await image.index.saveImage(image.path, currentStamp(store, db, embedderId));
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
function withStoredDimension(config: Config["embedder"], store: ExampleStore): Config["embedder"] {
  if (config.kind !== "huggingface") return config;
  const name = config.huggingface.model ?? config.huggingface.endpointUrl;
  const prefix = `huggingface:${name}:`;
  for (const { embedderId } of store.otherEmbedders("")) {
    const dimension = embedderId.startsWith(prefix)
      ? /^(\d+)(\+|$)/.exec(embedderId.slice(prefix.length))?.[1]
      : undefined;
    if (dimension) return { ...config, huggingface: { ...config.huggingface, dimension: Number(dimension) } };
  }
  return config;
}

/**
 * Where the vectors made with `templates` stripped live: a Qdrant collection of their own (the
 * configured name, suffixed by the templates' digest), so that a switch fills a new one while the
 * one in force serves. An in-process index is built at every start anyway.
 */
function vectorsFor(config: Config["vectors"], templates: Templates): Config["vectors"] {
  if (config.kind !== "qdrant" || !hasTemplates(templates)) return config;
  const collection = `${config.qdrant.collection}-templates-${templatesDigest(templates)}`;
  return { ...config, qdrant: { ...config.qdrant, collection } };
}
