import type { Db } from "./database.ts";

/**
 * Vectors of a candidate embedder, staged beside the vectors in force (`staged_embeddings`) while
 * self-tuning tries other learned templates. A staged row counts only while its `version` is the
 * example's `updated_at`: an example written since is embedded again. Promoted into `embeddings`
 * when the candidate wins (`commit`, then `promotePage` until done); cleared when it loses.
 */
export class StagingStore {
  private prepared: ReturnType<typeof prepare> | undefined;

  constructor(private readonly db: Db) {}

  /** Prepared on first use: a read-only replica's copy may predate the table (it never stages). */
  private get q(): ReturnType<typeof prepare> {
    this.prepared ??= prepare(this.db);
    return this.prepared;
  }

  /** Examples after `after` (an id) with no current vector from `embedderId` staged, in id order. */
  unstaged(
    embedderId: string,
    limit: number,
    after = "",
  ): Array<{ id: string; text: string; version: Date }> {
    const rows = this.q.unstaged.all({ embedder: embedderId, after, limit }) as Array<{
      id: string;
      text: string;
      version: number;
    }>;
    return rows.map((r) => ({ id: r.id, text: r.text, version: new Date(r.version) }));
  }

  countUnstaged(embedderId: string): number {
    return this.q.countUnstaged.get({ embedder: embedderId }) as number;
  }

  /** Stages vectors made by `embedderId` for these examples as of `version`, in one transaction. */
  stage(rows: ReadonlyArray<{ id: string; version: Date; vector: Float32Array }>, embedderId: string): void {
    this.db.$client.transaction(() => {
      for (const r of rows) {
        this.q.stage.run(
          r.id,
          embedderId,
          r.version.getTime(),
          Buffer.from(r.vector.buffer, r.vector.byteOffset, r.vector.byteLength),
        );
      }
    })();
  }

  /** Every current staged vector of `embedderId`, in storage order, a page at a time. */
  *vectors(embedderId: string, pageSize = 5000): Generator<{ id: string; vector: Float32Array }> {
    let after = 0;
    for (;;) {
      const rows = this.q.vectors.all({ embedder: embedderId, after, limit: pageSize }) as Array<
        [number, string, Buffer]
      >;
      for (const [, id, blob] of rows) {
        const vector = new Float32Array(blob.byteLength / 4);
        new Uint8Array(vector.buffer).set(blob);
        yield { id, vector };
      }
      if (rows.length < pageSize) return;
      after = (rows.at(-1) as [number, string, Buffer])[0];
    }
  }

  /**
   * In one transaction: `within` (the settings and templates that go with the staged vectors),
   * and every row counts as held by the index in force (the new one, filled from the staging).
   * The stored vectors are then replaced a page at a time (`promotePage`): writes made meanwhile
   * already carry the new embedder's vectors, and a page is a short transaction that /rank's
   * reads interleave with. A start that finds staged vectors of the embedder in force finishes it.
   */
  commit(within: () => void): void {
    this.db.$client.transaction(() => {
      this.q.allIndexed.run();
      within();
    })();
  }

  /**
   * Replaces the stored vectors of up to `limit` examples, after staged rowid `after`, with their
   * current staged vectors from `embedderId`, in one transaction. Returns the last rowid read and
   * how many it replaced (none: done).
   */
  promotePage(embedderId: string, after: number, limit: number): { last: number; moved: number } {
    const rows = this.q.page.all({ embedder: embedderId, after, limit }) as Array<[number, string]>;
    this.db.$client.transaction(() => {
      for (const [, id] of rows) this.q.promote.run({ embedder: embedderId, id });
    })();
    return { last: rows.at(-1)?.[0] ?? after, moved: rows.length };
  }

  /** Staged vectors from `embedderId`. */
  count(embedderId: string): number {
    return this.q.count.get({ embedder: embedderId }) as number;
  }

  /** Drops up to `limit` staged vectors (but those made by `keep`); returns how many. */
  clearPage(limit: number, keep = ""): number {
    return this.q.clearPage.run({ limit, keep }).changes;
  }
}

/** The staging's statements. */
function prepare(db: Db) {
  const raw = db.$client;
  const current = "s.embedder_id = @embedder and s.version = e.updated_at";
  // Which rows are current is read from two covering indexes, never from the rows (a text, a
  // 2 KiB vector): the planner would pick the primary keys and read every row.
  const byVersion = "indexed by examples_version_idx";
  const byCurrent = "indexed by staged_current_idx";
  return {
    unstaged: raw.prepare(
      `select e.id, e.text, e.updated_at as version from examples e ${byVersion}
         left join staged_embeddings s ${byCurrent} on s.example_id = e.id
         where e.id > @after and (s.example_id is null or not (${current}))
         order by e.id limit @limit`,
    ),
    countUnstaged: raw
      .prepare(
        `select count(*) from examples e ${byVersion}
           left join staged_embeddings s ${byCurrent} on s.example_id = e.id
           where s.example_id is null or not (${current})`,
      )
      .pluck(),
    stage: raw.prepare(
      "insert or replace into staged_embeddings (example_id, embedder_id, version, vector) values (?, ?, ?, ?)",
    ),
    vectors: raw
      .prepare(
        `select s.rowid, s.example_id, s.vector from staged_embeddings s
           join examples e ${byVersion} on e.id = s.example_id
           where s.rowid > @after and ${current} order by s.rowid limit @limit`,
      )
      .raw(),
    page: raw
      .prepare(
        `select s.rowid, s.example_id from staged_embeddings s
           join examples e ${byVersion} on e.id = s.example_id
           where s.rowid > @after and ${current} order by s.rowid limit @limit`,
      )
      .raw(),
    promote: raw.prepare(
      `update embeddings set embedder_id = @embedder,
           vector = (select s.vector from staged_embeddings s where s.example_id = @id)
         where example_id = @id`,
    ),
    clearPage: raw.prepare(
      `delete from staged_embeddings where rowid in
           (select rowid from staged_embeddings where embedder_id != @keep limit @limit)`,
    ),
    count: raw.prepare("select count(*) from staged_embeddings where embedder_id = @embedder").pluck(),
    allIndexed: raw.prepare("update examples set indexed = 1 where indexed = 0"),
  };
}
