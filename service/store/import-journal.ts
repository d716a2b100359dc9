import type { Pair } from "../routing/aggregate.ts";
import type { Db } from "./database.ts";
import type { BeforeBatch, ExampleOrigin, NewExample, ScoreMap } from "./example-store.ts";
import { fromBlob } from "./rows.ts";

/** What a journaled write does: add examples, replace them all, delete some, or rewrite some. */
export type ImportMode = "add" | "replace" | "delete" | "rewrite";

/** An unfinished import as the journal has it. */
export interface ImportRecord {
  id: string;
  state: "writing" | "undoing" | "done";
  mode: ImportMode;
  startedAt: Date;
}

/** What an import did to one example, and the example as it was before. */
export interface JournalEntry {
  exampleId: string;
  action: "write" | "delete";
  /** The example's version (`updated_at`, ms) after the import wrote it. */
  writtenAt: number | null;
  /** The example before the import, ready to write back; undefined when it did not exist. */
  prior?: NewExample;
}

/** The prior as the journal's SQL builds it (`PRIOR_JSON`). */
interface PriorJson {
  text: string;
  category: string | null;
  origin: ExampleOrigin;
  created_at: number;
  embedder_id: string;
  scores: Array<[string, number, number, number | null]>;
  preferences: Pair[];
}

/** An example as a JSON object, read where it is stored; null when it is not. */
const PRIOR_JSON = `case when e.id is null then null else json_object(
    'text', e.text, 'category', e.category, 'origin', e.origin, 'created_at', e.created_at,
    'embedder_id', v.embedder_id,
    'scores', json((select json_group_array(json_array(target, score, weight, baseline)) from scores where example_id = e.id)),
    'preferences', json((select json_group_array(json_array(target_a, target_b, a_wins, games)) from preferences where example_id = e.id))
  ) end`;

/**
 * The undo journal of imports too large for one transaction (see `ExampleWriter`): each chunk's
 * transaction records, for every example it is about to change, the example as it was, so that an
 * import that fails half way, or a process killed half way, can be taken back to all or nothing.
 */
export class ImportJournal {
  private readonly statements;

  constructor(db: Db) {
    const raw = db.$client;
    this.statements = {
      begin: raw.prepare("insert into imports (id, state, mode, started_at) values (?, 'writing', ?, ?)"),
      state: raw.prepare("update imports set state = ? where id = ?"),
      unfinished: raw.prepare("select id, state, mode, started_at from imports order by started_at").raw(),
      // An example the import writes twice keeps its first prior (the state before the import).
      record: raw.prepare(
        `insert into import_journal (import_id, example_id, action, written_at, prior, prior_vector)
         select ?, j.value, ?, ?, ${PRIOR_JSON}, v.vector
         from json_each(?) j left join examples e on e.id = j.value left join embeddings v on v.example_id = e.id
         where true
         on conflict (import_id, example_id) do update set action = excluded.action, written_at = excluded.written_at`,
      ),
      page: raw
        .prepare(
          `select example_id, action, written_at, prior, prior_vector from import_journal
           where import_id = ? and example_id > ? order by example_id limit ?`,
        )
        .raw(),
      forget: raw.prepare(
        `delete from import_journal where import_id = ? and example_id in
           (select example_id from import_journal where import_id = ? order by example_id limit ?)`,
      ),
      end: raw.prepare("delete from imports where id = ?"),
      untouched: raw
        .prepare(
          `select id from examples where id > ? and updated_at < ? and id not in
             (select example_id from import_journal where import_id = ?)
           order by id limit ?`,
        )
        .pluck(),
    };
  }

  begin(id: string, mode: ImportMode, startedAt: Date): void {
    this.statements.begin.run(id, mode, startedAt.getTime());
  }

  setState(id: string, state: ImportRecord["state"]): void {
    this.statements.state.run(state, id);
  }

  /** Imports a stop interrupted (or still running), oldest first. */
  unfinished(): ImportRecord[] {
    return (
      this.statements.unfinished.all() as Array<[string, ImportRecord["state"], ImportRecord["mode"], number]>
    ).map(([id, state, mode, startedAt]) => ({ id, state, mode, startedAt: new Date(startedAt) }));
  }

  /** The hook that records a chunk of writes (`action` write) or deletions, in the chunk's own transaction. */
  recorder(importId: string, action: "write" | "delete"): BeforeBatch {
    return (ids, at) => {
      this.statements.record.run(importId, action, action === "write" ? at : null, ids);
    };
  }

  /** Up to `limit` entries after example id `after`, in id order. */
  entries(importId: string, after: string, limit: number): JournalEntry[] {
    const rows = this.statements.page.all(importId, after, limit) as Array<
      [string, "write" | "delete", number | null, string | null, Buffer | null]
    >;
    return rows.map(([exampleId, action, writtenAt, prior, vector]) => ({
      exampleId,
      action,
      writtenAt,
      ...(prior !== null && vector !== null && { prior: priorExample(exampleId, JSON.parse(prior), vector) }),
    }));
  }

  /**
   * Forgets up to `limit` entries of a finished or undone import; returns how many went. The
   * import's own row goes with `end`, after its last entry.
   */
  forget(importId: string, limit: number): number {
    return this.statements.forget.run(importId, importId, limit).changes;
  }

  end(importId: string): void {
    this.statements.end.run(importId);
  }

  /**
   * Up to `limit` examples after id `after` that a replacing import has not written and that were
   * last written before it began: what it deletes.
   */
  untouched(importId: string, startedAt: Date, after: string, limit: number): string[] {
    return this.statements.untouched.all(after, startedAt.getTime(), importId, limit) as string[];
  }
}

function priorExample(id: string, p: PriorJson, vector: Buffer): NewExample {
  const scores: ScoreMap = {};
  const weights: ScoreMap = {};
  const baselines: ScoreMap = {};
  for (const [target, score, weight, baseline] of p.scores) {
    scores[target] = score;
    if (weight !== 1) weights[target] = weight;
    if (baseline !== null) baselines[target] = baseline;
  }
  return {
    id,
    text: p.text,
    category: p.category,
    origin: p.origin,
    scores,
    ...(Object.keys(weights).length > 0 && { weights }),
    baselines,
    preferences: p.preferences,
    embedding: fromBlob(vector),
    embedderId: p.embedder_id,
    createdAt: new Date(p.created_at),
  };
}
