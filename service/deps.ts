/**
 * The one composition root: the service (`buildDeps`) and every command that opens the database
 * (`openStorage`, `serviceEmbedder`, `indexConfig`) are wired here, so that they take the writer
 * lock the same way, strip the same learned templates and name the same vector collections.
 * Start-up procedures are named steps of their own (`startup.ts`).
 */
import type Database from "better-sqlite3";
import type { Config } from "./config.ts";
import { ActiveEmbedding } from "./core/active-embedding.ts";
import { Backups } from "./core/backups.ts";
import { EvidenceIndex } from "./core/evidence-index.ts";
import { ExampleService } from "./core/example-service.ts";
import { ExampleWriter, recoverImports } from "./core/example-writer.ts";
import { IndexSync } from "./core/index-sync.ts";
import { Mutex } from "./core/mutex.ts";
import { Ranker } from "./core/ranker.ts";
import { TargetService } from "./core/target-service.ts";
import { TargetStatsCache } from "./core/target-stats.ts";
import { Traffic } from "./core/traffic.ts";
import { WriterLock } from "./core/writer-lock.ts";
import type { Embedder } from "./embedding/embedder.ts";
import { createEmbedder, withFeatures } from "./embedding/factory.ts";
import { type EmbeddingFeatures, NO_FEATURES } from "./embedding/features.ts";
import type { Templates } from "./embedding/templates.ts";
import { AppError, StartupError } from "./errors.ts";
import type { AdminServices, Deps } from "./http/context.ts";
import { ImageKeeper, saveIndexImage } from "./index-image.ts";
import { LearningPolicy } from "./learning/exploration.ts";
import { FeedbackService } from "./learning/feedback-service.ts";
import { QuizService } from "./learning/quiz.ts";
import { errorFields, type Logger } from "./logger.ts";
import { Metrics } from "./metrics.ts";
import { qdrantDocumentStore } from "./replicas/document-store.ts";
import { DocumentPublisher } from "./replicas/publisher.ts";
import { type DocumentTarget, documentContent } from "./replicas/routing-document.ts";
import type { RoutingChoice } from "./routing/tuning.ts";
import {
  assertOneEmbedder,
  bringIndexInLine,
  finishTemplateSwitch,
  reconcileIndex,
  seedIfEmpty,
  withStoredDimension,
} from "./startup.ts";
import { Checkpointer } from "./store/checkpointer.ts";
import { type Db, type OpenDatabase, openDatabase } from "./store/database.ts";
import { StateStore } from "./store/state-store.ts";
import { openStores, type Stores } from "./store/stores.ts";
import { vectorsFor } from "./templates/collections.ts";
import { readTemplates } from "./templates/state.ts";
import { TemplateSwitch } from "./templates/switch.ts";
import { TemplateTrials } from "./templates/trial.ts";
import { readSettingsFile } from "./tuning/settings-file.ts";
import { SettingsModel } from "./tuning/settings-model.ts";
import { Tuner } from "./tuning/tuner.ts";
import type { TuningRunner } from "./tuning/worker.ts";
import { DeferredIndex } from "./vectors/deferred.ts";
import { createVectorIndex } from "./vectors/factory.ts";
import type { VectorIndex } from "./vectors/vector-index.ts";

export interface Running extends Deps, AdminServices {
  admin: AdminServices;
  /** The store of each aggregate, for tools and tests; the HTTP edge goes through the services. */
  stores: Stores;
  sync: IndexSync;
  /** Learned templates: staging and switch (self-tuning drives it; tests and tools may too). */
  templates: TemplateSwitch;
  /** With Qdrant, on the primary: publishes the routing document replicas rank by. */
  publisher: DocumentPublisher | undefined;
  /** Stops the sync loop, the embedder and the index, and closes the database. */
  close(): Promise<void>;
}

/** The database opened for a process: its stores, and the writer lock held while it writes. */
export interface Storage {
  db: Db;
  sqlite: Database.Database;
  stores: Stores;
  /** Releases the writer lock and closes the database. */
  close(): Promise<void>;
}

/**
 * Opens and migrates SQLite and, unless the database is in memory, takes the writer lock (one
 * process writes a database file at a time, whether the service or a command) and starts the
 * checkpoint thread (`Checkpointer`).
 */
export function openStorage(config: Config, logger: Logger): Storage {
  const { path } = config.database;
  const { db, sqlite } = openDatabase(path);
  const stores = openStores(db);
  const writer = path === ":memory:" ? undefined : new WriterLock(stores.state, path);
  try {
    writer?.acquire();
  } catch (err) {
    sqlite.close();
    throw err;
  }
  const checkpointer = Checkpointer.start(path, sqlite, logger);
  return {
    db,
    sqlite,
    stores,
    close: async () => {
      await checkpointer?.stop();
      writer?.release();
      sqlite.close();
    },
  };
}

