import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { Residual } from "../service/routing/aggregate.ts";
import { rng } from "../service/routing/crossval.ts";
import { openDatabase } from "../service/store/database.ts";
import { ExampleStore, type NewExample } from "../service/store/example-store.ts";
import { TargetStore } from "../service/store/target-store.ts";

type Stats = ReturnType<TargetStore["targetStats"]>;

/**
 * The statistics computed the slow way, from every stored score: the labels' (weighted) means and
 * their weights, and every score's residual against its baseline, labels' and outcomes' alike.
 */
function recomputed(sqlite: ReturnType<typeof openDatabase>["sqlite"]): Stats {
  const rows = sqlite
    .prepare(
      `SELECT e.category AS category, s.target AS target,
         sum(CASE WHEN e.origin = 'label' THEN s.weight * s.score END) AS sum,
         sum(CASE WHEN e.origin = 'label' THEN s.weight END) AS n,
         sum(CASE WHEN s.baseline IS NOT NULL THEN s.weight * (s.score - s.baseline) END) AS rsum,
         sum(CASE WHEN s.baseline IS NOT NULL THEN s.weight END) AS rweight,
         sum(CASE WHEN s.baseline IS NOT NULL THEN 1 ELSE 0 END) AS rn,
         sum(CASE WHEN s.baseline IS NOT NULL THEN s.weight * (s.score - s.baseline) * (s.score - s.baseline) END) AS rsq
       FROM scores s JOIN examples e ON e.id = s.example_id GROUP BY 1, 2`,
    )
    .all() as Array<{
    category: string | null;
    target: string;
    sum: number | null;
    n: number | null;
    rsum: number | null;
    rweight: number | null;
    rn: number;
    rsq: number | null;
  }>;
  const total = new Map<string, [number, number]>();
  const byCategory = new Map<string, Record<string, number>>();
  const counts = new Map<string, Record<string, number>>();
  const residuals: Record<string, Residual> = {};
  const residualsByCategory = new Map<string, Record<string, Residual>>();
  for (const r of rows) {
    if (r.rn > 0) {
      const o = residuals[r.target] ?? { sum: 0, weight: 0, n: 0, sq: 0 };
      residuals[r.target] = {
        sum: o.sum + (r.rsum ?? 0),
        weight: o.weight + (r.rweight ?? 0),
        n: o.n + r.rn,
        sq: o.sq + (r.rsq ?? 0),
      };
      residualsByCategory.set(r.category ?? "", {
        ...residualsByCategory.get(r.category ?? ""),
        [r.target]: { sum: r.rsum ?? 0, weight: r.rweight ?? 0, n: r.rn, sq: r.rsq ?? 0 },
      });
    }
    if (r.n === null || r.sum === null) continue;
    const t = total.get(r.target) ?? [0, 0];
    total.set(r.target, [t[0] + r.sum, t[1] + r.n]);
    if (r.category !== null) {
      byCategory.set(r.category, { ...byCategory.get(r.category), [r.target]: r.sum / r.n });
      counts.set(r.category, { ...counts.get(r.category), [r.target]: r.n });
    }
  }
  return {
    overall: Object.fromEntries([...total].map(([t, [s, n]]) => [t, s / n])),
    byCategory,
    counts: { overall: Object.fromEntries([...total].map(([t, [, n]]) => [t, n])), byCategory: counts },
    residuals: { overall: residuals, byCategory: residualsByCategory },
  };
}

function expectSameStats(actual: Stats, expected: Stats): void {
  const round = (m: Record<string, number>) =>
    Object.fromEntries(Object.entries(m).map(([k, v]) => [k, v.toFixed(9)]));
  const roundResiduals = (m: Record<string, Residual>) =>
    Object.fromEntries(Object.entries(m).map(([k, r]) => [k, [r.sum.toFixed(9), r.weight.toFixed(9), r.n]]));
  expect(round(actual.overall)).toEqual(round(expected.overall));
  expect([...actual.byCategory.keys()].sort()).toEqual([...expected.byCategory.keys()].sort());
  for (const [c, m] of expected.byCategory) expect(round(actual.byCategory.get(c) ?? {})).toEqual(round(m));
  expect(round(actual.counts?.overall ?? {})).toEqual(round(expected.counts?.overall ?? {}));
  for (const [c, m] of expected.counts?.byCategory ?? [])
    expect(round(actual.counts?.byCategory.get(c) ?? {})).toEqual(round(m));
  expect(roundResiduals(actual.residuals?.overall ?? {})).toEqual(
    roundResiduals(expected.residuals?.overall ?? {}),
  );
  expect([...(actual.residuals?.byCategory.keys() ?? [])].sort()).toEqual(
    [...(expected.residuals?.byCategory.keys() ?? [])].sort(),
  );
  for (const [c, m] of expected.residuals?.byCategory ?? [])
    expect(roundResiduals(actual.residuals?.byCategory.get(c) ?? {})).toEqual(roundResiduals(m));
}

