import { describe, expect, it } from "vitest";
import { QuantizedScanIndex } from "../service/vectors/embedded.ts";
import { bruteForce, randomVector, rng, vectorIndexContract } from "./support/vector-index-contract.ts";

vectorIndexContract("embedded (QuantizedScanIndex)", async (dim) => new QuantizedScanIndex(dim));

describe("QuantizedScanIndex against an exact reference", () => {
  /** Clustered data, like text embeddings: many near-ties inside a cluster stress the int8 bound. */
  function clustered(n: number, dim: number, clusters: number, spread: number, seed: number) {
    const next = rng(seed);
    const centres = Array.from({ length: clusters }, () => randomVector(dim, next));
    return Array.from({ length: n }, (_, i) => {
      const c = centres[i % clusters] as Float32Array;
      const v = randomVector(dim, next).map((x, j) => (c[j] as number) + x * spread);
      return { id: `id-${i}`, vector: v };
    });
  }

  it.each([
    ["uniform random, 512-d", 512, 1, 1.0],
    ["tight clusters, 512-d", 512, 20, 0.05],
    ["loose clusters, 128-d", 128, 50, 0.6],
  ])("recall is 1.0 on %s", async (_name, dim, clusters, spread) => {
    const records = clustered(4000, dim, clusters, spread, dim + clusters);
    const index = new QuantizedScanIndex(dim, 1, 8);
    await index.upsert(records);
    const next = rng(99);
    for (let q = 0; q < 25; q++) {
      const base = records[Math.floor(next() * records.length)]?.vector as Float32Array;
      const query = base.map((x) => x + (next() - 0.5) * spread);
      const reference = bruteForce(records, query, 50);
      for (const k of [1, 10, 50]) {
        const got = await index.search(query, k);
        const want = reference.slice(0, k);
        // Ties at the k-th place may come in either order; the similarities must match exactly.
        expect(got.map((g) => g.similarity)).toEqual(
          want.map((w) => expect.closeTo(w.similarity, 6)) as unknown as number[],
        );
        expect(new Set(got.map((g) => g.id)).size).toBe(k);
      }
    }
  });

  it("stays exact after many deletes and re-inserts", async () => {
    const dim = 64;
    const next = rng(5);
    let records = Array.from({ length: 2000 }, (_, i) => ({
      id: `id-${i}`,
      vector: randomVector(dim, next),
    }));
    const index = new QuantizedScanIndex(dim, 1, 4);
    await index.upsert(records);
    const gone = records.filter((_, i) => i % 3 === 0).map((r) => r.id);
    await index.delete(gone);
    records = records.filter((r) => !gone.includes(r.id));
    const fresh = Array.from({ length: 500 }, (_, i) => ({
      id: `new-${i}`,
      vector: randomVector(dim, next),
    }));
    await index.upsert(fresh);
    records.push(...fresh);
    expect(await index.count()).toBe(records.length);
    for (let q = 0; q < 20; q++) {
      const query = randomVector(dim, next);
      expect((await index.search(query, 20)).map((h) => h.id)).toEqual(
        bruteForce(records, query, 20).map((w) => w.id),
      );
    }
  });

  it("stays exact when a later vector widens the code range", async () => {
    const dim = 64;
    const next = rng(11);
    const flat = Array.from({ length: 500 }, (_, i) => ({
      id: `flat-${i}`,
      vector: randomVector(dim, next),
    }));
    const spiky = Array.from({ length: 50 }, (_, i) => {
      const v = new Float32Array(dim).map(() => (next() - 0.5) * 0.01);
      v[i % dim] = 1;
      return { id: `spike-${i}`, vector: v };
    });
    const index = new QuantizedScanIndex(dim, 1, 4);
    await index.upsert(flat);
    await index.upsert(spiky);
    const records = [...flat, ...spiky];
    for (let q = 0; q < 20; q++) {
      const query = q % 2 ? randomVector(dim, next) : (spiky[q]?.vector as Float32Array);
      expect((await index.search(query, 15)).map((h) => h.id)).toEqual(
        bruteForce(records, query, 15).map((w) => w.id),
      );
    }
  });
});

describe("QuantizedScanIndex images", () => {
  const stamp = { embedderId: "e:8", dataVersion: 7, vectors: 0 };

  it("restores to an index that answers exactly as the one saved, and writes on from there", async () => {
    const { tempDir } = await import("./support/harness.ts");
    const tmp = tempDir();
    try {
      const next = rng(5);
      const records = Array.from({ length: 3000 }, (_, i) => ({
        id: `id-${i}`,
        vector: randomVector(24, next),
      }));
      const saved = new QuantizedScanIndex(24);
      await saved.upsert(records);
      await saved.delete(records.slice(0, 500).map((r) => r.id));
      const path = `${tmp.dir}/index.vectors`;
      await saved.saveImage(path, { ...stamp, vectors: 2500 });

      const restored = new QuantizedScanIndex(24);
      const seen: unknown[] = [];
      const accept = (s: unknown) => {
        seen.push(s);
        return true;
      };
      expect(await restored.restoreImage(path, accept)).toBe(true);
      expect(seen).toEqual([{ ...stamp, vectors: 2500 }]);
      expect(await restored.count()).toBe(2500);
      for (let q = 0; q < 20; q++) {
        const query = randomVector(24, next);
        expect(await restored.search(query, 10)).toEqual(await saved.search(query, 10));
      }
      // It goes on as any index: a write after the restore is found, a delete is gone.
      const fresh = { id: "fresh", vector: randomVector(24, next) };
      await restored.upsert([fresh]);
      await restored.delete(["id-600"]);
      expect((await restored.search(fresh.vector, 1))[0]?.id).toBe("fresh");
      expect([...(await collect(restored.ids()))]).not.toContain("id-600");
      expect(await restored.count()).toBe(2500);
    } finally {
      tmp.remove();
    }
  });

  it("is refused when its stamp is not accepted, its dimension differs, or it is missing, and a truncated one throws", async () => {
    const { tempDir } = await import("./support/harness.ts");
    const { truncateSync } = await import("node:fs");
    const tmp = tempDir();
    try {
      const index = new QuantizedScanIndex(8);
      await index.upsert([{ id: "a", vector: Float32Array.from([1, 0, 0, 0, 0, 0, 0, 0]) }]);
      const path = `${tmp.dir}/index.vectors`;
      await index.saveImage(path, stamp);
      const other = new QuantizedScanIndex(8);
      await other.upsert([{ id: "b", vector: Float32Array.from([0, 1, 0, 0, 0, 0, 0, 0]) }]);
      expect(await other.restoreImage(path, () => false)).toBe(false);
      expect(await new QuantizedScanIndex(16).restoreImage(path, () => true)).toBe(false);
      expect(await other.restoreImage(`${tmp.dir}/missing`, () => true)).toBe(false);
      // Refused: what it held is untouched.
      expect([...(await collect(other.ids()))]).toEqual(["b"]);
      truncateSync(path, 60);
      await expect(other.restoreImage(path, () => true)).rejects.toThrow(/truncated/);
      expect([...(await collect(other.ids()))]).toEqual(["b"]);
    } finally {
      tmp.remove();
    }
  });
});

async function collect(ids: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const id of ids) out.push(id);
  return out;
}