/** What the service embeds with: a ROUTING_SETTINGS file pins features and settings together. */
export interface EmbeddingPlan {
  features: EmbeddingFeatures;
  /** The settings the file pins, when there is one. */
  file: (RoutingChoice & { path: string }) | undefined;
}

/**
 * The features prompts are embedded with: the ROUTING_SETTINGS file's, or the templates
 * self-tuning learned (recorded in SQLite).
 */
export function embeddingPlan(config: Config, stores: Stores): EmbeddingPlan {
  const path = config.rank.settingsPath;
  const file = readSettingsFile(path);
  if (path !== undefined && !file) {
    throw new StartupError(`ROUTING_SETTINGS names ${path}, which does not exist: fix the path or unset it`);
  }
  if (path === undefined || !file) {
    return { features: { ...NO_FEATURES, templates: readTemplates(stores.state) }, file: undefined };
  }
  return { features: file.features, file: { k: file.k, settings: file.settings, path } };
}

/** The configured embedder (or `base`), with the plan's features. */
export async function serviceEmbedder(
  config: Config,
  stores: Stores,
  features: EmbeddingFeatures,
  base?: Embedder,
  onCacheLookup?: (hits: number, misses: number) => void,
): Promise<{ base: Embedder; embedder: Embedder }> {
  const configured =
    base ?? (await createEmbedder(withStoredDimension(config.embedder, stores), onCacheLookup));
  return { base: configured, embedder: withFeatures(configured, features) };
}

/** The vector index configuration for vectors made with `templates` (their own Qdrant collection). */
export function indexConfig(config: Config, templates: Templates): Config["vectors"] {
  return vectorsFor(config.vectors, templates);
}

/**
 * An online, consistent copy of the database at `file` (the driver's backup API), which starts
 * unclaimed: the writer claim of the running instance is not part of it.
 */
async function backupDatabase(sqlite: OpenDatabase["sqlite"], file: string): Promise<void> {
  await sqlite.backup(file);
  const copy = openDatabase(file);
  try {
    WriterLock.clearIn(new StateStore(copy.db));
    copy.sqlite.pragma("wal_checkpoint(TRUNCATE)");
  } finally {
    copy.sqlite.close();
  }
}

/**
 * Opens the configured vector index for `embedder`'s vectors. An index that stores payloads
 * (Qdrant) is fed each example's evidence with its vector (`EvidenceIndex`), so a replica ranks from
 * its hits alone.
 */
export async function openIndex(
  vectors: Config["vectors"],
  stores: Pick<Stores, "examples">,
  embedder: { dimension: number; id: string },
  onMismatch: "refuse" | "recreate" = "refuse",
): Promise<VectorIndex> {
  const index = await createVectorIndex(vectors, embedder.dimension, embedder.id, onMismatch);
  return vectors.kind === "qdrant" ? new EvidenceIndex(index, stores.examples) : index;
}

/**
 * Opens the vector index for vectors made with `templates`. A vector store that does not answer
 * yet does not stop the start: the index opens (and `reconcile` runs) once it answers, and
 * requests that need it answer 503 meanwhile, so a stack is live and not ready, not crash-looping.
 */
async function openVectorIndex(
  config: Config,
  stores: Stores,
  templates: Templates,
  embedder: Embedder,
  logger: Logger,
  reconcile: () => Promise<void>,
): Promise<VectorIndex> {
  const open = () => openIndex(indexConfig(config, templates), stores, embedder);
  try {
    return await open();
  } catch (err) {
    if (!(err instanceof AppError && err.code === "VECTOR_STORE_UNAVAILABLE")) throw err;
    logger.warn("vector store unreachable at start; serving 503 for it until it answers", errorFields(err));
    return new DeferredIndex(
      embedder.dimension,
      open,
      () => reconcile().catch((e: unknown) => logger.error("reconciliation failed", errorFields(e))),
      (message, attempt) => logger.warn("vector store still unreachable", { message, attempt }),
    );
  }
}

/**
 * With Qdrant, the primary publishes the routing document (`<QDRANT_COLLECTION>-routing`) that
 * stateless replicas rank by: the settings, embedder and collection in force, the targets and their
 * means.
 */
function documentPublisher(
  config: Config,
  stores: Stores,
  active: ActiveEmbedding,
  features: EmbeddingFeatures,
  settings: SettingsModel,
  logger: Logger,
): DocumentPublisher | undefined {
  if (config.vectors.kind !== "qdrant") return undefined;
  const store = qdrantDocumentStore(config);
  return new DocumentPublisher(
    store,
    () =>
      documentContent({
        embedderId: active.embedder.id,
        features: { ...features, templates: active.templates },
        collection: indexConfig(config, active.templates).qdrant.collection,
        choice: settings.choice(),
        // The cheap reads (no example counts): this runs every 500 ms.
        targets: documentTargets(stores.targets.targetFlags(), stores.targets.targetPrices()),
        stats: stores.targets.targetStats(),
      }),
    logger,
  );
}

