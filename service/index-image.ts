/**
 * The embedded index's image and journal: how a start finds the index without re-reading every
 * vector from SQLite, after a clean stop and after a kill.
 *
 * - The image (`DATABASE_PATH.vectors`): the whole index, saved with a snapshot id and the
 *   database's example-write counter, at a clean stop and whenever the journal grows past an eighth
 *   of it (`ImageKeeper`), always under the write lock.
 * - The journal (`DATABASE_PATH.vectors.log`, `vectors/index-journal.ts`): every index write since
 *   that image, appended before the write is confirmed to SQLite.
 *
 * A start uses, in order: the image alone when nothing was written since it was saved (a clean
 * stop); the image and its journal when the journal continues that image, was written since the
 * machine last booted and records no write the database does not have (a kill); else SQLite.
 * After the journal, rows SQLite has not seen confirmed (`indexed = 0`, pending deletions) are
 * copied as the background sync would, and the index must then hold as many vectors as SQLite,
 * or it is filled from SQLite after all.
 */
import { randomUUID } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { rename, rm } from "node:fs/promises";
import type { Config } from "./config.ts";
import { fillFromStore } from "./core/index-sync.ts";
import type { Mutex } from "./core/mutex.ts";
import { errorFields, type Logger } from "./logger.ts";
import type { Stores } from "./store/stores.ts";
import { type ImageStamp, QuantizedScanIndex } from "./vectors/embedded.ts";
import { IndexJournal, type JournalHeader, readJournal } from "./vectors/index-journal.ts";
import type { VectorIndex } from "./vectors/vector-index.ts";

/** Below this many bytes a journal is never compacted into a new image. */
const JOURNAL_FLOOR = 64 * 1024 * 1024;

interface ImageFiles {
  index: QuantizedScanIndex;
  /** The image. */
  path: string;
  /** Its journal. */
  journal: string;
}

/**
 * The embedded index and where it keeps its image and journal, or undefined when it keeps none:
 * another index, an in-memory database, or INDEX_IMAGE=false.
 */
export function imageFiles(config: Config, index: VectorIndex): ImageFiles | undefined {
  const { path } = config.database;
  if (!config.vectors.image || path === ":memory:" || !(index instanceof QuantizedScanIndex))
    return undefined;
  return { index, path: `${path}.vectors`, journal: `${path}.vectors.log` };
}

/**
 * This database's own id, made at its first use here: a journal and an image name it, so that
 * another database put in its place (a fresh start, another machine's file) never takes them. A
 * backup of it keeps it: the write counter tells a restored backup from the database as it was.
 */
function databaseId(stores: Stores): string {
  const known = stores.state.get("database-id");
  if (known !== undefined) return known;
  const id = randomUUID();
  stores.state.set("database-id", id);
  return id;
}

/** This boot of the machine ('' where the system does not say: then no journal is ever replayed). */
export function bootId(): string {
  try {
    return readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
  } catch {
    return "";
  }
}

/**
 * Fills an in-process index: from its image, from its image and journal, or from SQLite (see the
 * module's comment); then journals what it takes from here on when it has an image to continue.
 */
export async function loadIndex(
  config: Config,
  stores: Stores,
  index: VectorIndex,
  embedderId: string,
  logger: Logger,
): Promise<void> {
  const started = performance.now();
  const files = imageFiles(config, index);
  let from = "database";
  if (files) {
    // What a save cut short left.
    await rm(`${files.path}.tmp`, { force: true });
    await rm(`${files.journal}.tmp`, { force: true });
    if (await fromJournal(files, stores, embedderId, logger)) from = "image and journal";
    else if (await fromImage(files, stores, embedderId, logger)) from = "image";
  }
  if (from === "database") {
    if (files) {
      files.index.attachJournal(undefined);
      files.index.clear();
      await rm(files.journal, { force: true });
    }
    await fillFromStore(stores.ledger, index, embedderId);
  }
  logger.info("vector index loaded", {
    vectors: await index.count(),
    from,
    ms: Math.round(performance.now() - started),
  });
}

/** What the index holds now, as the database says: the stamp an image must carry to be used. */
function currentStamp(stores: Stores, embedderId: string): ImageStamp {
  return {
    database: databaseId(stores),
    embedderId,
    dataVersion: stores.settings.dataVersion(),
    vectors: stores.ledger.countVectors(embedderId),
  };
}

/**
 * The image alone, when it was taken from the database as it is now (the same database and
 * embedder, no example written since, as many vectors). An image with a snapshot id stays, and a new journal continues
 * it; one without (an older release's) is removed once read.
 */
