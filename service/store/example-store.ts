import { and, asc, count, eq, gt, inArray, ne, sql } from "drizzle-orm";
import type { Db } from "./database.ts";
import {
  embeddings,
  examples,
  pendingDeletes,
  scores,
  scoreTotals,
  stagedEmbeddings,
  targets,
} from "./schema.ts";

/** Per-target scores of one example, each in [0, 1]. */
export type ScoreMap = Record<string, number>;

/** A labelled example as the API shows it. */
export interface ExampleRecord {
  id: string;
  text: string;
  category: string | null;
  scores: ScoreMap;
  createdAt: Date;
  updatedAt: Date;
}

/** An example ready to write: validated, with its embedding. */
export interface NewExample {
  id: string;
  text: string;
  category: string | null;
  scores: ScoreMap;
  embedding: Float32Array;
  embedderId: string;
}

/** A routing target with its prices and how many examples score it. */
export interface TargetRecord {
  name: string;
  inputPricePerMtok: number | null;
  outputPricePerMtok: number | null;
  enabled: boolean;
  exampleCount: number;
}

/** What a neighbour contributes to ranking: its category and scores. */
export interface Evidence {
  category: string | null;
  scores: ScoreMap;
}

export interface TargetPatch {
  inputPricePerMtok?: number | null;
  outputPricePerMtok?: number | null;
  enabled?: boolean;
}

/** An insert named ids that are stored already; nothing was written. */
export class IdsTakenError extends Error {
  override readonly name = "IdsTakenError";
  constructor(readonly ids: string[]) {
    super(`examples already exist: ${ids.slice(0, 10).join(", ")}`);
  }
}

/** Queries over the SQLite source of truth. Every write is one transaction. */
export class ExampleStore {
  /** The /rank hot path, prepared once: ids go in as one JSON array. */
  private readonly evidenceQuery;
  private readonly targetFlagsQuery;
  /**
   * The write path's statements, prepared once and run straight on the driver: built through the
   * query builder for every row, they cost several times what SQLite itself does (profiled at
   * 100k examples: statement building and preparing took over half the load time).
   */
  private readonly writes;
  private readonly vectorPages;

  constructor(private readonly db: Db) {
    // One row per example with its scores folded into a JSON object: 20 rows to read, not 20 × targets.
    const raw = db.$client;
    // Hits are read through the (id, category) index, never the row: a row's text can run to
    // overflow pages that SQLite would walk to reach the category after it (a 100 kB prompt made the
    // read of 20 hits 5x slower). The planner prefers the primary key's index, so it is named. A
    // replica's copy of a database from before that index reads the rows.
    const covered = raw
      .prepare("select 1 from sqlite_master where type = 'index' and name = 'examples_evidence_idx'")
      .get();
    this.evidenceQuery = raw
      .prepare(
        `select id, category,
           (select json_group_object(target, score) from scores where example_id = examples.id)
         from examples ${covered ? "indexed by examples_evidence_idx" : ""}
         where id in (select value from json_each(?))`,
      )
      .raw();
    this.writes = {
      taken: raw.prepare("select id from examples where id in (select value from json_each(?))").pluck(),
      target: raw.prepare(
        "insert into targets (name, created_at, updated_at) values (?, ?, ?) on conflict (name) do nothing",
      ),
      example: raw.prepare(
        `insert into examples (id, text, category, indexed, created_at, updated_at) values (?, ?, ?, 0, ?, ?)
         on conflict (id) do update set text = excluded.text, category = excluded.category, indexed = 0,
         updated_at = excluded.updated_at`,
      ),
      embedding: raw.prepare(
        `insert into embeddings (example_id, embedder_id, vector) values (?, ?, ?)
         on conflict (example_id) do update set embedder_id = excluded.embedder_id, vector = excluded.vector`,
      ),
      clearScores: raw.prepare("delete from scores where example_id = ?"),
      score: raw.prepare("insert into scores (example_id, target, score) values (?, ?, ?)"),
      undelete: raw.prepare("delete from pending_deletes where example_id = ?"),
    };
    this.vectorPages = raw
      .prepare(
        "select rowid, example_id, embedder_id, vector from embeddings where rowid > ? order by rowid limit ?",
      )
      .raw();
    this.targetFlagsQuery = db
      .select({ name: targets.name, enabled: targets.enabled })
      .from(targets)
      .prepare();
  }

  countExamples(): number {
    return this.db.select({ n: count() }).from(examples).get()?.n ?? 0;
  }