/** Each target's switch and prices, by name. */
function documentTargets(
  flags: Array<{ name: string; enabled: boolean; priorScore: number | null }>,
  prices: Array<{ name: string; inputPricePerMtok: number | null; outputPricePerMtok: number | null }>,
): DocumentTarget[] {
  const priced = new Map(prices.map((p) => [p.name, p]));
  return flags.map((f) => ({
    name: f.name,
    enabled: f.enabled,
    priorScore: f.priorScore,
    inputPricePerMtok: priced.get(f.name)?.inputPricePerMtok ?? null,
    outputPricePerMtok: priced.get(f.name)?.outputPricePerMtok ?? null,
  }));
}

/**
 * Self-tuning's three parts: the settings read model, the tuner and the learned templates (trial
 * and switch), which the tuner calls through `TemplateTrials`.
 */
function wireSelfTuning(
  config: Config,
  stores: Stores,
  active: ActiveEmbedding,
  base: Embedder,
  lock: Mutex,
  options: { logger: Logger; metrics: Metrics; plan: EmbeddingPlan; runner?: TuningRunner },
): { switcher: TemplateSwitch; settings: SettingsModel; tuning: Tuner } {
  const { logger, metrics, plan } = options;
  const switcher = new TemplateSwitch(
    stores.examples,
    stores.ledger,
    stores.staging,
    active,
    base,
    async (t, e, fresh) => {
      const vectors = indexConfig(config, t);
      const opened = await openIndex(vectors, stores, e, fresh ? "recreate" : "refuse");
      // A fresh index starts empty: what a stopped trial left in a collection of the same name goes.
      if (!fresh || !opened.persistent || (await opened.count()) === 0 || !opened.drop) return opened;
      await opened.drop();
      return openIndex(vectors, stores, e);
    },
    lock,
    () => stores.settings.dataVersion(),
    logger,
  );
  const trials =
    !plan.file && config.tuning.templates
      ? new TemplateTrials(switcher, stores.state, active, stores.examples, logger)
      : undefined;
  const settings = new SettingsModel(stores.settings, logger, {
    countExamples: () => stores.examples.countExamples(),
    countLabelsUpTo: (limit) => stores.examples.countExamplesUpTo(limit, true),
    ...(plan.file && { file: { k: plan.file.k, settings: plan.file.settings } }),
    ...(config.rank.defaultK !== undefined && { defaultK: config.rank.defaultK }),
  });
  const tuning = new Tuner(
    stores.settings,
    {
      snapshots: stores.snapshots,
      examples: stores.examples,
      targets: stores.targets,
      recent: () => stores.feedback.recentSimilarities(1000),
    },
    settings,
    () => active.current(),
    logger,
    metrics,
    config.tuning,
    {
      ...(options.runner && { runner: options.runner }),
      ...(trials && { templates: trials }),
    },
  );
  return { switcher, settings, tuning };
}

/**
 * Builds every dependency from config, then runs the start-up steps: finishes a template switch
 * cut short, checks the stored vectors' embedder, brings the vector index in line with SQLite
 * (filled at every start when in-process, reconciled when persistent), seeds an empty database
 * when asked to, and starts the background index sync and self-tuning. `embedder` and `index`
 * replace the configured ones (tests and benchmarks); `metrics` replaces a fresh registry.
 */