/**
 * Random inserts, replacements (new category, new score set) and deletions; `weighted`, some scores
 * weigh more than 1 (outcomes on explored recommendations).
 */
function churn(store: ExampleStore, steps: number, seed: number, weighted = true): void {
  const next = rng(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)] as T;
  const live = store.list({ limit: 10_000 }).map((e) => e.id);
  const example = (id: string): NewExample => {
    const scores: Record<string, number> = {};
    const weights: Record<string, number> = {};
    for (const t of ["x", "y", "z"]) {
      if (next() < 0.7) scores[t] = Math.round(next() * 100) / 100;
      if (weighted && scores[t] !== undefined && next() < 0.3) weights[t] = 1 + Math.round(next() * 90) / 10;
    }
    // An outcome's example, now and then: out of the label means, its scores read against baselines.
    const outcome = weighted && next() < 0.25;
    const baselines: Record<string, number> = {};
    for (const t of Object.keys(scores)) {
      if (next() < 0.6) baselines[t] = Math.round(next() * 100) / 100;
    }
    return {
      id,
      text: `text ${id}`,
      category: pick(["maths", "poetry", "law", null]),
      scores,
      ...(Object.keys(weights).length > 0 && { weights }),
      embedding: new Float32Array(4),
      embedderId: "test",
      origin: outcome ? "outcome" : "label",
      baselines,
    };
  };
  for (let i = 0; i < steps; i++) {
    const r = next();
    if (r < 0.4 || live.length === 0) {
      const id = `e${seed}-${i}`;
      store.write([example(id)], "insert");
      live.push(id);
    } else if (r < 0.55) {
      // A batch: new examples beside replacements, some moving category or origin.
      const ids = new Set([`e${seed}-${i}-a`, `e${seed}-${i}-b`, pick(live), pick(live)]);
      store.write(
        [...ids].map((id) => example(id)),
        "upsert",
      );
      for (const id of ids) if (!live.includes(id)) live.push(id);
    } else if (r < 0.8) {
      store.write([example(pick(live))], "upsert");
    } else if (r < 0.9) {
      const id = live.splice(Math.floor(next() * live.length), 1)[0] as string;
      expect(store.delete(id)).toBe(true);
    } else {
      const gone = [...new Set([pick(live), pick(live), "never-stored"])];
      expect(store.deleteMany(gone).sort()).toEqual(gone.filter((id) => id !== "never-stored").sort());
      for (const id of gone) if (live.includes(id)) live.splice(live.indexOf(id), 1);
    }
  }
}

