import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import type { ActiveEmbedding, Embedding } from "../core/active-embedding.ts";
import type { Mutex } from "../core/mutex.ts";
import { type Embedder, embedPrepared } from "../embedding/embedder.ts";
import { hasTemplates, TemplateStrippingEmbedder, type Templates } from "../embedding/templates.ts";
import { errorFields, type Logger } from "../logger.ts";
import type { ExampleStore } from "../store/example-store.ts";
import type { IndexLedger } from "../store/index-ledger.ts";
import type { StagingStore } from "../store/staging-store.ts";
import type { VectorIndex } from "../vectors/vector-index.ts";
import { TemplateLearner } from "./learner.ts";

/**
 * Opens the index for vectors made with `templates` stripped: `fresh` empties it first (a
 * candidate's index, built from nothing), otherwise it is opened as it is (a replica adopting the
 * primary's switch). An in-process index is always new and empty.
 */
export type OpenIndex = (templates: Templates, embedder: Embedder, fresh: boolean) => Promise<VectorIndex>;

export interface TemplateSwitchOptions {
  /** Texts embedded and staged per batch. Default 256. */
  batchSize?: number;
  /** How long a replaced index stays before it is closed (a persistent one deleted), in ms. Default 120000. */
  retireAfterMs?: number;
}

/**
 * Learned templates, from learning to the switch. Self-tuning learns the boilerplate the stored
 * prompts share (`learn`), embeds every example without it into the staging table beside the
 * vectors in force (`stage`, at bulk priority, resumable), cross-validates on those vectors, and
 * when they rank better `switchTo`s them: a new index is built from the staged vectors while the
 * old one serves; under the write lock the writes made meanwhile are caught up, the settings that
 * go with the new vectors are committed, and embedder and index are swapped together; then the
 * staged vectors replace the stored ones a page at a time (`promoteStaged`).
 */
export class TemplateSwitch {
  private readonly batchSize: number;
  private readonly retireAfterMs: number;
  /** The example-write counter when staging last found nothing left to embed, and for which embedder. */
  private stagedAt: { embedderId: string; version: number } | undefined;
  /** Replaced indexes waiting to be released. */
  private readonly retiring = new Set<(early: boolean) => Promise<void>>();

  constructor(
    private readonly store: ExampleStore,
    private readonly ledger: IndexLedger,
    private readonly staging: StagingStore,
    private readonly active: ActiveEmbedding,
    /** The configured embedder, without templates: every candidate wraps it. */
    private readonly base: Embedder,
    private readonly openIndex: OpenIndex,
    private readonly lock: Mutex,
    /** The example-write counter (`data_version`): a switch re-checks only when it moved. */
    private readonly dataVersion: () => number,
    private readonly logger: Logger,
    options: TemplateSwitchOptions = {},
  ) {
    this.batchSize = options.batchSize ?? 256;
    this.retireAfterMs = options.retireAfterMs ?? 120_000;
  }

  /** The boilerplate the stored prompts share now: two passes over them, between other work. */
  async learn(): Promise<Templates> {
    const learner = new TemplateLearner();
    for (const pass of [(t: string) => learner.count(t), (t: string) => learner.collect(t)]) {
      let read = 0;
      for (const text of this.store.allTexts(1000)) {
        pass(text);
        if (++read % 2000 === 0) await yieldToEventLoop();
      }
    }
    return learner.templates();
  }

  /** The embedder that embeds with `templates` stripped. */
  embedderFor(templates: Templates): Embedder {
    return hasTemplates(templates) ? new TemplateStrippingEmbedder(this.base, templates) : this.base;
  }