export async function buildDeps(
  config: Config,
  logger: Logger,
  overrides: {
    embedder?: Embedder;
    index?: VectorIndex;
    metrics?: Metrics;
    tuningRunner?: TuningRunner;
    /** Uniform [0, 1) numbers for exploration and trials (a seeded one makes a replay repeatable). */
    random?: () => number;
  } = {},
): Promise<Running> {
  const metrics = overrides.metrics ?? new Metrics();
  const storage = openStorage(config, logger);
  const { stores } = storage;
  let embedder: Embedder | undefined;
  let index: VectorIndex | undefined;
  try {
    // An import a stop cut short is taken back before anything reads the examples.
    await recoverImports(stores.examples, stores.journal, logger);
    const plan = embeddingPlan(config, stores);
    if (plan.file)
      logger.info("ranking settings pinned by ROUTING_SETTINGS", { ...plan.file, ...plan.features });
    const { templates } = plan.features;
    const built = await serviceEmbedder(config, stores, plan.features, overrides.embedder, (hits, misses) => {
      if (hits > 0) metrics.embedCache.inc({ result: "hit" }, hits);
      if (misses > 0) metrics.embedCache.inc({ result: "miss" }, misses);
    });
    embedder = built.embedder;
    await finishTemplateSwitch(stores, embedder.id, logger);
    assertOneEmbedder(stores, embedder.id);

    const lock = new Mutex();
    let sync: IndexSync | undefined;
    const reconcile = () => (sync ? reconcileIndex(sync, logger) : Promise.resolve());
    index =
      overrides.index ?? (await openVectorIndex(config, stores, templates, embedder, logger, reconcile));
    const active = new ActiveEmbedding(embedder, index, templates);
    sync = new IndexSync(stores.ledger, () => active.index, lock, logger, {
      batchSize: config.vectors.batchSize,
      retryMs: config.vectors.retryMs,
    });
    await bringIndexInLine(config, stores, index, embedder.id, reconcile, logger);
    const { switcher, settings, tuning } = wireSelfTuning(config, stores, active, built.base, lock, {
      logger,
      metrics,
      plan,
      ...(overrides.tuningRunner && { runner: overrides.tuningRunner }),
    });
    const stats = new TargetStatsCache(stores.targets);
    const publisher = documentPublisher(config, stores, active, plan.features, settings, logger);
    // Requests in flight, which the chunks of an import let through first.
    const traffic = new Traffic();
    const writer = new ExampleWriter(
      stores.examples,
      stores.journal,
      stores.ledger,
      active,
      sync,
      lock,
      logger,
      () => {
        stats.invalidate();
        settings.noteWrite();
        tuning.noteWrite();
        publisher?.kick();
      },
      traffic,
    );
    const examples = new ExampleService(stores.examples, writer, active, () => settings.forgetTuned());
    const ranker = new Ranker(stores.examples, stores.targets, active, stats, {
      choice: () => settings.choice(),
      fallbackTarget: config.rank.fallbackTarget,
      evidenceFrom: config.rank.evidenceFrom,
      policy: new LearningPolicy({
        explorationShare: config.rank.explorationShare,
        ...(overrides.random && { random: overrides.random }),
        // A new target's trials only where outcomes are taken: nothing would end them otherwise.
        ...(config.feedback.token !== undefined && { trials: config.rank.trials }),
      }),
    });
    const targets = new TargetService(stores.targets, {
      examples: (name, finish) => examples.dropTarget(name, finish),
      outcomes: (name) => stores.feedback.forgetTarget(name),
    });
    const quiz = new QuizService(stores.examples, stores.targets, active);
    const backups = new Backups(config.database.backupDir, (file) => backupDatabase(storage.sqlite, file));
    const feedback = new FeedbackService(
      stores.feedback,
      examples,
      () => stores.targets.targetFlags(),
      logger,
      {
        enabled: config.feedback.token !== undefined,
        windowSeconds: config.feedback.windowSeconds,
        maxRankings: config.feedback.maxRankings,
        maxBytes: config.feedback.maxBytes,
        review: config.feedback.review,
        maxWeight: config.feedback.maxWeight,
        outcomeWeight: config.feedback.outcomeWeight,
      },
      (kept, refused) => {
        if (kept > 0) metrics.handedOver.inc({ result: "kept" }, kept);
        if (refused > 0) metrics.handedOver.inc({ result: "refused" }, refused);
      },
    );
    await seedIfEmpty(config, stores, examples, targets, logger);
    const images = new ImageKeeper(
      config,
      stores,
      () => ({ index: active.index, embedderId: active.embedder.id }),
      lock,
      logger,
    );
    images.start();
    sync.start();
    tuning.start();
    // Not awaited: a vector store that does not answer yet must not hold the start; it retries.
    void publisher?.start();
    metrics.watch({
      examples: () => stores.examples.countExamples(),
      vectors: () => active.index.count(),
      unsynced: () => stores.ledger.countUnindexed(),
    });
    return {
      config,
      logger,
      metrics,
      stores,
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
      tuning,
      sync,
      templates: switcher,
      lifecycle: { draining: false },
      traffic,
      backups,
      quiz,
      feedback,
      // Without feedback nothing is kept: /rank gives an id and computes nothing for a keeper.
      ...(feedback.options.enabled && { keeper: feedback }),
      admin: { examples, targets, settings, tuning, backups, quiz },
      checks: {
        database: async () => storage.sqlite.prepare("select 1").get(),
        index: () => active.index.health(),
        embedder: () => active.embedder.health(),
      },
      publisher,
      close: async () => {
        feedback.close();
        await publisher?.stop();
        await tuning.stop();
        await sync.stop();
        await images.stop();
        await switcher.close();
        const { embedder: e, index: i } = active.current();
        await e.close();
        // Under the write lock: no write can change the index while it is being saved.
        await lock.run(() => saveIndexImage(config, stores, i, e.id, logger));
        await i.close();
        await storage.close();
      },
    };
  } catch (err) {
    await embedder?.close();
    await index?.close();
    await storage.close();
    throw err;
  }
}