describe("score totals kept by SQLite", () => {
  it("give the same means as reading every score, through inserts, replacements and deletions", () => {
    const { db, sqlite } = openDatabase(":memory:");
    const store = new ExampleStore(db);
    for (let round = 0; round < 4; round++) {
      churn(store, 150, round + 1);
      expectSameStats(new TargetStore(db).targetStats(), recomputed(sqlite));
      // Examples move between categories, and between labels and outcomes, with their scores.
      const moved = store.list({ limit: 3 });
      for (const [i, e] of moved.entries()) {
        sqlite
          .prepare("UPDATE examples SET category = ?, origin = ? WHERE id = ?")
          .run(i === 0 ? "moved" : e.category, i === 1 ? "outcome" : "label", e.id);
      }
      expectSameStats(new TargetStore(db).targetStats(), recomputed(sqlite));
    }
    expect(new TargetStore(db).targetStats().byCategory.size).toBeGreaterThan(0);
    // No empty buckets are left behind: every total counts at least one score.
    expect(sqlite.prepare("SELECT count(*) AS c FROM score_totals WHERE n <= 0 AND rn <= 0").get()).toEqual({
      c: 0,
    });
    // Emptying the store empties the totals.
    for (const { id } of sqlite.prepare("SELECT id FROM examples").all() as Array<{ id: string }>)
      store.delete(id);
    expect(sqlite.prepare("SELECT count(*) AS c FROM score_totals").get()).toEqual({ c: 0 });
    expect(new TargetStore(db).targetStats()).toEqual({
      overall: {},
      byCategory: new Map(),
      counts: { overall: {}, byCategory: new Map() },
      residuals: { overall: {}, byCategory: new Map() },
    });
    sqlite.close();
  });

  it("are filled from the scores already stored when the migration runs on an existing database", () => {
    const path = join(mkdtempSync(join(tmpdir(), "router-totals-")), "router.db");
    const first = openDatabase(path);
    churn(new ExampleStore(first.db), 200, 9, false);
    const before = recomputed(first.sqlite);
    // Back to the state before migration 0002 (and the later ones): no tables, no triggers, not
    // recorded as applied.
    const triggers = (name: string) =>
      first.sqlite
        .prepare(`SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE '${name}_%'`)
        .all() as Array<{ name: string }>;
    expect(triggers("score_totals")).toHaveLength(5);
    for (const { name } of [...triggers("score_totals"), ...triggers("data_version")]) {
      first.sqlite.exec(`DROP TRIGGER ${name}`);
    }
    for (const table of [
      "score_totals",
      "data_version",
      "routing_settings",
      "service_state",
      "staged_embeddings",
      "rankings",
      "outcomes",
      "pair_outcomes",
      "preferences",
      "batch_writes",
      "import_journal",
      "imports",
    ])
      first.sqlite.exec(`DROP TABLE ${table}`);
    // `scores` as 0000 made it: a rowid table (0012 made it WITHOUT ROWID).
    first.sqlite.exec(`CREATE TABLE scores_0000 (
      example_id text NOT NULL REFERENCES examples(id) ON DELETE cascade,
      target text NOT NULL REFERENCES targets(name),
      score real NOT NULL, weight real DEFAULT 1 NOT NULL, baseline real,
      PRIMARY KEY (example_id, target))`);
    first.sqlite.exec(
      "INSERT INTO scores_0000 SELECT example_id, target, score, weight, baseline FROM scores",
    );
    first.sqlite.exec("DROP TABLE scores");
    first.sqlite.exec("ALTER TABLE scores_0000 RENAME TO scores");
    first.sqlite.exec("CREATE INDEX scores_target_idx ON scores (target)");
    first.sqlite.exec(
      "CREATE INDEX scores_example_cover_idx ON scores (example_id, target, score, weight, baseline)",
    );
    first.sqlite.exec("ALTER TABLE targets DROP COLUMN prior_score");
    first.sqlite.exec("DROP INDEX scores_example_cover_idx");
    first.sqlite.exec("ALTER TABLE scores DROP COLUMN baseline");
    first.sqlite.exec("ALTER TABLE scores DROP COLUMN weight");
    first.sqlite.exec("CREATE INDEX scores_example_cover_idx ON scores (example_id, target, score)");
    first.sqlite.exec("DROP INDEX examples_evidence_idx");
    first.sqlite.exec("DROP INDEX examples_version_idx");
    first.sqlite.exec("ALTER TABLE examples DROP COLUMN origin");
    const journal = JSON.parse(readFileSync("migrations/meta/_journal.json", "utf8")) as {
      entries: Array<{ tag: string; when: number }>;
    };
    const since = journal.entries.find((e) => e.tag === "0002_score_totals")?.when as number;
    first.sqlite.prepare("DELETE FROM __drizzle_migrations WHERE created_at >= ?").run(since);
    first.sqlite.close();

    const again = openDatabase(path);
    const store = new ExampleStore(again.db);
    // The label means are as before; every label now has its baseline (the mean of its example's
    // other scores), and its residual counts.
    const migrated = new TargetStore(again.db).targetStats();
    expectSameStats(migrated, {
      ...recomputed(again.sqlite),
      overall: before.overall,
      byCategory: before.byCategory,
    });
    const baseline = again.sqlite
      .prepare(
        `SELECT s.baseline AS b, (SELECT avg(o.score) FROM scores o WHERE o.example_id = s.example_id AND o.target <> s.target) AS expected
         FROM scores s`,
      )
      .all() as Array<{ b: number | null; expected: number | null }>;
    expect(baseline.length).toBeGreaterThan(0);
    for (const { b, expected } of baseline) expect(b).toBe(expected);
    churn(store, 100, 10);
    expectSameStats(new TargetStore(again.db).targetStats(), recomputed(again.sqlite));
    again.sqlite.close();
  });
});