  /**
   * Embeds every example that has no current staged vector from `embedder`, a batch at a time, and
   * stages the vectors (other candidates' are dropped first). Resumes where a stopped run left off.
   * Returns how many it embedded. Throws when an example has no text to embed (a bare imported vector).
   */
  async stage(embedder: Embedder, onProgress?: (done: number, total: number) => void): Promise<number> {
    await clearStaged(this.staging, embedder.id);
    let total = this.staging.countUnstaged(embedder.id);
    let done = 0;
    let after = "";
    for (;;) {
      const rows = await this.stageBatch(embedder, after);
      if (rows.length === 0) break;
      done += rows.length;
      after = rows.at(-1)?.id as string;
      // Examples written during the pass join it: the total grows with them.
      if (done > total) total = done + this.staging.countUnstaged(embedder.id);
      onProgress?.(done, total);
      await yieldToEventLoop();
    }
    // Examples rewritten behind the pass: scans from the start until one finds nothing.
    for (;;) {
      const version = this.dataVersion();
      const rows = await this.stageBatch(embedder, "");
      if (rows.length === 0) {
        this.stagedAt = { embedderId: embedder.id, version };
        return done;
      }
      done += rows.length;
      await yieldToEventLoop();
    }
  }

  /**
   * Puts the staged vectors of `embedder` (made with `templates`) in force. `within` runs inside
   * the transaction that commits the switch (the settings tuned on those vectors). Nothing changes
   * if it throws. Returns how long it took, how long it held the write lock, and how many writes
   * it caught up.
   */
  async switchTo(
    embedder: Embedder,
    templates: Templates,
    within: () => void,
  ): Promise<{ ms: number; lockMs: number; caughtUp: number }> {
    const started = performance.now();
    let lockMs = 0;
    let caughtUp = 0;
    const index = await this.openIndex(templates, embedder, true);
    try {
      const held = new Set<string>();
      let batch: Array<{ id: string; vector: Float32Array }> = [];
      for (const row of this.staging.vectors(embedder.id, PAGE)) {
        batch.push(row);
        held.add(row.id);
        if (batch.length === PAGE) {
          await index.upsert(batch);
          batch = [];
          await yieldToEventLoop();
        }
      }
      await index.upsert(batch);
      // Writes and deletions made while the index filled are settled outside the lock, and again
      // under it only when examples changed meanwhile: the lock is held for little more than the commit.
      // Nothing written since the staging finished: nothing to settle.
      const version = this.dataVersion();
      const staged = this.stagedAt;
      if (staged?.embedderId !== embedder.id || staged.version !== version) {
        caughtUp += await this.settle(embedder, index, held);
      }
      await this.lock.run(async () => {
        const locked = performance.now();
        if (this.dataVersion() !== version) caughtUp += await this.settle(embedder, index, held);
        this.staging.commit(within);
        this.retire(this.active.swap({ embedder, index, templates }), true);
        lockMs = performance.now() - locked;
      });
    } catch (err) {
      await (index.drop ?? index.close).call(index).catch(() => undefined);
      throw err;
    }
    // In force now; the stored vectors follow a page at a time. Cut short (a crash, a failing
    // disk), the next start finishes it: the switch itself stands either way.
    await promoteStaged(this.staging, embedder.id).catch((err: unknown) =>
      this.logger.error(
        "switched, but storing the new vectors stopped; the next start finishes it",
        errorFields(err),
      ),
    );
    const timing = { ms: performance.now() - started, lockMs, caughtUp };
    this.logger.info("switched to new learned templates", {
      embedder: embedder.id,
      prefixes: templates.prefixes.length,
      suffixes: templates.suffixes.length,
      ms: Math.round(timing.ms),
      lockMs: Math.round(lockMs),
      caughtUp,
    });
    return timing;
  }

  /** Drops staged vectors (a candidate that lost), a page at a time. */
  discard(): Promise<void> {
    return clearStaged(this.staging);
  }

