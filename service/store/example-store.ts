import { and, asc, count, eq, gt, inArray, sql } from "drizzle-orm";
import type { Pair } from "../routing/aggregate.ts";
import type { Db } from "./database.ts";
import { byPage, fromBlob, toBlob } from "./rows.ts";
import { type EXAMPLE_ORIGINS, embeddings, examples, pendingDeletes, preferences, scores } from "./schema.ts";

/** Who wrote an example: an operator (`label`) or the outcomes reported on a ranking (`outcome`). */
export type ExampleOrigin = (typeof EXAMPLE_ORIGINS)[number];

/** Per-target scores of one example, each in [0, 1]. */
export type ScoreMap = Record<string, number>;

/** Which examples a bulk delete takes: every condition given holds. */
export interface ExampleFilter {
  category?: string;
  idPrefix?: string;
  origin?: ExampleOrigin;
}

/** A labelled example as the API shows it. */
export interface ExampleRecord {
  id: string;
  text: string;
  category: string | null;
  scores: ScoreMap;
  /** The weights of the scores that do not count 1 (see `Evidence`), when any do not. */
  weights?: ScoreMap;
  /** Comparisons between targets on this prompt, when it has any (arena battles, preference outcomes). */
  preferences?: Pair[];
  /** Who wrote it: an operator (`label`) or the outcomes on a ranking (`outcome`). */
  origin: ExampleOrigin;
  createdAt: Date;
  updatedAt: Date;
}

/** An example ready to write: validated, with its embedding. */
export interface NewExample {
  id: string;
  text: string;
  category: string | null;
  scores: ScoreMap;
  /** Weights of scores other than 1 (outcomes); 1 where absent. */
  weights?: ScoreMap;
  /** Pairwise evidence on the prompt: replaces what is stored (undefined leaves it as it is). */
  preferences?: readonly Pair[];
  embedding: Float32Array;
  embedderId: string;
  /** Who writes it; `label` when absent. */
  origin?: ExampleOrigin;
  /** What each score is read against (see `scores.baseline`), where it has a baseline. */
  baselines?: ScoreMap;
  /** When it was first written, for an example written back as it was (an import taken back); now when absent. */
  createdAt?: Date;
}

/**
 * Called inside a batch's transaction before it changes anything, with the batch's ids (a JSON
 * array) and its time: what an import's journal records (see `ImportJournal`).
 */
export type BeforeBatch = (ids: string, at: number) => void;

/**
 * Adds (sign 1) or takes out (sign -1) the contributions of the listed examples' scores to
 * `score_totals`, grouped, under each example's category and origin as they are: what the totals'
 * triggers do a row at a time (migration 0011), for a whole batch in one statement.
 */
const BATCH_TOTALS = `insert into score_totals (category, target, sum, n, weight, rsum, rn, rweight, rsq)
  select coalesce(e.category, ''), s.target,
    ? * sum(case when e.origin = 'label' then s.weight * s.score else 0 end),
    ? * sum(case when e.origin = 'label' then 1 else 0 end),
    ? * sum(case when e.origin = 'label' then s.weight else 0 end),
    ? * sum(case when s.baseline is null then 0 else s.weight * (s.score - s.baseline) end),
    ? * sum(case when s.baseline is null then 0 else 1 end),
    ? * sum(case when s.baseline is null then 0 else s.weight end),
    ? * sum(case when s.baseline is null then 0 else s.weight * (s.score - s.baseline) * (s.score - s.baseline) end)
  from scores s join examples e on e.id = s.example_id
  where s.example_id in (select value from json_each(?))
  group by 1, 2
  on conflict (category, target) do update
  set sum = sum + excluded.sum, n = n + excluded.n, weight = weight + excluded.weight,
      rsum = rsum + excluded.rsum, rn = rn + excluded.rn, rweight = rweight + excluded.rweight,
      rsq = rsq + excluded.rsq`;

/** What a neighbour contributes to ranking: its category and scores. */
export interface Evidence {
  category: string | null;
  scores: ScoreMap;
  /**
   * Each score's weight where it is not 1: what it counts for against a label. An outcome scores one
   * target where a label scores them all, so it counts less (FEEDBACK_OUTCOME_WEIGHT), times 1 / the
   * policy's probability of it where propensity weighting is on (`outcomeWeight`). Absent when every
   * score weighs 1.
   */
  weights?: ScoreMap;
  /** Comparisons between targets on this prompt, when it has any. */
  preferences?: Pair[];
  /**
   * An outcome's example: what each score is read against (the router's predictions there), where
   * it has a baseline. Absent for operators' labels, which are read as they are.
   */
  baselines?: ScoreMap;
}