async function fromImage(
  files: ImageFiles,
  stores: Stores,
  embedderId: string,
  logger: Logger,
): Promise<boolean> {
  if (!existsSync(files.path)) return false;
  const now = currentStamp(stores, embedderId);
  let snapshot: string | undefined;
  try {
    const used = await files.index.restoreImage(files.path, (s) => {
      snapshot = s.snapshot;
      return (
        s.database === now.database &&
        s.embedderId === now.embedderId &&
        s.dataVersion === now.dataVersion &&
        s.vectors === now.vectors
      );
    });
    if (!used) {
      logger.info("index image is stale: filling the index from the database", { path: files.path });
      await rm(files.path, { force: true });
      return false;
    }
  } catch (err) {
    logger.warn("index image unreadable: filling the index from the database", {
      path: files.path,
      ...errorFields(err),
    });
    await rm(files.path, { force: true });
    return false;
  }
  if (snapshot === undefined) {
    await rm(files.path, { force: true });
  } else {
    await startJournal(files, stores, embedderId, snapshot);
  }
  return true;
}

/**
 * The image and the journal that continues it (after a kill): the journal must name the image,
 * come from this boot and this embedder, and record no write the database does not have (a
 * database restored from a backup since has fewer). Then the rows the database has not seen
 * confirmed are copied, and the index must hold as many vectors as the database.
 */
async function fromJournal(
  files: ImageFiles,
  stores: Stores,
  embedderId: string,
  logger: Logger,
): Promise<boolean> {
  const scan = readJournal(files.journal);
  if (!scan || !existsSync(files.path)) return false;
  const dataVersion = stores.settings.dataVersion();
  const { header } = scan;
  const boot = bootId();
  const database = databaseId(stores);
  const why =
    header.database !== database
      ? "it was written for another database"
      : header.embedderId !== embedderId
        ? "it was written for another embedder"
        : header.dimension !== files.index.dimension
          ? "it was written for another dimension"
          : boot === "" || header.bootId !== boot
            ? "the machine restarted since it was written"
            : scan.maxDataVersion > dataVersion
              ? "it records writes the database does not have (a database restored since?)"
              : undefined;
  if (why !== undefined) {
    logger.info("index journal not used", { path: files.journal, why });
    return false;
  }
  try {
    const used = await files.index.restoreImage(
      files.path,
      (s) =>
        s.snapshot === header.base &&
        s.database === database &&
        s.embedderId === embedderId &&
        s.dataVersion <= dataVersion,
      scan.upserted,
    );
    if (!used) {
      logger.info("index journal not used: it does not continue the image beside it", {
        path: files.journal,
      });
      return false;
    }
    files.index.widen(scan.maxRange);
    const replayed = readJournal(files.journal, (r) => files.index.replay(r));
    if (!replayed) throw new Error("the journal could not be read again");
    files.index.attachJournal(
      IndexJournal.resume(files.journal, header, replayed.validBytes, () => stores.settings.dataVersion()),
    );
    const copied = await catchUp(files.index, stores);
    const held = await files.index.count();
    const stored = stores.ledger.countVectors(embedderId);
    if (held !== stored) {
      logger.warn("index journal replayed to the wrong count: filling the index from the database", {
        held,
        stored,
      });
      return false;
    }
    logger.info("index journal replayed", { records: replayed.records, ...copied });
    return true;
  } catch (err) {
    logger.warn("index journal unreadable: filling the index from the database", {
      path: files.journal,
      ...errorFields(err),
    });
    return false;
  }
}

/** Copies what SQLite holds and the index was not confirmed to: unindexed rows and pending deletions. */
async function catchUp(
  index: QuantizedScanIndex,
  stores: Stores,
): Promise<{ copied: number; deleted: number }> {
  let copied = 0;
  // As many rounds as there are rows to copy, at most: whatever a round could not mark (a row
  // written meanwhile) is the background sync's, and the count check after says whether it matters.
  const rounds = Math.ceil(stores.ledger.countUnindexed() / 1000);
  for (let round = 0; round < rounds; round++) {
    const rows = stores.ledger.unindexed(1000);
    if (rows.length === 0) break;
    await index.upsert(rows);
    for (const r of rows) stores.ledger.markIndexed([r.id], r.version);
    copied += rows.length;
  }
  const gone = stores.ledger.pendingDeleteIds(Number.MAX_SAFE_INTEGER);
  if (gone.length > 0) {
    await index.delete(gone);
    stores.ledger.clearPendingDeletes(gone);
  }
  return { copied, deleted: gone.length };
}

