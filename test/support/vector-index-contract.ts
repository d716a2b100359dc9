import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { rng } from "../../service/routing/crossval.ts";
import type { VectorIndex } from "../../service/vectors/vector-index.ts";

export { rng };

export function randomVector(dim: number, next: () => number): Float32Array {
  const v = new Float32Array(dim);
  for (let i = 0; i < dim; i++) v[i] = next() * 2 - 1;
  return v;
}

/** Exact cosine top-k in float64: the reference every index is held to. */
export function bruteForce(
  records: ReadonlyArray<{ id: string; vector: Float32Array }>,
  q: Float32Array,
  k: number,
): Array<{ id: string; similarity: number }> {
  const norm = (v: Float32Array) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  const qn = norm(q);
  return records
    .map((r) => {
      let dot = 0;
      for (let i = 0; i < q.length; i++) dot += (q[i] as number) * (r.vector[i] as number);
      return { id: r.id, similarity: dot / (qn * norm(r.vector)) };
    })
    .sort((a, b) => b.similarity - a.similarity)
    .slice(0, k);
}

const uuid = (i: number) => `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`;

/**
 * The behaviour every VectorIndex backend must have. Run against each backend: the embedded one
 * always, remote ones when their server is reachable.
 */
export function vectorIndexContract(name: string, make: (dimension: number) => Promise<VectorIndex>): void {
  describe(`VectorIndex contract: ${name}`, () => {
    const dim = 32;
    let index: VectorIndex;
    beforeEach(async () => {
      index = await make(dim);
    });
    afterEach(async () => {
      await index.close();
    });

    it("is empty at first and searches to an empty list", async () => {
      expect(await index.count()).toBe(0);
      expect(await index.search(randomVector(dim, rng(1)), 5)).toEqual([]);
    });

    it("finds exactly what brute force finds, closest first", async () => {
      const next = rng(42);
      const records = Array.from({ length: 300 }, (_, i) => ({
        id: uuid(i),
        vector: randomVector(dim, next),
      }));
      await index.upsert(records);
      expect(await index.count()).toBe(300);
      for (let q = 0; q < 10; q++) {
        const query = randomVector(dim, next);
        const got = await index.search(query, 10);
        const want = bruteForce(records, query, 10);
        expect(got.map((g) => g.id)).toEqual(want.map((w) => w.id));
        for (const [i, g] of got.entries())
          expect(g.similarity).toBeCloseTo(want[i]?.similarity as number, 5);
      }
    });

    it("replaces a vector on upsert of the same id", async () => {
      const a = new Float32Array(dim).fill(0);
      a[0] = 1;
      const b = new Float32Array(dim).fill(0);
      b[1] = 1;
      await index.upsert([{ id: uuid(1), vector: a }]);
      await index.upsert([{ id: uuid(1), vector: b }]);
      expect(await index.count()).toBe(1);
      const [hit] = await index.search(b, 1);
      expect(hit?.id).toBe(uuid(1));
      expect(hit?.similarity).toBeCloseTo(1, 5);
    });

    it("forgets deleted ids and ignores unknown ones", async () => {
      const next = rng(7);
      const records = Array.from({ length: 50 }, (_, i) => ({
        id: uuid(i),
        vector: randomVector(dim, next),
      }));
      await index.upsert(records);
      await index.delete([uuid(3), uuid(10), uuid(999)]);
      expect(await index.count()).toBe(48);
      const hits = await index.search(records[3]?.vector as Float32Array, 50);
      expect(hits).toHaveLength(48);
      expect(hits.map((h) => h.id)).not.toContain(uuid(3));
      expect(hits.map((h) => h.id)).not.toContain(uuid(10));
      const rest = records.filter((r) => r.id !== uuid(3) && r.id !== uuid(10));
      expect(hits.map((h) => h.id)).toEqual(
        bruteForce(rest, records[3]?.vector as Float32Array, 48).map((w) => w.id),
      );
    });

    it("returns at most as many neighbours as it holds", async () => {
      await index.upsert([{ id: uuid(1), vector: randomVector(dim, rng(3)) }]);
      expect(await index.search(randomVector(dim, rng(4)), 10)).toHaveLength(1);
    });

    it("refuses vectors of the wrong dimension", async () => {
      await expect(index.upsert([{ id: uuid(1), vector: new Float32Array(dim + 1) }])).rejects.toThrow();
      await expect(index.search(new Float32Array(dim - 1), 3)).rejects.toThrow();
    });

    it("reports itself healthy", async () => {
      await expect(index.health()).resolves.toBeUndefined();
    });
  });
}
