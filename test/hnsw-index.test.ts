import { describe, expect, it } from "vitest";
import { DEFAULT_HNSW, HnswIndex } from "../service/vectors/hnsw.ts";
import { bruteForce, randomVector, rng, vectorIndexContract } from "./support/vector-index-contract.ts";

vectorIndexContract("approximate (HnswIndex)", async (dim) => new HnswIndex(dim));

describe("HnswIndex's graph against the exact reference", () => {
  it("finds at least 99% of the true 20 nearest on 5,000 clustered 64-d vectors at the default settings", async () => {
    const next = rng(11);
    const dim = 64;
    const centres = Array.from({ length: 50 }, () => randomVector(dim, next));
    const records = Array.from({ length: 5000 }, (_, i) => ({
      id: String(i),
      vector: (centres[i % 50] as Float32Array).map((x) => x + (next() * 2 - 1) * 0.8),
    }));
    // exactBelow 0: every search goes through the graph.
    const index = new HnswIndex(dim, { ...DEFAULT_HNSW, exactBelow: 0 });
    await index.upsert(records);
    await index.delete(["0", "1", "2"]);
    const kept = records.slice(3);
    let hit = 0;
    let total = 0;
    for (let q = 0; q < 100; q++) {
      const query = (centres[q % 50] as Float32Array).map((x) => x + (next() * 2 - 1) * 0.8);
      const want = new Set(bruteForce(kept, query, 20).map((w) => w.id));
      const got = await index.search(query, 20);
      expect(got.map((g) => g.id)).not.toContain("0");
      hit += got.filter((g) => want.has(g.id)).length;
      total += want.size;
    }
    expect(hit / total).toBeGreaterThanOrEqual(0.99);
    await index.close();
  });
});