/** The correlated subqueries that fold an example's scores, weights and comparisons into its evidence row. */
const EVIDENCE_COLUMNS = `(select json_group_object(target, score) from scores where example_id = examples.id),
  (select json_group_array(json_array(target_a, target_b, a_wins, games)) from preferences where example_id = examples.id),
  (select json_group_object(target, weight) from scores where example_id = examples.id and weight <> 1),
  (case when examples.origin = 'outcome' then (select json_group_object(target, baseline) from scores
    where example_id = examples.id and baseline is not null) else '{}' end)`;

/** Evidence from its row's JSON columns: weights, comparisons and baselines only when there are some. */
function evidenceOf(
  category: string | null,
  scores: string,
  pairs: string,
  weights: string,
  baselines: string,
): Evidence {
  return {
    category,
    scores: JSON.parse(scores) as ScoreMap,
    ...(weights !== "{}" && { weights: JSON.parse(weights) as ScoreMap }),
    ...(pairs !== "[]" && { preferences: JSON.parse(pairs) as Pair[] }),
    ...(baselines !== "{}" && { baselines: JSON.parse(baselines) as ScoreMap }),
  };
}

/** The sign, once for each of the seven totals `BATCH_TOTALS` adds up. */
function sign(s: 1 | -1): number[] {
  return [s, s, s, s, s, s, s];
}

/** An insert named ids that are stored already; nothing was written. */
export class IdsTakenError extends Error {
  override readonly name = "IdsTakenError";
  constructor(readonly ids: string[]) {
    super(`examples already exist: ${ids.slice(0, 10).join(", ")}`);
  }
}

/**
 * The examples aggregate over the SQLite source of truth: examples, their scores and their
 * embeddings as one write. Every write is one transaction.
 */
