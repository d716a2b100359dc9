import { and, asc, count, eq, gt, inArray, ne } from "drizzle-orm";
import type { Db } from "./database.ts";
import { byPage, fromBlob, toBlob } from "./rows.ts";
import { embeddings, examples, pendingDeletes } from "./schema.ts";

/**
 * The vector index's bookkeeping in SQLite: which examples the index holds (`indexed`), which
 * deletions it has not confirmed, and which stored vectors another embedder made.
 */
export class IndexLedger {
  private readonly vectorPages;

  constructor(private readonly db: Db) {
    this.vectorPages = db.$client
      .prepare(
        "select rowid, example_id, embedder_id, vector from embeddings where rowid > ? order by rowid limit ?",
      )
      .raw();
  }

  /** Deletions the vector index has not confirmed, oldest first. */
  pendingDeleteIds(limit: number): string[] {
    return this.db
      .select({ id: pendingDeletes.exampleId })
      .from(pendingDeletes)
      .orderBy(asc(pendingDeletes.deletedAt))
      .limit(limit)
      .all()
      .map((r) => r.id);
  }

  clearPendingDeletes(ids: readonly string[]): void {
    for (let i = 0; i < ids.length; i += 500) {
      this.db
        .delete(pendingDeletes)
        .where(inArray(pendingDeletes.exampleId, ids.slice(i, i + 500)))
        .run();
    }
  }

  /** Every stored embedding made by `embedderId`, in storage order, read a page at a time. */
  *storedVectors(embedderId: string, pageSize = 5000): Generator<{ id: string; vector: Float32Array }> {
    // Paged on the rowid, in storage order, the embedder filtered here. Filtered in SQL, SQLite picks
    // the embedder index (one value for every row) and sorts every row, vectors and all, for each
    // page; paged on the example id (random UUIDs), every page is random reads across the file.
    let after = 0;
    for (;;) {
      const rows = this.vectorPages.all(after, pageSize) as Array<[number, string, string, Buffer]>;
      for (const [, id, embedder, vector] of rows)
        if (embedder === embedderId) yield { id, vector: fromBlob(vector) };
      if (rows.length < pageSize) return;
      after = (rows.at(-1) as [number, string, string, Buffer])[0];
    }
  }

  /** Stored vectors made by `embedderId`. */
  countVectors(embedderId: string): number {
    return (
      this.db.select({ n: count() }).from(embeddings).where(eq(embeddings.embedderId, embedderId)).get()?.n ??
      0
    );
  }

  /** Embedder ids other than `embedderId` that stored rows were embedded with, and how many rows each. */
  otherEmbedders(embedderId: string): Array<{ embedderId: string; rows: number }> {
    return this.db
      .select({ embedderId: embeddings.embedderId, rows: count() })
      .from(embeddings)
      .where(ne(embeddings.embedderId, embedderId))
      .groupBy(embeddings.embedderId)
      .all();
  }

  /** Records that the active vector index holds every row (after loading it from this database). */
  markAllIndexed(): void {
    this.db.update(examples).set({ indexed: true }).where(eq(examples.indexed, false)).run();
  }

  /** Marks every row as missing from the vector index, so the next sync copies it again. */
  markAllUnindexed(): void {
    this.db.update(examples).set({ indexed: false }).run();
  }

  /** Marks these rows as missing from the vector index. */
  markUnindexed(ids: readonly string[]): void {
    for (let i = 0; i < ids.length; i += 500) {
      this.db
        .update(examples)
        .set({ indexed: false })
        .where(inArray(examples.id, ids.slice(i, i + 500)))
        .run();
    }
  }

  /**
   * Records that the vector index now holds these rows as written at `version` (their updated_at).
   * A row rewritten since stays unindexed, so the newer vector is copied too.
   */
  markIndexed(ids: readonly string[], version: Date): void {
    for (let i = 0; i < ids.length; i += 500) {
      this.db
        .update(examples)
        .set({ indexed: true })
        .where(and(inArray(examples.id, ids.slice(i, i + 500)), eq(examples.updatedAt, version)))
        .run();
    }
  }

  /** Rows the vector index does not hold yet, with their vectors and versions. */
  unindexed(limit: number): Array<{ id: string; vector: Float32Array; version: Date }> {
    return this.db
      .select({ id: examples.id, vector: embeddings.vector, version: examples.updatedAt })
      .from(examples)
      .innerJoin(embeddings, eq(embeddings.exampleId, examples.id))
      .where(eq(examples.indexed, false))
      .orderBy(asc(examples.updatedAt))
      .limit(limit)
      .all()
      .map((r) => ({ id: r.id, vector: fromBlob(r.vector), version: r.version }));
  }

  countUnindexed(): number {
    return this.db.select({ n: count() }).from(examples).where(eq(examples.indexed, false)).get()?.n ?? 0;
  }

  /** Examples whose stored embedding is not from `embedderId`, with their texts, for re-embedding. */
  staleEmbeddings(embedderId: string, limit: number): Array<{ id: string; text: string }> {
    return this.db
      .select({ id: examples.id, text: examples.text })
      .from(examples)
      .innerJoin(embeddings, eq(embeddings.exampleId, examples.id))
      .where(ne(embeddings.embedderId, embedderId))
      .orderBy(asc(examples.id))
      .limit(limit)
      .all();
  }

  countStaleEmbeddings(embedderId: string): number {
    return (
      this.db.select({ n: count() }).from(embeddings).where(ne(embeddings.embedderId, embedderId)).get()?.n ??
      0
    );
  }

  /** Replaces embeddings (one transaction) and marks those rows unindexed. */
  replaceEmbeddings(rows: ReadonlyArray<{ id: string; vector: Float32Array }>, embedderId: string): void {
    this.db.transaction((tx) => {
      for (const r of rows) {
        tx.update(embeddings)
          .set({ embedderId, vector: toBlob(r.vector) })
          .where(eq(embeddings.exampleId, r.id))
          .run();
        tx.update(examples).set({ indexed: false }).where(eq(examples.id, r.id)).run();
      }
    });
  }

  /** Which of `ids` are stored examples. */
  existing(ids: readonly string[]): Set<string> {
    const out = new Set<string>();
    for (let i = 0; i < ids.length; i += 500) {
      const rows = this.db
        .select({ id: examples.id })
        .from(examples)
        .where(inArray(examples.id, ids.slice(i, i + 500)))
        .all();
      for (const r of rows) out.add(r.id);
    }
    return out;
  }

  /** Every example id, in order, read a page at a time. */
  *allIds(pageSize = 10_000): Generator<string> {
    const rows = byPage(pageSize, (after) =>
      this.db
        .select({ id: examples.id })
        .from(examples)
        .where(after === undefined ? undefined : gt(examples.id, after))
        .orderBy(asc(examples.id))
        .limit(pageSize)
        .all(),
    );
    for (const r of rows) yield r.id;
  }
}
