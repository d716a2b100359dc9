import { describe, expect, it } from "vitest";
import { openDatabase } from "../service/store/database.ts";
import { IdsTakenError, type NewExample } from "../service/store/example-store.ts";
import { openStores } from "../service/store/stores.ts";

const row = (i: number, embedderId: string): NewExample => ({
  id: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
  text: `example ${i}`,
  category: i % 2 ? "odd" : null,
  scores: { a: (i % 10) / 10, b: 0.5 },
  embedding: Float32Array.from([i, 1, 0]),
  embedderId,
});

describe("the example store's bulk paths", () => {
  it("reads back every stored vector of one embedder across pages, in storage order, skipping the others", () => {
    const { examples: store, ledger } = openStores(openDatabase(":memory:").db);
    // Interleaved ids, so that pages hold both embedders' rows.
    store.write(
      Array.from({ length: 23 }, (_, i) => row(i, i % 3 === 0 ? "other:3" : "mine:3")),
      "insert",
    );
    const got = [...ledger.storedVectors("mine:3", 4)];
    const want = Array.from({ length: 23 }, (_, i) => i).filter((i) => i % 3 !== 0);
    expect(got.map((r) => r.id)).toEqual(want.map((i) => row(i, "").id));
    expect(got.map((r) => Array.from(r.vector))).toEqual(want.map((i) => [i, 1, 0]));
    expect([...ledger.storedVectors("other:3", 5)]).toHaveLength(8);
  });

  it("writes a batch whole: insert refuses ids that exist, upsert replaces text, category and scores", () => {
    const { examples: store, targets } = openStores(openDatabase(":memory:").db);
    store.write([row(1, "e"), row(2, "e")], "insert");
    expect(() => store.write([row(3, "e"), row(2, "e")], "insert")).toThrow(IdsTakenError);
    expect(store.countExamples()).toBe(2);
    const changed = { ...row(2, "e"), text: "changed", category: "new", scores: { c: 0.9 } };
    store.write([changed], "upsert");
    expect(store.get(changed.id)).toMatchObject({ text: "changed", category: "new", scores: { c: 0.9 } });
    expect(targets.listTargets().map((t) => t.name)).toEqual(["a", "b", "c"]);
  });

  it("reads the hits' categories and scores, whatever the length of their texts, and skips missing ids", () => {
    const { examples: store } = openStores(openDatabase(":memory:").db);
    store.write([row(1, "e"), { ...row(2, "e"), text: "x".repeat(100_000) }, row(3, "e")], "insert");
    const got = store.evidence([row(2, "").id, row(9, "").id, row(3, "").id]);
    expect([...got.entries()].sort()).toEqual([
      [row(2, "").id, { category: null, scores: { a: 0.2, b: 0.5 } }],
      [row(3, "").id, { category: "odd", scores: { a: 0.3, b: 0.5 } }],
    ]);
  });
});

describe("weights of outcomes' scores", () => {
  it("are read with the evidence, the example and self-tuning's snapshot, only where not 1", async () => {
    const { readSnapshot } = await import("../service/tuning/snapshot.ts");
    const stores = openStores(openDatabase(":memory:").db);
    const label = row(1, "mine:3");
    const outcome = { ...row(2, "mine:3"), scores: { a: 1 }, weights: { a: 0.5 } };
    stores.examples.write([label, outcome], "insert");
    const evidence = stores.examples.evidence([label.id, outcome.id]);
    expect(evidence.get(label.id)).toEqual({ category: "odd", scores: label.scores });
    expect(evidence.get(outcome.id)).toEqual({ category: null, scores: { a: 1 }, weights: { a: 0.5 } });
    expect(stores.examples.get(outcome.id)).toMatchObject({ scores: { a: 1 }, weights: { a: 0.5 } });
    expect(stores.examples.get(label.id)?.weights).toBeUndefined();
    const snapshot = await readSnapshot(stores.snapshots, stores.targets, "mine:3");
    expect(snapshot.items).toEqual([
      { category: "odd", scores: label.scores },
      { category: null, scores: { a: 1 }, weights: { a: 0.5 } },
    ]);
    // And the means ranking shrinks toward count it at its weight: a = (0.1 + 0.5 · 1) / 1.5.
    expect(stores.targets.targetStats().overall.a).toBeCloseTo((0.1 + 0.5) / 1.5, 12);
  });
});