export class ExampleStore {
  /** The /rank hot path, prepared once: ids go in as one JSON array. */
  private readonly evidenceQuery;
  private readonly versionedEvidenceQuery;
  /**
   * The write path's statements, prepared once and run straight on the driver: built through the
   * query builder for every row, they cost several times what SQLite itself does (profiled at
   * 100k examples: statement building and preparing took over half the load time).
   */
  private readonly writes;
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
        `select id, category, ${EVIDENCE_COLUMNS}
         from examples ${covered ? "indexed by examples_evidence_idx" : ""}
         where id in (select value from json_each(?))`,
      )
      .raw();
    this.versionedEvidenceQuery = raw
      .prepare(
        `select id, category, updated_at, ${EVIDENCE_COLUMNS}
         from examples where id in (select value from json_each(?))`,
      )
      .raw();
    this.writes = {
      taken: raw.prepare("select id from examples where id in (select value from json_each(?))").pluck(),
      target: raw.prepare(
        "insert into targets (name, created_at, updated_at) values (?, ?, ?) on conflict (name) do nothing",
      ),
      example: raw.prepare(
        `insert into examples (id, text, category, origin, indexed, created_at, updated_at)
         values (?, ?, ?, ?, 0, ?, ?)
         on conflict (id) do update set text = excluded.text, category = excluded.category,
         origin = excluded.origin, indexed = 0, updated_at = excluded.updated_at`,
      ),
      embedding: raw.prepare(
        `insert into embeddings (example_id, embedder_id, vector) values (?, ?, ?)
         on conflict (example_id) do update set embedder_id = excluded.embedder_id, vector = excluded.vector`,
      ),
      // The totals' triggers stand aside while `batch_writes` holds a row (this transaction only).
      batchOn: raw.prepare("insert into batch_writes (id) values (1)"),
      batchOff: raw.prepare("delete from batch_writes"),
      totals: raw.prepare(BATCH_TOTALS),
      pruneTotals: raw.prepare("delete from score_totals where n <= 0 and rn <= 0"),
      clearScores: raw.prepare("delete from scores where example_id in (select value from json_each(?))"),
      score: raw.prepare(
        "insert into scores (example_id, target, score, weight, baseline) values (?, ?, ?, ?, ?)",
      ),
      clearPreferences: raw.prepare("delete from preferences where example_id = ?"),
      preference: raw.prepare(
        "insert into preferences (example_id, target_a, target_b, a_wins, games) values (?, ?, ?, ?, ?)",
      ),
      undelete: raw.prepare(
        "delete from pending_deletes where example_id in (select value from json_each(?))",
      ),
      existing: raw.prepare("select id from examples where id in (select value from json_each(?))").pluck(),
      deleteExamples: raw.prepare("delete from examples where id in (select value from json_each(?))"),
      pendingDelete: raw.prepare(
        `insert into pending_deletes (example_id, deleted_at) select value, ? from json_each(?)
         where true on conflict (example_id) do nothing`,
      ),
      versions: raw
        .prepare("select id, updated_at from examples where id in (select value from json_each(?))")
        .raw(),
      naming: raw
        .prepare(
          `select example_id from (
             select example_id from scores where target = ? and example_id > ?
             union
             select example_id from preferences where (target_a = ? or target_b = ?) and example_id > ?
           ) order by example_id limit ?`,
        )
        .pluck(),
      writable: raw.prepare(
        `select e.id, e.text, e.category, e.origin, e.created_at as createdAt, v.embedder_id as embedderId, v.vector,
           (select json_group_array(json_array(target, score, weight, baseline)) from scores where example_id = e.id) as scores,
           (select json_group_array(json_array(target_a, target_b, a_wins, games)) from preferences where example_id = e.id) as preferences
         from examples e join embeddings v on v.example_id = e.id
         where e.id in (select value from json_each(?)) order by e.id`,
      ),
    };
  }

  countExamples(): number {
    return this.db.select({ n: count() }).from(examples).get()?.n ?? 0;
  }

  /**
   * How many examples there are (only operators' labels, with `labelsOnly`), counting `limit` at
   * most: cheap however many there are.
   */
  countExamplesUpTo(limit: number, labelsOnly = false): number {
    return this.db.$client
      .prepare(
        `select count(*) from (select 1 from examples ${labelsOnly ? "where origin = 'label'" : ""} limit ?)`,
      )
      .pluck()
      .get(limit) as number;
  }

  /**
   * Writes a batch in one transaction. `mode: "insert"` throws IdsTakenError (writing nothing) if
   * any id exists; `"upsert"` replaces existing examples and their scores. The batch's totals are
   * kept with two grouped statements (its old scores out, its new ones in) while the triggers stand
   * aside: a row at a time they were half the cost of a large write. `before` runs first, in the
   * same transaction.
   */
  write(batch: readonly NewExample[], mode: "insert" | "upsert", before?: BeforeBatch): Date {
    const now = new Date();
    const at = now.getTime();
    const w = this.writes;
    const ids = JSON.stringify(batch.map((e) => e.id));
    this.db.$client.transaction(() => {
      if (mode === "insert") {
        const taken = w.taken.all(ids) as string[];
        if (taken.length > 0) throw new IdsTakenError(taken);
      }
      before?.(ids, at);
      const named = batch.flatMap((e) => [
        ...Object.keys(e.scores),
        ...(e.preferences ?? []).flatMap(([a, b]) => [a, b]),
      ]);
      for (const name of new Set(named)) w.target.run(name, at, at);
      w.batchOn.run();
      // The old scores go first, counted out of the totals under the examples' old categories and origins.
      w.totals.run(...sign(-1), ids);
      w.clearScores.run(ids);
      for (const e of batch) {
        w.example.run(e.id, e.text, e.category, e.origin ?? "label", e.createdAt?.getTime() ?? at, at);
        w.embedding.run(e.id, e.embedderId, toBlob(e.embedding));
        for (const [target, score] of Object.entries(e.scores)) {
          w.score.run(e.id, target, score, e.weights?.[target] ?? 1, e.baselines?.[target] ?? null);
        }
        if (e.preferences) {
          w.clearPreferences.run(e.id);
          for (const [a, b, aWins, games] of e.preferences) w.preference.run(e.id, a, b, aWins, games);
        }
      }
      w.totals.run(...sign(1), ids);
      w.pruneTotals.run();
      w.undelete.run(ids);
      w.batchOff.run();
    })();
    return now;
  }

  /**
   * Deletes the listed examples that exist, in one transaction, their totals kept as `write` keeps
   * them, and records the deletions for the vector index (see `delete`). `before` runs first, in
   * the same transaction. Returns the ids that existed.
   */
  deleteMany(ids: readonly string[], before?: BeforeBatch): string[] {
    const w = this.writes;
    const at = Date.now();
    return this.db.$client.transaction(() => {
      const found = JSON.stringify(w.existing.all(JSON.stringify(ids)) as string[]);
      before?.(found, at);
      w.batchOn.run();
      w.totals.run(...sign(-1), found);
      w.clearScores.run(found);
      w.deleteExamples.run(found);
      w.pendingDelete.run(at, found);
      w.pruneTotals.run();
      w.batchOff.run();
      return JSON.parse(found) as string[];
    })();
  }

  /**
   * Up to `limit` ids after `after` (in id order) of the examples `filter` names: all of its
   * conditions at once (a category, an id prefix, an origin).
   */
  idsMatching(filter: ExampleFilter, after: string, limit: number): string[] {
    const where = ["id > ?"];
    const params: unknown[] = [after];
    if (filter.category !== undefined) {
      where.push("category = ?");
      params.push(filter.category);
    }
    if (filter.idPrefix !== undefined) {
      // A range on the primary key: ids are ASCII (the id rule), all below U+007F.
      where.push("id >= ? and id < ?");
      params.push(filter.idPrefix, `${filter.idPrefix}\u007f`);
    }
    if (filter.origin !== undefined) {
      where.push("origin = ?");
      params.push(filter.origin);
    }
    return this.db.$client
      .prepare(`select id from examples where ${where.join(" and ")} order by id limit ?`)
      .pluck()
      .all(...params, limit) as string[];
  }

  /** Up to `limit` ids after `after` of the examples that score `target` or compare it. */
  idsNaming(target: string, after: string, limit: number): string[] {
    return this.writes.naming.all(target, after, target, target, after, limit) as string[];
  }

  /** The listed examples that exist, whole and ready to write back (their vectors too), in id order. */
  writable(ids: readonly string[]): NewExample[] {
    const rows = this.writes.writable.all(JSON.stringify(ids)) as Array<{
      id: string;
      text: string;
      category: string | null;
      origin: ExampleOrigin;
      createdAt: number;
      embedderId: string;
      vector: Buffer;
      scores: string;
      preferences: string;
    }>;
    return rows.map((r) => {
      const scores: ScoreMap = {};
      const weights: ScoreMap = {};
      const baselines: ScoreMap = {};
      for (const [target, score, weight, baseline] of JSON.parse(r.scores) as Array<
        [string, number, number, number | null]
      >) {
        scores[target] = score;
        if (weight !== 1) weights[target] = weight;
        if (baseline !== null) baselines[target] = baseline;
      }
      return {
        id: r.id,
        text: r.text,
        category: r.category,
        origin: r.origin,
        scores,
        ...(Object.keys(weights).length > 0 && { weights }),
        baselines,
        preferences: JSON.parse(r.preferences) as Pair[],
        embedding: fromBlob(r.vector),
        embedderId: r.embedderId,
        createdAt: new Date(r.createdAt),
      };
    });
  }

  /** The version (`updated_at`, ms) of each of `ids` that exists. */
  versions(ids: readonly string[]): Map<string, number> {
    const rows = this.writes.versions.all(JSON.stringify(ids)) as Array<[string, number]>;
    return new Map(rows);
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

  get(id: string): ExampleRecord | undefined {
    const row = this.db
      .select({
        id: examples.id,
        text: examples.text,
        category: examples.category,
        origin: examples.origin,
        createdAt: examples.createdAt,
        updatedAt: examples.updatedAt,
      })
      .from(examples)
      .where(eq(examples.id, id))
      .get();
    if (!row) return undefined;
    const preferences = this.preferencesOf([id]).get(id);
    return { ...row, scores: {}, ...this.scoresOf([id]).get(id), ...(preferences && { preferences }) };
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
        origin: examples.origin,
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
    const pairs = this.preferencesOf(rows.map((r) => r.id));
    return rows.map((r) => {
      const preferences = pairs.get(r.id);
      return { ...r, scores: {}, ...byId.get(r.id), ...(preferences && { preferences }) };
    });
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
    for (const [id, category, scores, pairs, weights, baselines] of this.evidenceQuery.all(
      JSON.stringify(ids),
    ) as Array<[string, string | null, string, string, string, string]>) {
      out.set(id, evidenceOf(category, scores, pairs, weights, baselines));
    }
    return out;
  }

  /**
   * Category, scores and version (`updated_at`, ms) of each id that still exists: what a vector
   * index that stores payloads keeps beside each vector. Read on index writes, not on /rank.
   */
  versionedEvidence(ids: readonly string[]): Map<string, Evidence & { version: number }> {
    const out = new Map<string, Evidence & { version: number }>();
    for (let i = 0; i < ids.length; i += 500) {
      const rows = this.versionedEvidenceQuery.all(JSON.stringify(ids.slice(i, i + 500))) as Array<
        [string, string | null, number, string, string, string, string]
      >;
      for (const [id, category, version, scores, pairs, weights, baselines] of rows) {
        out.set(id, { ...evidenceOf(category, scores, pairs, weights, baselines), version });
      }
    }
    return out;
  }

  /** The id of a stored example with each of `texts` (the first by id when several share one). */
  idsByText(texts: readonly string[]): Map<string, string> {
    const out = new Map<string, string>();
    for (let i = 0; i < texts.length; i += 500) {
      const rows = this.db
        .select({ id: examples.id, text: examples.text })
        .from(examples)
        .where(inArray(examples.text, texts.slice(i, i + 500) as string[]))
        .orderBy(asc(examples.id))
        .all();
      for (const r of rows) if (!out.has(r.text)) out.set(r.text, r.id);
    }
    return out;
  }

  /**
   * Operators' examples that score some targets but not `target` (and carry no comparisons), with
   * their vectors from `embedderId`: at most `limit`, spread evenly over the table (every so many
   * rows), so that a sample of a large store still covers it.
   */
  quizCandidates(
    embedderId: string,
    target: string,
    limit: number,
  ): Array<{ id: string; text: string; category: string | null; scores: ScoreMap; vector: Float32Array }> {
    const raw = this.db.$client;
    const eligible = `e.origin = 'label' and trim(e.text) <> ''
      and exists (select 1 from scores s where s.example_id = e.id)
      and not exists (select 1 from scores s where s.example_id = e.id and s.target = ?)
      and not exists (select 1 from preferences p where p.example_id = e.id)`;
    const total = raw
      .prepare(`select count(*) from examples e where ${eligible}`)
      .pluck()
      .get(target) as number;
    const stride = Math.max(1, Math.ceil(total / limit));
    const rows = raw
      .prepare(
        `select e.id, e.text, e.category,
           (select json_group_object(target, score) from scores where example_id = e.id) as scores,
           v.vector
         from examples e join embeddings v on v.example_id = e.id
         where v.embedder_id = ? and ${eligible} and (e.rowid % ?) = 0
         order by e.id limit ?`,
      )
      .all(embedderId, target, stride, limit) as Array<{
      id: string;
      text: string;
      category: string | null;
      scores: string;
      vector: Buffer;
    }>;
    return rows.map((r) => ({ ...r, scores: JSON.parse(r.scores) as ScoreMap, vector: fromBlob(r.vector) }));
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

  /** The comparisons of each of `ids` that has any, pairs in name order. */
  private preferencesOf(ids: readonly string[]): Map<string, Pair[]> {
    const out = new Map<string, Pair[]>();
    if (ids.length === 0) return out;
    const rows = this.db
      .select()
      .from(preferences)
      .where(inArray(preferences.exampleId, [...ids]))
      .orderBy(asc(preferences.targetA), asc(preferences.targetB))
      .all();
    for (const r of rows) {
      const list = out.get(r.exampleId) ?? [];
      list.push([r.targetA, r.targetB, r.aWins, r.games]);
      out.set(r.exampleId, list);
    }
    return out;
  }

  /** Each example's scores, and the weights of those not weighing 1 when there are some. */
  private scoresOf(ids: readonly string[]): Map<string, { scores: ScoreMap; weights?: ScoreMap }> {
    const out = new Map<string, { scores: ScoreMap; weights?: ScoreMap }>();
    if (ids.length === 0) return out;
    const rows = this.db
      .select()
      .from(scores)
      .where(inArray(scores.exampleId, [...ids]))
      .all();
    for (const r of rows) {
      const m = out.get(r.exampleId) ?? { scores: {} };
      m.scores[r.target] = r.score;
      if (r.weight !== 1) m.weights = { ...m.weights, [r.target]: r.weight };
      out.set(r.exampleId, m);
    }
    return out;
  }
}