/** A new, empty journal continuing the image named `snapshot`, attached to the index. */
async function startJournal(files: ImageFiles, stores: Stores, embedderId: string, snapshot: string) {
  const header: JournalHeader = {
    base: snapshot,
    database: databaseId(stores),
    bootId: bootId(),
    embedderId,
    dimension: files.index.dimension,
  };
  const tmp = `${files.journal}.tmp`;
  const journal = IndexJournal.create(tmp, header, () => stores.settings.dataVersion());
  try {
    await rename(tmp, files.journal);
  } catch (err) {
    journal.close();
    throw err;
  }
  files.index.attachJournal(journal);
}

/**
 * Saves the image with a new snapshot id and starts its journal. The caller holds the write lock
 * (no write lands in between), and the index holds exactly what SQLite does.
 */
async function snapshot(files: ImageFiles, stores: Stores, embedderId: string): Promise<void> {
  const id = randomUUID();
  await files.index.saveImage(files.path, { ...currentStamp(stores, embedderId), snapshot: id });
  await startJournal(files, stores, embedderId, id);
}

/** Nothing waiting for the background sync: the index holds exactly what SQLite does. */
function inLine(stores: Stores): boolean {
  return stores.ledger.countUnindexed() === 0 && stores.ledger.pendingDeleteIds(1).length === 0;
}

/**
 * At a clean shutdown, saves the embedded index beside the database, when it holds exactly what
 * SQLite does, and drops the journal it no longer needs. Otherwise the image and journal stay as
 * they are: the next start replays them.
 */
export async function saveIndexImage(
  config: Config,
  stores: Stores,
  index: VectorIndex,
  embedderId: string,
  logger: Logger,
): Promise<void> {
  const files = imageFiles(config, index);
  if (files === undefined || !inLine(stores)) return;
  const started = performance.now();
  try {
    files.index.attachJournal(undefined);
    await files.index.saveImage(files.path, { ...currentStamp(stores, embedderId), snapshot: randomUUID() });
    await rm(files.journal, { force: true });
    logger.info("index image saved", { path: files.path, ms: Math.round(performance.now() - started) });
  } catch (err) {
    logger.warn("index image not saved: the next start fills the index from the database", {
      path: files.path,
      ...errorFields(err),
    });
  }
}

/**
 * Keeps the image and journal current while the service runs: saves an image when the index in
 * force has no journal (filled from SQLite, or a template switch made a new index) or when its
 * journal has grown past an eighth of the image (and 64 MiB), so that a start after a kill replays
 * little: a journaled vector costs about 40 µs to replay against 7 µs to read from the image, so
 * at a million 512-d examples the image takes about 6 s and at most 125,000 journaled vectors
 * about 5 s more (bench/journal.ts).
 * Each save runs under the write lock: writes wait for it (seconds at a million examples), ranking
 * does not.
 */
export class ImageKeeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly config: Config,
    private readonly stores: Stores,
    private readonly current: () => { index: VectorIndex; embedderId: string },
    private readonly lock: Mutex,
    private readonly logger: Logger,
    private readonly options: { everyMs: number; floorBytes: number } = {
      everyMs: 5000,
      floorBytes: JOURNAL_FLOOR,
    },
  ) {}

  start(): void {
    this.schedule(0);
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** Saves an image now if one is due; true when it saved. */
  async check(): Promise<boolean> {
    return this.lock.run(async () => {
      const { index, embedderId } = this.current();
      const files = imageFiles(this.config, index);
      if (!files || !inLine(this.stores)) return false;
      const journal = files.index.journaled;
      if (journal?.failed !== undefined) {
        this.logger.warn("index journal could not be written: it was removed; saving an image", {
          path: files.journal,
          ...errorFields(journal.failed),
        });
      }
      const due =
        journal === undefined ||
        journal.failed !== undefined ||
        journal.header.embedderId !== embedderId ||
        journal.size > Math.max(this.options.floorBytes, files.index.imageBytes / 8);
      if (!due) return false;
      const started = performance.now();
      await snapshot(files, this.stores, embedderId);
      this.logger.info("index image saved; its journal starts again", {
        vectors: await index.count(),
        journalBytes: journal?.size ?? 0,
        ms: Math.round(performance.now() - started),
      });
      return true;
    });
  }

  private schedule(delay: number): void {
    this.timer = setTimeout(() => {
      this.running = this.check()
        .catch((err) => this.logger.warn("index image not saved; will retry", errorFields(err)))
        .then(() => {
          this.running = undefined;
          if (this.timer !== undefined) this.schedule(this.options.everyMs);
        });
    }, delay);
    this.timer.unref();
  }
}
