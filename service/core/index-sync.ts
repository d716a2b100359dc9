import { AppError } from "../errors.ts";
import { errorFields, type Logger } from "../logger.ts";
import type { IndexLedger } from "../store/index-ledger.ts";
import type { VectorIndex } from "../vectors/vector-index.ts";
import type { Mutex } from "./mutex.ts";

export interface IndexSyncOptions {
  /** Rows copied per round. Default 256. */
  batchSize: number;
  /** Wait after a failed round; doubles on each failure. Default 1000 ms. */
  retryMs: number;
  /** Longest wait between retries. Default 60000 ms. */
  maxRetryMs?: number;
}

/**
 * Keeps the vector index a copy of SQLite. Rows written while the index was unreachable stay
 * marked `indexed = 0`, and deletions it did not confirm stay in `pending_deletes`; a background
 * loop copies them with exponential backoff. `reconcile` compares the whole index with SQLite.
 * Every round runs under the write lock, so it never interleaves with a write of the same rows.
 */
export class IndexSync {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private failures = 0;
  private stopped = true;

  constructor(
    private readonly store: IndexLedger,
    /** The index in force (self-tuning can swap it for one of other vectors). */
    private readonly activeIndex: () => VectorIndex,
    private readonly lock: Mutex,
    private readonly logger: Logger,
    private readonly options: IndexSyncOptions,
  ) {}

  /** Copies one batch of pending upserts and deletions; returns how many rows it moved. Throws if the index fails. */
  syncOnce(): Promise<number> {
    return this.lock.run(async () => {
      const rows = this.store.unindexed(this.options.batchSize);
      if (rows.length > 0) {
        await this.activeIndex().upsert(rows);
        for (const r of rows) this.store.markIndexed([r.id], r.version);
      }
      const gone = this.store.pendingDeleteIds(this.options.batchSize);
      if (gone.length > 0) {
        await this.activeIndex().delete(gone);
        this.store.clearPendingDeletes(gone);
      }
      return rows.length + gone.length;
    });
  }

  /** Syncs until nothing is pending, reporting progress as (done, remaining). Throws if the index fails. */
  async drain(onProgress?: (done: number, remaining: number) => void): Promise<number> {
    let done = 0;
    for (;;) {
      const moved = await this.syncOnce();
      done += moved;
      onProgress?.(done, this.store.countUnindexed());
      if (moved === 0) return done;
    }
  }

  /**
   * Makes the index hold exactly SQLite's examples: deletes points SQLite does not have and marks
   * rows the index lacks as pending, then drains. Run at start-up against a persistent index.
   */
  async reconcile(
    onProgress?: (done: number, remaining: number) => void,
  ): Promise<{ stray: number; missing: number }> {
    const index = this.activeIndex();
    const held = new Set<string>();
    for await (const id of index.ids()) held.add(id);
    const stray: string[] = [];
    const chunk = [...held];
    for (let i = 0; i < chunk.length; i += 1000) {
      const page = chunk.slice(i, i + 1000);
      const known = this.store.existing(page);
      for (const id of page) if (!known.has(id)) stray.push(id);
    }
    if (stray.length > 0) await this.lock.run(() => index.delete(stray));
    const missing: string[] = [];
    for (const id of this.store.allIds()) if (!held.has(id)) missing.push(id);
    this.store.markUnindexed(missing);
    await this.drain(onProgress);
    return { stray: stray.length, missing: missing.length };
  }

  /** Starts the background loop. */
  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  /** Asks the loop to run now (after a write the index refused). */
  kick(): void {
    if (!this.stopped && !this.running) this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private schedule(delay: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.running = this.round().finally(() => {
        this.running = undefined;
      });
    }, delay);
    this.timer.unref();
  }

  private async round(): Promise<void> {
    try {
      const moved = await this.syncOnce();
      if (moved > 0)
        this.logger.info("vector index caught up", { rows: moved, pending: this.store.countUnindexed() });
      this.failures = 0;
      if (!this.stopped) this.schedule(moved > 0 ? 0 : this.options.retryMs * 5);
    } catch (err) {
      this.failures++;
      const wait = Math.min(
        this.options.maxRetryMs ?? 60_000,
        this.options.retryMs * 2 ** (this.failures - 1),
      );
      const level = err instanceof AppError ? "warn" : "error";
      this.logger[level]("vector index sync failed; will retry", { retryInMs: wait, ...errorFields(err) });
      if (!this.stopped) this.schedule(wait);
    }
  }
}

/**
 * Copies every stored vector of `embedderId` into a fresh in-process index; deletions pending for
 * it are moot.
 */
export async function fillFromStore(
  store: IndexLedger,
  index: VectorIndex,
  embedderId: string,
): Promise<void> {
  let batch: Array<{ id: string; vector: Float32Array }> = [];
  for (const row of store.storedVectors(embedderId)) {
    batch.push(row);
    if (batch.length === 5000) {
      await index.upsert(batch);
      batch = [];
    }
  }
  await index.upsert(batch);
  store.markAllIndexed();
  store.clearPendingDeletes(store.pendingDeleteIds(Number.MAX_SAFE_INTEGER));
}