  /**
   * Writes a batch in one transaction. `mode: "insert"` throws IdsTakenError (writing nothing) if
   * any id exists; `"upsert"` replaces existing examples and their scores.
   */
  write(batch: readonly NewExample[], mode: "insert" | "upsert"): Date {
    const now = new Date();
    const at = now.getTime();
    const w = this.writes;
    this.db.$client.transaction(() => {
      if (mode === "insert") {
        const taken = w.taken.all(JSON.stringify(batch.map((e) => e.id))) as string[];
        if (taken.length > 0) throw new IdsTakenError(taken);
      }
      for (const name of new Set(batch.flatMap((e) => Object.keys(e.scores)))) w.target.run(name, at, at);
      for (const e of batch) {
        w.example.run(e.id, e.text, e.category, at, at);
        w.embedding.run(e.id, e.embedderId, toBlob(e.embedding));
        w.clearScores.run(e.id);
        for (const [target, score] of Object.entries(e.scores)) w.score.run(e.id, target, score);
        w.undelete.run(e.id);
      }
    })();
    return now;
  }

  /**
   * Deletes an example and its scores, and records the deletion for the vector index until
   * `clearPendingDeletes` confirms it; false when the example did not exist.
   */
  delete(id: string): boolean {
    return this.db.transaction((tx) => {
      if (tx.delete(examples).where(eq(examples.id, id)).run().changes === 0) return false;
      tx.insert(pendingDeletes).values({ exampleId: id, deletedAt: new Date() }).onConflictDoNothing().run();
      return true;
    });
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

  get(id: string): ExampleRecord | undefined {
    const row = this.db
      .select({
        id: examples.id,
        text: examples.text,
        category: examples.category,
        createdAt: examples.createdAt,
        updatedAt: examples.updatedAt,
      })
      .from(examples)
      .where(eq(examples.id, id))
      .get();
    if (!row) return undefined;
    return { ...row, scores: this.scoresOf([id]).get(id) ?? {} };
  }

  /** The stored text of an example, to tell whether an update needs a new embedding. */
  embeddingOf(id: string): { text: string; embedding: Float32Array; embedderId: string } | undefined {
    const row = this.db
      .select({ text: examples.text, vector: embeddings.vector, embedderId: embeddings.embedderId })
      .from(examples)
      .innerJoin(embeddings, eq(embeddings.exampleId, examples.id))
      .where(eq(examples.id, id))
      .get();
    return row && { text: row.text, embedding: fromBlob(row.vector), embedderId: row.embedderId };
  }

  /** A page of examples ordered by id, after `cursor` (an id), optionally of one category. */
  list(options: { category?: string; limit: number; after?: string }): ExampleRecord[] {
    const rows = this.db
      .select({
        id: examples.id,
        text: examples.text,
        category: examples.category,
        createdAt: examples.createdAt,
        updatedAt: examples.updatedAt,
      })
      .from(examples)
      .where(
        and(
          options.category === undefined ? undefined : eq(examples.category, options.category),
          options.after === undefined ? undefined : gt(examples.id, options.after),
        ),
      )
      .orderBy(asc(examples.id))
      .limit(options.limit)
      .all();
    const byId = this.scoresOf(rows.map((r) => r.id));
    return rows.map((r) => ({ ...r, scores: byId.get(r.id) ?? {} }));
  }

  /** Every category with its example count, by name; examples without one count under null, last. */
  categories(): Array<{ name: string | null; examples: number }> {
    // Grouped on the (category, id) index: no table scan.
    return this.db
      .select({ name: examples.category, examples: count() })
      .from(examples)
      .groupBy(examples.category)
      .orderBy(sql`${examples.category} is null`, asc(examples.category))
      .all();
  }

  /** Category and scores of each id that still exists, in one query (the /rank hot path). */
  evidence(ids: readonly string[]): Map<string, Evidence> {
    const out = new Map<string, Evidence>();
    if (ids.length === 0) return out;
    for (const [id, category, scores] of this.evidenceQuery.all(JSON.stringify(ids)) as Array<
      [string, string | null, string]
    >) {
      out.set(id, { category, scores: JSON.parse(scores) as ScoreMap });
    }
    return out;
  }

  listTargets(): TargetRecord[] {
    return this.targetRecords().all();
  }

  /** Every target with its prices, switch and example count, optionally only `name`. */
  private targetRecords(name?: string) {
    return this.db
      .select({
        name: targets.name,
        inputPricePerMtok: targets.inputPricePerMtok,
        outputPricePerMtok: targets.outputPricePerMtok,
        enabled: targets.enabled,
        exampleCount: sql<number>`(select count(*) from ${scores} where ${scores.target} = ${targets.name})`,
      })
      .from(targets)
      .where(name === undefined ? undefined : eq(targets.name, name))
      .orderBy(asc(targets.name));
  }

  /** Prices of every target, without the example counts `listTargets` adds. */
  targetPrices(): Array<{
    name: string;
    inputPricePerMtok: number | null;
    outputPricePerMtok: number | null;
  }> {
    return this.db
      .select({
        name: targets.name,
        inputPricePerMtok: targets.inputPricePerMtok,
        outputPricePerMtok: targets.outputPricePerMtok,
      })
      .from(targets)
      .all();
  }

  /**
   * Mean score of each target, overall and per category: the priors ranking shrinks toward. Read
   * from `score_totals`, which triggers keep in step with every write, so the cost grows with
   * categories × targets, not with the number of scores.
   */
  targetStats(): { overall: Record<string, number>; byCategory: Map<string, Record<string, number>> } {
    const total = new Map<string, [number, number]>();
    const byCategory = new Map<string, Record<string, number>>();
    for (const r of this.db.select().from(scoreTotals).all()) {
      const t = total.get(r.target) ?? [0, 0];
      total.set(r.target, [t[0] + r.sum, t[1] + r.n]);
      if (r.category !== "") {
        const m = byCategory.get(r.category) ?? {};
        m[r.target] = r.sum / r.n;
        byCategory.set(r.category, m);
      }
    }
    return { overall: Object.fromEntries([...total].map(([t, [s, n]]) => [t, s / n])), byCategory };
  }

  /** Name and enabled flag of every target: the cheap read /rank needs. */
  targetFlags(): Array<{ name: string; enabled: boolean }> {
    return this.targetFlagsQuery.all();
  }

  getTarget(name: string): TargetRecord | undefined {
    return this.targetRecords(name).get();
  }

  /** Applies a patch to an existing target; undefined when there is no such target. */
  updateTarget(name: string, patch: TargetPatch): TargetRecord | undefined {
    const changed = this.db
      .update(targets)
      .set({ ...patch, updatedAt: new Date() })
      .where(eq(targets.name, name))
      .run().changes;
    return changed > 0 ? this.getTarget(name) : undefined;
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

  /** Examples stored with an empty text (knn-router points imported as bare vectors). */
  countTextless(): number {
    return (
      this.db.select({ n: count() }).from(examples).where(sql`trim(${examples.text}) = ''`).get()?.n ?? 0
    );
  }

  /** Every example's text, in id order, read a page at a time. */
  *allTexts(pageSize = 10_000): Generator<string> {
    for (const r of this.examplePages(pageSize)) yield r.text;
  }

  /** Every example id, in order, read a page at a time. */
  *allIds(pageSize = 10_000): Generator<string> {
    for (const r of this.examplePages(pageSize)) yield r.id;
  }

  private examplePages(pageSize: number): Generator<{ id: string; text: string }> {
    return byPage(pageSize, (after) =>
      this.db
        .select({ id: examples.id, text: examples.text })
        .from(examples)
        .where(after === undefined ? undefined : gt(examples.id, after))
        .orderBy(asc(examples.id))
        .limit(pageSize)
        .all(),
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

  /**
   * A page of labelled examples with their vectors from `embedderId`, in id order after `after`:
   * what self-tuning cross-validates on. `chars` is the text's length (its cost is priced by it).
   */
  labelledPage(
    embedderId: string,
    after: string | undefined,
    limit: number,
    from: "stored" | "staged" = "stored",
  ): Array<{ id: string; chars: number; category: string | null; scores: ScoreMap; vector: Float32Array }> {
    // Staged vectors (a candidate embedder's) count only while made from the example as it is now.
    const vectors = from === "stored" ? embeddings : stagedEmbeddings;
    const current = from === "staged" ? eq(stagedEmbeddings.version, examples.updatedAt) : undefined;
    return this.db
      .select({
        id: examples.id,
        chars: sql<number>`length(${examples.text})`,
        category: examples.category,
        scores: sql<string>`(select json_group_object(${scores.target}, ${scores.score}) from ${scores} where ${scores.exampleId} = ${examples.id})`,
        vector: vectors.vector,
      })
      .from(examples)
      .innerJoin(vectors, eq(vectors.exampleId, examples.id))
      .where(
        and(
          eq(vectors.embedderId, embedderId),
          current,
          after === undefined ? undefined : gt(examples.id, after),
        ),
      )
      .orderBy(asc(examples.id))
      .limit(limit)
      .all()
      .map((r) => ({ ...r, scores: JSON.parse(r.scores) as ScoreMap, vector: fromBlob(r.vector) }));
  }

  private scoresOf(ids: readonly string[]): Map<string, ScoreMap> {
    const out = new Map<string, ScoreMap>();
    if (ids.length === 0) return out;
    const rows = this.db
      .select()
      .from(scores)
      .where(inArray(scores.exampleId, [...ids]))
      .all();
    for (const r of rows) {
      const m = out.get(r.exampleId) ?? {};
      m[r.target] = r.score;
      out.set(r.exampleId, m);
    }
    return out;
  }
}

/** Rows of a keyset-paginated query: `page(after)` returns up to `pageSize` rows with ids after `after`. */
function* byPage<T extends { id: string }>(
  pageSize: number,
  page: (after: string | undefined) => T[],
): Generator<T> {
  let after: string | undefined;
  for (;;) {
    const rows = page(after);
    yield* rows;
    if (rows.length < pageSize) return;
    after = rows.at(-1)?.id;
  }
}

function toBlob(v: Float32Array): Buffer {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

function fromBlob(b: Buffer): Float32Array {
  // Copy: a Buffer's offset into its pool need not be 4-byte aligned.
  const out = new Float32Array(b.byteLength / 4);
  new Uint8Array(out.buffer).set(b);
  return out;
}
