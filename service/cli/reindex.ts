/**
 * Rebuilds the active vector store from SQLite:
 *
 *   npm run reindex            # re-embed rows made by another embedder, then bring the index in line
 *   npm run reindex -- --full  # also re-upload every vector
 *   npm run reindex -- --learn-templates  # learn shared prompt boilerplate from the stored
 *                              # examples into ROUTING_SETTINGS, then re-embed without it
 *
 * Resumable: re-embedding commits a batch at a time and moves on to rows still made by another
 * embedder; the index copy marks each batch done in SQLite. Run it again after a crash and it
 * continues where it stopped (after --full, continue without --full).
 */
import { parseArgs } from "node:util";
import { type Config, loadConfig, withDotEnv } from "../config.ts";
import { recoverImports } from "../core/example-writer.ts";
import { IndexSync } from "../core/index-sync.ts";
import { Mutex } from "../core/mutex.ts";
import { embeddingPlan, indexConfig, openIndex, openStorage, serviceEmbedder } from "../deps.ts";
import { type Embedder, embedPrepared } from "../embedding/embedder.ts";
import { createLogger, type Logger } from "../logger.ts";
import { DEFAULT_SETTINGS } from "../routing/aggregate.ts";
import type { Stores } from "../store/stores.ts";
import { learnTemplates } from "../templates/learner.ts";
import { readSettingsFile, writeSettingsFile } from "../tuning/settings-file.ts";
import type { VectorIndex } from "../vectors/vector-index.ts";
import { progressBar } from "./progress.ts";

export interface ReindexOptions {
  /** Re-upload every vector, not only those the index lacks. */
  full?: boolean;
  /** Learn shared prompt boilerplate from the stored examples into the settings file first. */
  learnTemplates?: boolean;
  /** Texts embedded per committed batch. Default 256. */
  batchSize?: number;
  /** Replace the configured embedder or index (tests). */
  embedder?: Embedder;
  index?: VectorIndex;
  /** Called as work advances. Default: a progress bar on stderr. */
  progress?: (phase: "re-embed" | "index", done: number, total: number) => void;
}

export async function reindex(
  config: Config,
  logger: Logger,
  options: ReindexOptions = {},
): Promise<{ reembedded: number; indexed: number }> {
  // The service's own wiring: the writer lock (no service writes this database meanwhile), its
  // embedder with the learned templates in force, and their vector collection.
  const storage = openStorage(config, logger);
  try {
    return await run(config, logger, options, storage.stores);
  } finally {
    await storage.close();
  }
}

type Progress = NonNullable<ReindexOptions["progress"]>;

async function run(
  config: Config,
  logger: Logger,
  options: ReindexOptions,
  stores: Stores,
): Promise<{ reembedded: number; indexed: number }> {
  // An import a stop cut short is taken back first, as the service does at its start.
  await recoverImports(stores.examples, stores.journal, logger);
  if (options.learnTemplates) learnIntoSettingsFile(config, stores, logger);
  // The templates in force: the file's, or those self-tuning learned (recorded in the database).
  const { features } = embeddingPlan(config, stores);
  const { embedder } = await serviceEmbedder(config, stores, features, options.embedder);
  const bars = { "re-embed": progressBar("re-embed"), index: progressBar("index") };
  const progress: Progress = options.progress ?? ((phase, done, total) => bars[phase](done, total));
  let index: VectorIndex | undefined;
  try {
    const reembedded = await reembed(stores, embedder, options.batchSize ?? 256, progress);
    index =
      options.index ??
      (await openIndex(indexConfig(config, features.templates), stores, embedder, "recreate"));
    if (!index.persistent) {
      logger.info("re-embedding done; the embedded index is rebuilt from SQLite at every start", {
        reembedded,
      });
      return { reembedded, indexed: 0 };
    }
    const indexed = await copyToIndex(config, stores, index, options.full === true, progress, logger);
    return { reembedded, indexed };
  } finally {
    await embedder.close();
    await index?.close();
  }
}

/** Learns shared prompt boilerplate from the stored examples into the ROUTING_SETTINGS file. */
function learnIntoSettingsFile(config: Config, stores: Stores, logger: Logger): void {
  const path = config.rank.settingsPath;
  if (path === undefined) {
    throw new Error(
      "--learn-templates writes the templates to the ROUTING_SETTINGS file: set ROUTING_SETTINGS",
    );
  }
  const templates = learnTemplates([...stores.examples.allTexts()]);
  const current = readSettingsFile(path);
  writeSettingsFile(path, {
    k: current?.k ?? config.rank.defaultK ?? 20,
    ...(current?.settings ?? DEFAULT_SETTINGS),
    lengthWeight: current?.features.lengthWeight ?? 0,
    templates,
  });
  logger.info("learned prompt templates", {
    prefixes: templates.prefixes.length,
    suffixes: templates.suffixes.length,
    path,
  });
}

/** Re-embeds, a committed batch at a time, every example another embedder made; returns how many. */
async function reembed(
  stores: Stores,
  embedder: Embedder,
  batchSize: number,
  progress: Progress,
): Promise<number> {
  const { ledger } = stores;
  const total = ledger.countStaleEmbeddings(embedder.id);
  let reembedded = 0;
  if (total > 0) progress("re-embed", 0, total);
  for (;;) {
    const rows = ledger.staleEmbeddings(embedder.id, batchSize);
    if (rows.length === 0) return reembedded;
    const textless = rows.find((r) => r.text.trim() === "");
    if (textless) {
      // Imported as a vector with no utterance (knn-router points): there is nothing to re-embed.
      throw new Error(
        `example ${textless.id} has no text, only a vector from another embedder, so it cannot be ` +
          "re-embedded: give it a text (PUT /admin/examples/{id}) or delete it, then run reindex again",
      );
    }
    const vectors = await embedPrepared(
      embedder,
      rows.map((r) => r.text),
    );
    ledger.replaceEmbeddings(
      rows.map((r, i) => ({ id: r.id, vector: vectors[i] as Float32Array })),
      embedder.id,
    );
    reembedded += rows.length;
    progress("re-embed", reembedded, total);
  }
}

/** Brings a persistent index in line with SQLite (`full`: every vector again); returns how many it copied. */
async function copyToIndex(
  config: Config,
  stores: Stores,
  index: VectorIndex,
  full: boolean,
  progress: Progress,
  logger: Logger,
): Promise<number> {
  const { ledger } = stores;
  if (full) ledger.markAllUnindexed();
  const sync = new IndexSync(ledger, () => index, new Mutex(), logger, {
    batchSize: config.vectors.batchSize,
    retryMs: config.vectors.retryMs,
  });
  let total = 0;
  const { stray, missing } = await sync.reconcile((done, remaining) => {
    total = Math.max(total, done + remaining);
    progress("index", done, total);
  });
  logger.info("vector store rebuilt from SQLite", { stray, missing, pending: ledger.countUnindexed() });
  return total;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      full: { type: "boolean", default: false },
      "learn-templates": { type: "boolean", default: false },
    },
  });
  const config = loadConfig(withDotEnv());
  const logger = createLogger(config.server.logLevel);
  const result = await reindex(config, logger, {
    full: values.full,
    learnTemplates: values["learn-templates"],
  });
  process.stderr.write(
    `re-embedded ${result.reembedded} examples; copied ${result.indexed} vectors to the index\n`,
  );
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
