import { randomUUID } from "node:crypto";
import { performance as eventLoop } from "node:perf_hooks";
import { embedPrepared } from "../embedding/embedder.ts";
import { AppError } from "../errors.ts";
import { errorFields, type Logger } from "../logger.ts";
import type { BeforeBatch, ExampleStore, NewExample } from "../store/example-store.ts";
import type { ImportJournal, ImportMode, JournalEntry } from "../store/import-journal.ts";
import type { IndexLedger } from "../store/index-ledger.ts";
import type { ActiveEmbedding } from "./active-embedding.ts";
import type { IndexSync } from "./index-sync.ts";
import type { Mutex } from "./mutex.ts";
import { Traffic } from "./traffic.ts";

/** Batches up to this size are written in one transaction; larger ones a chunk at a time. */
export const ONE_TRANSACTION = 256;

/**
 * What a chunk of bulk work (embedding it, then its transaction) should take: a request that
 * arrives meanwhile waits about this long. With bench/import-load.ts (a 20,000-line import, hash
 * embedder): 20 ms held /rank's p99 at 12-16x idle; 6 ms at 2.6-3x; 3 ms at 2.75x with /healthz's
 * p99 at 19 ms, and no slower an import (2,771 lines a second against 2,841).
 */
const CHUNK_MS = 3;
const MIN_CHUNK = 8;
const MAX_CHUNK = 4096;
/** How often bulk work tells the rest of the service that examples changed (see `noteWrite`). */
const BULK_NOTICE_MS = 500;
/** Journal entries read, and forgotten, at a time. */
const JOURNAL_PAGE = 512;

