import { describe, expect, it } from "vitest";
import { QuantizedScanIndex } from "../service/vectors/embedded.ts";
import { codeBytes, SignCodes, signCode } from "../service/vectors/sign-codes.ts";
import { bruteForce, randomVector, rng, vectorIndexContract } from "./support/vector-index-contract.ts";

vectorIndexContract("embedded (QuantizedScanIndex)", async (dim) => new QuantizedScanIndex(dim));
// The same contract with the sign-code first pass from the first vector on (its candidates then
// cover the contract's small sets, so it must answer exactly as the exact scan).
vectorIndexContract(
  "embedded, sign-code first pass",
  async (dim) => new QuantizedScanIndex(dim, { compactFrom: 1, compactCandidates: 256 }),
);

describe("sign codes and their Hamming scan", () => {
  const popcount = (a: Uint8Array, b: Uint8Array) => {
    let s = 0;
    for (let i = 0; i < a.length; i++)
      for (let x = (a[i] as number) ^ (b[i] as number); x; x >>= 1) s += x & 1;
    return s;
  };

  it.each([8, 64, 100, 512, 768])(
    "finds the nearest codes exactly as a plain popcount does (%i-d)",
    (dim) => {
      const next = rng(dim);
      const n = 3000;
      const vectors = Array.from({ length: n }, () => randomVector(dim, next));
      const codes = new SignCodes(dim);
      codes.reserve(100); // grown on the way, the codes already written kept
      vectors.forEach((v, slot) => {
        codes.reserve(slot + 1);
        codes.set(slot, v);
      });
      const code = (v: Float32Array) => {
        const out = new Uint8Array(codeBytes(dim));
        signCode(v, out);
        return out;
      };
      for (let q = 0; q < 10; q++) {
        const query = randomVector(dim, next);
        const distances = vectors.map((v) => popcount(code(v), code(query)));
        for (const count of [1, 20, 500]) {
          const cut = [...distances].sort((a, b) => a - b)[count - 1] as number;
          const want = distances.flatMap((d, slot) => (d <= cut ? [slot] : []));
          expect([...codes.nearest(query, n, count)]).toEqual(want);
        }
      }
    },
  );

  it("scans with a helper thread exactly as alone, over codes enough to split", () => {
    const dim = 64;
    const next = rng(17);
    const n = 70_000;
    const alone = new SignCodes(dim, 1);
    const shared = new SignCodes(dim, 2);
    alone.reserve(n);
    shared.reserve(n);
    for (let slot = 0; slot < n; slot++) {
      const v = randomVector(dim, next);
      alone.set(slot, v);
      shared.set(slot, v);
    }
    try {
      for (let q = 0; q < 5; q++) {
        const query = randomVector(dim, next);
        const want = alone.nearest(query, n, 300);
        expect(want.length).toBeGreaterThanOrEqual(300);
        expect([...shared.nearest(query, n, 300)]).toEqual([...want]);
      }
      // Both threads took part: the helper is up.
      expect((shared as unknown as { helper?: unknown }).helper).toBeDefined();
    } finally {
      shared.close();
    }
  });

  it("a code's bit j is the sign of component j", () => {
    const out = new Uint8Array(8);
    signCode(
      Float32Array.from({ length: 10 }, (_, j) => (j % 3 === 0 ? 1 : -1)),
      out,
    );
    expect([...out]).toEqual([0b01001001, 0b10, 0, 0, 0, 0, 0, 0]);
  });
});

describe("the sign-code first pass", () => {
  it("keeps the exact answer when its candidates hold it, through deletes and moves", async () => {
    const dim = 64;
    const next = rng(21);
    let records = Array.from({ length: 3000 }, (_, i) => ({
      id: `id-${i}`,
      vector: randomVector(dim, next),
    }));
    const index = new QuantizedScanIndex(dim, { compactFrom: 1000, compactCandidates: 3000 });
    await index.upsert(records);
    const gone = records.filter((_, i) => i % 4 === 0).map((r) => r.id);
    await index.delete(gone);
    records = records.filter((r) => !gone.includes(r.id));
    for (let q = 0; q < 20; q++) {
      const query = randomVector(dim, next);
      expect((await index.search(query, 20)).map((h) => h.id)).toEqual(
        bruteForce(records, query, 20).map((w) => w.id),
      );
    }
  });

  it("finds nearly every true neighbour of clustered vectors from a small share of candidates", async () => {
    const dim = 128;
    const next = rng(8);
    const centres = Array.from({ length: 40 }, () => randomVector(dim, next));
    const records = Array.from({ length: 8000 }, (_, i) => {
      const c = centres[i % centres.length] as Float32Array;
      return { id: `id-${i}`, vector: randomVector(dim, next).map((x, j) => (c[j] as number) + x * 0.7) };
    });
    const index = new QuantizedScanIndex(dim, { compactFrom: 1, compactCandidates: 800 });
    await index.upsert(records);
    let found = 0;
    const queries = 30;
    for (let q = 0; q < queries; q++) {
      const c = centres[q % centres.length] as Float32Array;
      const query = randomVector(dim, next).map((x, j) => (c[j] as number) + x * 0.7);
      const truth = new Set(bruteForce(records, query, 10).map((w) => w.id));
      const got = await index.search(query, 10);
      found += got.filter((h) => truth.has(h.id)).length;
      // What it returns is scored exactly, best first.
      const sims = got.map((h) => h.similarity);
      expect(sims).toEqual([...sims].sort((a, b) => b - a));
    }
    // 10% of the vectors read as int8: recall@10 is 1.0 at this seed; 800 candidates drawn at random
    // would hold about 10% of the true neighbours.
    expect(found / (queries * 10)).toBeGreaterThan(0.9);
  });

  it("restores an image with its sign codes rebuilt", async () => {
    const { tempDir } = await import("./support/harness.ts");
    const tmp = tempDir();
    try {
      const next = rng(3);
      const records = Array.from({ length: 1500 }, (_, i) => ({
        id: `id-${i}`,
        vector: randomVector(32, next),
      }));
      const options = { compactFrom: 1, compactCandidates: 200 };
      const saved = new QuantizedScanIndex(32, options);
      await saved.upsert(records);
      const path = `${tmp.dir}/index.vectors`;
      await saved.saveImage(path, { embedderId: "e", dataVersion: 1, vectors: 1500 });
      const restored = new QuantizedScanIndex(32, options);
      expect(await restored.restoreImage(path, () => true)).toBe(true);
      for (let q = 0; q < 10; q++) {
        const query = randomVector(32, next);
        expect(await restored.search(query, 10)).toEqual(await saved.search(query, 10));
      }
    } finally {
      tmp.remove();
    }
  });
});

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
    const index = new QuantizedScanIndex(dim, { oversample: 1, minCandidates: 8 });
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
    const index = new QuantizedScanIndex(dim, { oversample: 1, minCandidates: 4 });
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
    const index = new QuantizedScanIndex(dim, { oversample: 1, minCandidates: 4 });
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
