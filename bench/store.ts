/**
 * Cost of the target statistics (the means ranking shrinks toward) and of keeping them, at N
 * stored examples with 8 targets' scores each.
 *
 *   npm run bench:store                    # N = 100,000
 *   npm run bench:store -- --n 20000
 *
 * Prints: the time to write a batch of 1,000 examples with the `score_totals` triggers and with
 * them dropped (the same store, fresh files), the time of one statistics read from the totals
 * against the GROUP BY over every score that the totals replace, and the time of /rank's read of
 * 20 hits when their texts are 100 characters and when they are 100,000.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { rng } from "../service/routing/crossval.ts";
import { openDatabase } from "../service/store/database.ts";
import { ExampleStore, type NewExample } from "../service/store/example-store.ts";
import { TargetStore } from "../service/store/target-store.ts";
import { percentile } from "./stats.ts";

const { values } = parseArgs({ options: { n: { type: "string", default: "100000" } } });
const N = Number(values.n);
const TARGETS = ["t-large", "t-medium", "t-small", "t-code", "t-math", "t-chat", "t-local", "t-cheap"];
const CATEGORIES = 50;
const BATCH = 1000;

/** A store in a temporary file holding N examples; returns it with the mean ms per batch written. */
function load(withTriggers: boolean) {
  const dir = mkdtempSync(join(tmpdir(), "router-bench-store-"));
  const { db, sqlite } = openDatabase(join(dir, "router.db"));
  if (!withTriggers) {
    const triggers = sqlite
      .prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'score_totals_%'")
      .all() as Array<{ name: string }>;
    for (const { name } of triggers) sqlite.exec(`DROP TRIGGER ${name}`);
  }
  const store = new ExampleStore(db);
  const next = rng(1);
  const vector = new Float32Array(512);
  const times: number[] = [];
  for (let start = 0; start < N; start += BATCH) {
    const batch: NewExample[] = [];
    for (let i = start; i < Math.min(N, start + BATCH); i++) {
      const scores = Object.fromEntries(TARGETS.map((t) => [t, Math.round(next() * 100) / 100]));
      batch.push({
        id: `e${i}`,
        text: `example ${i}`,
        category: `topic-${i % CATEGORIES}`,
        scores,
        embedding: vector,
        embedderId: "bench",
      });
    }
    const t0 = performance.now();
    store.write(batch, "insert");
    times.push(performance.now() - t0);
  }
  return {
    store,
    targets: new TargetStore(db),
    sqlite,
    dir,
    msPerBatch: times.reduce((a, b) => a + b, 0) / times.length,
  };
}

const plain = load(false);
plain.sqlite.close();
rmSync(plain.dir, { recursive: true, force: true });
const kept = load(true);
const groupBy = kept.sqlite.prepare(
  "SELECT e.category, s.target, sum(s.score), count(*) FROM scores s JOIN examples e ON e.id = s.example_id GROUP BY 1, 2",
);
const time = (f: () => unknown, n: number) =>
  Array.from({ length: n }, () => {
    const t0 = performance.now();
    f();
    return performance.now() - t0;
  });
const totals = time(() => kept.targets.targetStats(), 50);
const scan = time(() => groupBy.all(), 5);
// Large prompts: 2,000 examples of 100,000 characters beside the N short ones; /rank reads hits'
// categories and scores, never their texts, so a hit's size should not matter.
const LARGE = 2_000;
for (let start = 0; start < LARGE; start += 100) {
  kept.store.write(
    Array.from({ length: 100 }, (_, k) => ({
      id: `large${start + k}`,
      text: `${start + k} `.padEnd(100_000, "lorem ipsum "),
      category: `topic-${k % CATEGORIES}`,
      scores: { [TARGETS[0] as string]: 0.5 },
      embedding: new Float32Array(512),
      embedderId: "bench",
    })),
    "insert",
  );
}
const pick = rng(2);
const hits = (prefix: string, of: number) =>
  Array.from({ length: 20 }, () => `${prefix}${Math.floor(pick() * of)}`);
const shortHits = time(() => kept.store.evidence(hits("e", N)), 2000);
const largeHits = time(() => kept.store.evidence(hits("large", LARGE)), 2000);
kept.sqlite.close();
rmSync(kept.dir, { recursive: true, force: true });

const ms = (x: number) => `${x.toFixed(2)} ms`;
console.log(`N = ${N.toLocaleString("en")} examples (${TARGETS.length} targets, ${CATEGORIES} categories)`);
console.log(`  write a batch of ${BATCH}, score_totals triggers:  ${ms(kept.msPerBatch)}`);
console.log(`  write a batch of ${BATCH}, triggers dropped:       ${ms(plain.msPerBatch)}`);
console.log(
  `  statistics from score_totals:   p50 ${ms(percentile(totals, 50))}  max ${ms(Math.max(...totals))}  (n=${totals.length})`,
);
console.log(
  `  statistics by GROUP BY (before): p50 ${ms(percentile(scan, 50))}  max ${ms(Math.max(...scan))}  (n=${scan.length})`,
);
console.log(
  `  /rank's read of 20 hits, 100-character texts:     p50 ${ms(percentile(shortHits, 50))}  p99 ${ms(percentile(shortHits, 99))}`,
);
console.log(
  `  /rank's read of 20 hits, 100,000-character texts: p50 ${ms(percentile(largeHits, 50))}  p99 ${ms(percentile(largeHits, 99))}`,
);