  /**
   * Brings the new index in line with the examples as they are now: stages and indexes what was
   * written since the staging, and removes what was deleted. Returns how many it caught up.
   */
  private async settle(embedder: Embedder, index: VectorIndex, held: Set<string>): Promise<number> {
    const caughtUp = await this.catchUp(embedder, index, held);
    const ids = [...held];
    for (let i = 0; i < ids.length; i += 5 * PAGE) {
      const page = ids.slice(i, i + 5 * PAGE);
      const existing = this.ledger.existing(page);
      const gone = page.filter((id) => !existing.has(id));
      if (gone.length > 0) {
        await index.delete(gone);
        for (const id of gone) held.delete(id);
      }
      await yieldToEventLoop();
    }
    return caughtUp;
  }

  /** Stages and indexes what was written since the staging; returns how many. */
  private async catchUp(embedder: Embedder, index: VectorIndex, held: Set<string>): Promise<number> {
    let n = 0;
    for (;;) {
      const rows = await this.stageBatch(embedder, "");
      if (rows.length === 0) return n;
      await index.upsert(rows);
      for (const r of rows) held.add(r.id);
      n += rows.length;
    }
  }

  /** Embeds and stages the next batch of unstaged examples after `after`; returns them with their vectors. */
  private async stageBatch(
    embedder: Embedder,
    after: string,
  ): Promise<Array<{ id: string; vector: Float32Array }>> {
    const rows = this.staging.unstaged(embedder.id, this.batchSize, after);
    if (rows.length === 0) return [];
    const textless = rows.find((r) => r.text.trim() === "");
    if (textless) {
      throw new Error(
        `example ${textless.id} has no text (imported as a bare vector), so it cannot be embedded without templates`,
      );
    }
    const vectors = await embedPrepared(
      embedder,
      rows.map((r) => r.text),
    );
    const staged = rows.map((r, i) => ({ id: r.id, version: r.version, vector: vectors[i] as Float32Array }));
    this.staging.stage(staged, embedder.id);
    return staged;
  }

  /**
   * Closes a replaced index once the searches already under way have had time to finish; the
   * primary deletes a persistent one's data then (`retireAfterMs`, long enough for replicas, which
   * poll the settings every REPLICA_POLL_MS, 2 s by default, to have moved to the new one). The
   * embedder is not closed: every candidate shares the configured one.
   */
  private retire(previous: Embedding, drop: boolean): void {
    const { index } = previous;
    const release = async (early: boolean) => {
      this.retiring.delete(release);
      clearTimeout(timer);
      try {
        if (drop && index.drop && !early) return await index.drop();
        await index.close();
        if (drop && index.persistent) {
          this.logger.warn(
            "kept the replaced vector collection (a replica may still read it): delete it once none does",
            { collection: index.collection },
          );
        }
      } catch (err) {
        this.logger.warn("replaced vector index not released", errorFields(err));
      }
    };
    const timer = setTimeout(() => release(false), this.retireAfterMs);
    timer.unref();
    this.retiring.add(release);
  }

  /** At shutdown: releases replaced indexes now (a persistent one's data is kept, see `retire`). */
  async close(): Promise<void> {
    await Promise.all([...this.retiring].map((release) => release(true)));
  }
}

/**
 * Vectors copied per step of a switch (index fill, promotion), with a turn of the event loop
 * between steps: each step is a few milliseconds of the main thread, so /rank interleaves.
 */
const PAGE = 500;

/**
 * Replaces the stored vectors with the current staged ones of `embedderId` a page at a time, each
 * page one short transaction with a turn of the event loop between, then clears the staging.
 * Returns how many it replaced. Run after a switch, and at start when one was cut short.
 */
export async function promoteStaged(staging: StagingStore, embedderId: string): Promise<number> {
  let after = 0;
  let moved = 0;
  for (;;) {
    const page = staging.promotePage(embedderId, after, PAGE);
    if (page.moved === 0) break;
    after = page.last;
    moved += page.moved;
    await yieldToEventLoop();
  }
  await clearStaged(staging);
  return moved;
}

/** Drops staged vectors (but those made by `keep`) a page at a time, between other work. */
async function clearStaged(staging: StagingStore, keep?: string): Promise<void> {
  while (staging.clearPage(PAGE, keep) > 0) await yieldToEventLoop();
}