/** Lets the event loop run what waits (requests, timers) before the next chunk. */
export function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Runs bulk work a chunk at a time: `step(size)` does up to `size` items and says how many it did
 * (0: finished). Before each chunk the requests in flight go first (`Traffic.quiet`), and each
 * chunk is sized to keep this thread busy about CHUNK_MS at the rate the last one did: the time
 * the event loop ran (its utilisation's active time), not the time the chunk took. A model
 * embedding in worker threads keeps no request waiting while it runs, so its chunks grow until
 * both workers have batches to run; an embedder on this thread (the hash embedder) counts whole.
 */
async function chunkLoop(traffic: Traffic, step: (size: number) => Promise<number>): Promise<void> {
  for (let size = Math.min(ONE_TRANSACTION, 64); ; ) {
    await traffic.quiet();
    const started = eventLoop.eventLoopUtilization();
    const done = await step(size);
    if (done === 0) return;
    const busy = eventLoop.eventLoopUtilization(started).active;
    // At most twice the last size: one quick chunk (a page of rows cached) says little about the next.
    const rate = Math.round((size * CHUNK_MS) / Math.max(busy, 0.1));
    size = Math.min(MAX_CHUNK, size * 2, Math.max(MIN_CHUNK, rate));
    await yieldToLoop();
  }
}

/**
 * The rows of a write, made a chunk at a time (`rows(from, count)` embeds them), so that a large
 * import holds one chunk's vectors at a time and its embedding yields to requests as its writes do.
 */
export interface RowSource {
  readonly size: number;
  rows(from: number, count: number): Promise<NewExample[]>;
}

/** Rows made already, as a source. */
export function rowsOf(rows: NewExample[]): RowSource {
  return { size: rows.length, rows: async (from, count) => rows.slice(from, from + count) };
}

/**
 * How examples reach SQLite and the vector index: every write and deletion, one at a time under
 * the write lock, SQLite first, so a neighbour the index returns always has its scores stored.
 *
 * A batch of up to ONE_TRANSACTION examples is one transaction. A larger one (an import of 100,000
 * lines) is embedded and written a chunk at a time, each chunk's transaction a few milliseconds,
 * the requests in flight let through and the lock let go between chunks (`chunkLoop`), so that
 * nothing waits behind it for longer than a chunk. It stays all or nothing through a journal
 * (`ImportJournal`): each chunk's transaction records the examples it changes as they were; a
 * failure takes them back before it is reported, and a process killed half way takes them back at
 * its next start (`recoverImports`). Meanwhile, `/rank` may see the part written so far.
 */
export class ExampleWriter {
  constructor(
    private readonly store: ExampleStore,
    private readonly journal: ImportJournal,
    private readonly ledger: IndexLedger,
    private readonly embedding: ActiveEmbedding,
    private readonly sync: IndexSync,
    private readonly lock: Mutex,
    private readonly logger: Logger,
    /** Called after every committed write (cached per-target statistics go stale). */
    private readonly onWrite: () => void = () => undefined,
    private readonly traffic = new Traffic(),
  ) {}

  /** When bulk work last told the rest of the service (see `noteWrite`), and whether it has written since. */
  private noticed = 0;
  private unnoticed = false;

  /**
   * Writes a batch, all or nothing. `insert` refuses ids that exist (IdsTakenError, nothing
   * written), `upsert` replaces them; with `replace`, the examples written before it began and not
   * in it are deleted, so that the batch becomes all the examples. Returns whether the vector index
   * took it all now, and how many examples a replacing write deleted.
   */
  async write(
    source: RowSource,
    mode: "insert" | "upsert",
    options: { replace?: boolean } = {},
  ): Promise<{ indexed: boolean; deleted: number }> {
    if (source.size <= ONE_TRANSACTION && !options.replace) {
      const rows = await source.rows(0, source.size);
      return { indexed: await this.lock.run(() => this.writeChunk(rows, mode)), deleted: 0 };
    }
    return this.journaled(options.replace ? "replace" : "add", async (job) => {
      let indexed = true;
      const record = this.journal.recorder(job.id, "write");
      let at = 0;
      // The next chunk's rows, made while this one is written: a model in worker threads then
      // embeds two chunks at once, one on each worker (a chunk is often one batch).
      let ahead: { at: number; count: number; rows: Promise<NewExample[]> } | undefined;
      const prepare = (from: number, size: number) => {
        const count = Math.min(size, source.size - from);
        const rows = source.rows(from, count);
        // Awaited when its turn comes; until then a failure must not count as unhandled.
        rows.catch(() => {});
        return { at: from, count, rows };
      };
      await chunkLoop(this.traffic, async (size) => {
        if (at >= source.size) return 0;
        const current = ahead?.at === at ? ahead : prepare(at, size);
        const next = at + current.count;
        ahead = next < source.size ? prepare(next, size) : undefined;
        const rows = await current.rows;
        indexed = (await this.lock.run(() => this.writeChunk(rows, mode, record))) && indexed;
        at = next;
        return rows.length;
      });
      if (!options.replace) return { indexed, deleted: 0 };
      // The examples it did not write, and that were there before it began, go.
      const gone = await this.deleteInChunks(job.id, (after, limit) =>
        this.journal.untouched(job.id, job.startedAt, after, limit),
      );
      return { indexed: gone.indexed && indexed, deleted: gone.deleted };
    });
  }

  /** Deletes one example from SQLite, then from the index; false when it did not exist. */
  delete(id: string): Promise<boolean> {
    return this.lock.run(async () => {
      if (!this.store.delete(id)) return false;
      this.onWrite();
      await this.toIndex(
        () => this.embedding.index.delete([id]),
        () => this.ledger.clearPendingDeletes([id]),
      );
      return true;
    });
  }

  /**
   * Deletes every example `next` names, all or nothing: `next(after, limit)` gives up to `limit`
   * ids after `after` in id order that are still to go (it is asked again after each chunk).
   * Returns how many went.
   */
  async deleteAll(next: (after: string, limit: number) => string[]): Promise<number> {
    return this.journaled("delete", async (job) => (await this.deleteInChunks(job.id, next)).deleted);
  }

  /**
   * Rewrites examples, all or nothing: `next(after, limit)` gives up to `limit` examples after id
   * `after` as they are to become (asked again after each chunk, until it gives none); one left
   * with no score and no comparison is deleted. `finish` runs last, under the write lock, in the
   * same all or nothing (if it throws, the examples are taken back). Returns how many examples
   * were rewritten and how many deleted.
   */
  async rewrite(
    next: (after: string, limit: number) => NewExample[],
    finish: () => void,
  ): Promise<{ rewritten: number; deleted: number }> {
    return this.journaled("rewrite", async (job) => {
      const written = this.journal.recorder(job.id, "write");
      const removed = this.journal.recorder(job.id, "delete");
      let rewritten = 0;
      let deleted = 0;
      let after = "";
      await chunkLoop(this.traffic, (size) =>
        this.lock.run(async () => {
          const rows = next(after, size);
          if (rows.length === 0) return 0;
          after = (rows.at(-1) as NewExample).id;
          const empty = (e: NewExample) => Object.keys(e.scores).length === 0 && !e.preferences?.length;
          const keep = rows.filter((e) => !empty(e));
          const gone = rows.filter(empty).map((e) => e.id);
          if (keep.length > 0) await this.writeChunk(keep, "upsert", written);
          if (gone.length > 0) await this.deleteChunk(gone, removed);
          rewritten += keep.length;
          deleted += gone.length;
          return rows.length;
        }),
      );
      await this.lock.run(async () => finish());
      return { rewritten, deleted };
    });
  }

  /**
   * Runs `steps` as one journaled write: on success its journal is forgotten; on failure what it
   * wrote is taken back before the error goes on. If taking back fails too, the journal stays and
   * the next start finishes it.
   */
  private async journaled<T>(
    mode: ImportMode,
    steps: (job: { id: string; startedAt: Date }) => Promise<T>,
  ): Promise<T> {
    const job = { id: randomUUID(), startedAt: new Date() };
    this.journal.begin(job.id, mode, job.startedAt);
    let result: T;
    try {
      result = await this.traffic.asBulk(() => steps(job));
    } catch (err) {
      if (this.unnoticed) this.noteWrite(false);
      try {
        await this.undo(job.id);
      } catch (undoErr) {
        this.logger.error("a failed write could not be taken back; the next start will", {
          write: job.id,
          ...errorFields(undoErr),
        });
      }
      throw err;
    }
    if (this.unnoticed) this.noteWrite(false);
    this.journal.setState(job.id, "done");
    await forgetJournal(this.journal, job.id);
    return result;
  }

  /**
   * Deletes what `next` names a chunk at a time under the lock, journaled as `importId`'s, until it
   * names nothing more.
   */
  private async deleteInChunks(
    importId: string,
    next: (after: string, limit: number) => string[],
  ): Promise<{ deleted: number; indexed: boolean }> {
    const record = this.journal.recorder(importId, "delete");
    let indexed = true;
    let deleted = 0;
    let after = "";
    await chunkLoop(this.traffic, (size) =>
      this.lock.run(async () => {
        const found = next(after, size);
        if (found.length === 0) return 0;
        indexed = (await this.deleteChunk(found, record)) && indexed;
        deleted += found.length;
        after = found.at(-1) as string;
        return found.length;
      }),
    );
    return { deleted, indexed };
  }

  /** Takes a journaled write back (see `undoPlan`), the vector index following now. */
  private async undo(id: string): Promise<void> {
    this.journal.setState(id, "undoing");
    for (let after = ""; ; ) {
      const entries = this.journal.entries(id, after, JOURNAL_PAGE);
      if (entries.length === 0) break;
      after = (entries.at(-1) as JournalEntry).exampleId;
      await this.lock.run(async () => {
        const { gone, back } = undoPlan(this.store, entries);
        if (gone.length > 0) await this.deleteChunk(gone);
        if (back.length > 0) await this.writeChunk(back, "upsert");
      });
      await yieldToLoop();
    }
    await forgetJournal(this.journal, id);
  }

  /**
   * Tells the rest of the service that examples changed: at once for a single write; for a chunk
   * of bulk work at most every BULK_NOTICE_MS (what it recomputes, the target statistics above all,
   * costs more than a chunk's write), and once more when the bulk work ends (`journaled`).
   */
  private noteWrite(bulk: boolean): void {
    const now = performance.now();
    if (bulk && now - this.noticed < BULK_NOTICE_MS) {
      this.unnoticed = true;
      return;
    }
    this.noticed = now;
    this.unnoticed = false;
    this.onWrite();
  }

  /** One chunk (the caller holds the lock): SQLite, then the index. `before` is a bulk write's journal. */
  private async writeChunk(
    chunk: NewExample[],
    mode: "insert" | "upsert",
    before?: BeforeBatch,
  ): Promise<boolean> {
    await this.reembedIfSwitched(chunk);
    const version = this.store.write(chunk, mode, before);
    this.noteWrite(before !== undefined);
    const ids = chunk.map((e) => e.id);
    return this.toIndex(
      () => this.embedding.index.upsert(chunk.map((e) => ({ id: e.id, vector: e.embedding }))),
      () => this.ledger.markIndexed(ids, version),
    );
  }

  /** One chunk of deletions (the caller holds the lock): SQLite, then the index. */
  private async deleteChunk(ids: string[], before?: BeforeBatch): Promise<boolean> {
    const gone = this.store.deleteMany(ids, before);
    this.noteWrite(before !== undefined);
    return this.toIndex(
      () => this.embedding.index.delete(gone),
      () => this.ledger.clearPendingDeletes(gone),
    );
  }

  /** Runs an index write; if the index is unavailable, leaves the work to the background sync. */
  private async toIndex(write: () => Promise<void>, confirm: () => void): Promise<boolean> {
    try {
      await write();
    } catch (err) {
      if (!(err instanceof AppError && err.code === "VECTOR_STORE_UNAVAILABLE")) throw err;
      this.logger.warn(
        "vector index unavailable; the write is stored and will be copied later",
        errorFields(err),
      );
      this.sync.kick();
      return false;
    }
    confirm();
    return true;
  }

  /**
   * Rows embedded before self-tuning switched embedders (it did so while they were being embedded,
   * outside the lock) are embedded again with the one in force; held under the write lock, which
   * the switch also takes, so no row with a vector from the old embedder lands.
   */
  private async reembedIfSwitched(batch: NewExample[]): Promise<void> {
    const { embedder } = this.embedding;
    const stale = batch.filter((r) => r.embedderId !== embedder.id);
    if (stale.length === 0) return;
    const textless = stale.find((r) => r.text.trim() === "");
    if (textless) {
      throw new AppError(
        "CONFLICT",
        `the embedder changed to ${embedder.id} while this write was prepared, and example ${textless.id} ` +
          "came as a vector without text: send it again with vectors from the embedder in force",
      );
    }
    const vectors = await embedPrepared(
      embedder,
      stale.map((r) => r.text),
    );
    stale.forEach((r, i) => {
      r.embedding = vectors[i] as Float32Array;
      r.embedderId = embedder.id;
    });
  }
}

/**
 * What taking back a page of a journal does: each example the write wrote goes back to what it was
 * (deleted, if it was new), each it deleted comes back, unless something has written it since (its
 * version is not the write's, or a deleted one exists again).
 */
function undoPlan(
  store: ExampleStore,
  entries: readonly JournalEntry[],
): { gone: string[]; back: NewExample[] } {
  const versions = store.versions(entries.map((e) => e.exampleId));
  const gone: string[] = [];
  const back: NewExample[] = [];
  for (const e of entries) {
    const version = versions.get(e.exampleId);
    if (e.action === "write") {
      if (version !== e.writtenAt) continue;
      if (e.prior) back.push(e.prior);
      else gone.push(e.exampleId);
    } else if (version === undefined && e.prior) {
      back.push(e.prior);
    }
  }
  return { gone, back };
}

async function forgetJournal(journal: ImportJournal, id: string): Promise<void> {
  while (journal.forget(id, JOURNAL_PAGE * 8) > 0) await yieldToLoop();
  journal.end(id);
}

/**
 * Takes back every journaled write that a stop interrupted (an import half written, or half taken
 * back) and forgets the journals of those that had finished. Run at start, before the vector index
 * is opened: the rows it writes back are marked unindexed and its deletions pending, so the index
 * catches up as it does after any write it missed.
 */
export async function recoverImports(
  store: ExampleStore,
  journal: ImportJournal,
  logger: Logger,
): Promise<void> {
  for (const job of journal.unfinished()) {
    if (job.state !== "done") {
      journal.setState(job.id, "undoing");
      let restored = 0;
      let deleted = 0;
      for (let after = ""; ; ) {
        const entries = journal.entries(job.id, after, JOURNAL_PAGE);
        if (entries.length === 0) break;
        after = (entries.at(-1) as JournalEntry).exampleId;
        const { gone, back } = undoPlan(store, entries);
        if (gone.length > 0) deleted += store.deleteMany(gone).length;
        if (back.length > 0) {
          store.write(back, "upsert");
          restored += back.length;
        }
        await yieldToLoop();
      }
      logger.warn("a write a stop interrupted was taken back", {
        write: job.id,
        mode: job.mode,
        startedAt: job.startedAt.toISOString(),
        restored,
        deleted,
      });
    }
    await forgetJournal(journal, job.id);
  }
}
