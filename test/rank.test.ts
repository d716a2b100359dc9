import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { HashEmbedder } from "../service/embedding/hash.ts";
import { AppError } from "../service/errors.ts";
import {
  type ErrorBody,
  example,
  type RankBody,
  SwitchableEmbedder,
  startService,
  type TestService,
  TOPICS,
} from "./support/harness.ts";

describe("POST /rank", () => {
  let svc: TestService;
  let embedder: SwitchableEmbedder;

  beforeEach(async () => {
    embedder = new SwitchableEmbedder(new HashEmbedder(256));
    svc = await startService({}, { embedder });
    const added = await svc.addExamples([
      ...TOPICS.code.map((t) => example(t, { coder: 0.9, poet: 0.2 }, "code")),
      ...TOPICS.poetry.map((t) => example(t, { coder: 0.3, poet: 0.95 }, "poetry")),
    ]);
    expect(added.status).toBe(201);
  });
  afterEach(() => svc.close());

  it("ranks the target that did well on similar examples first", async () => {
    const { status, body } = await svc.rank({ query: "write a poem about the sea and the moon", k: 3 });
    expect(status).toBe(200);
    expect(body.hits).toHaveLength(3);
    expect(body.hits.every((h) => h.category === "poetry")).toBe(true);
    expect(body.scores.map((s) => s.target)).toEqual(["poet", "coder"]);
    expect(body.scores[0]).toMatchObject({ target: "poet", score: 0.95, support: 3, confidence: 1 });
    expect(body).toMatchObject({ fallback: false });
    expect(body).not.toHaveProperty("recommended");
    expect(body.k).toBe(3);
    const sims = body.hits.map((h) => h.similarity);
    expect([...sims].sort((a, b) => b - a)).toEqual(sims);
  });

  it("weights neighbours by similarity and averages only over neighbours that scored a target", async () => {
    await svc.addExamples([
      example("python function to sort a list quickly", { coder: 0.5, special: 1 }, "code"),
    ]);
    const { body } = await svc.rank({ query: "python function to sort a list", k: 4 });
    const special = body.scores.find((s) => s.target === "special");
    expect(special).toEqual({ target: "special", score: 1, support: 1, confidence: 1 });
    const coder = body.scores.find((s) => s.target === "coder");
    expect(coder?.support).toBe(4);
    expect(coder?.score).toBeGreaterThan(0.5);
    expect(coder?.score).toBeLessThan(0.9);
  });

  it("POST / answers knn-router's shape: raw similarities, its formula, a string category", async () => {
    await svc.addExamples([example("write a python function to sort a list of strings", { special: 1 })]);
    const res = await svc.request("POST", "/", {
      query: "write a python function to sort a list",
      user: "x",
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      hits: Array<{ id: string; category: string; similarity: number }>;
      scores: Array<{ target: string; score: number }>;
    };
    expect(Object.keys(body).sort()).toEqual(["hits", "scores"]);
    expect(body.hits).toHaveLength(7);
    expect(body.hits.every((h) => typeof h.category === "string")).toBe(true);
    expect(body.hits.filter((h) => h.category === "")).toHaveLength(1);
    const sum = body.hits.reduce((s, h) => s + h.similarity, 0);
    const special = body.hits.find((h) => h.category === "")?.similarity as number;
    expect(body.scores.find((s) => s.target === "special")?.score).toBe(
      Math.round((special / sum) * 100) / 100,
    );
  });

  it("ranks only the requested targets", async () => {
    const { body } = await svc.rank({ query: "write a poem", targets: ["coder"] });
    expect(body.scores.map((s) => s.target)).toEqual(["coder"]);
  });

  it("answers an empty index with empty arrays", async () => {
    const empty = await startService();
    const { status, body } = await empty.rank({ query: "anything at all" });
    expect(status).toBe(200);
    expect(body.hits).toEqual([]);
    expect(body.scores).toEqual([]);
    await empty.close();
  });

  it("uses DEFAULT_K when k is absent and caps k at the number of examples", async () => {
    const { body } = await svc.rank({ query: "python" });
    expect(body.k).toBe(20);
    expect(body.hits).toHaveLength(6);
  });

  it("truncates an over-long query to the embedder's limit and says so", async () => {
    const long = `${"python sort list ".repeat(200)}`;
    const { status, body } = await svc.rank({ query: long, truncate_strategy: 2 });
    expect(status).toBe(200);
    expect(body.truncated).toBe(true);
    expect(body.scores[0]?.target).toBe("coder");
  });

  describe("bad input gets a 4xx naming the problem", () => {
    const cases: Array<[string, unknown, string, string]> = [
      ["malformed JSON", "{not json", "INVALID_JSON", "not valid JSON"],
      ["an empty body", "", "INVALID_JSON", "empty"],
      ["a JSON array", [1, 2], "VALIDATION_FAILED", ""],
      ["a missing query", { k: 3 }, "VALIDATION_FAILED", "query"],
      ["an empty query", { query: "   " }, "VALIDATION_FAILED", "query must not be empty"],
      ["a query of the wrong type", { query: 42 }, "VALIDATION_FAILED", "query must be a string"],
      ["prompt instead of query", { prompt: "b" }, "VALIDATION_FAILED", "query"],
      ["k of 0", { query: "a", k: 0 }, "VALIDATION_FAILED", "k"],
      ["k over 200", { query: "a", k: 201 }, "VALIDATION_FAILED", "k"],
      ["a fractional k", { query: "a", k: 2.5 }, "VALIDATION_FAILED", "k must be an integer"],
      ["an unknown field", { query: "a", top_k: 5 }, "VALIDATION_FAILED", "unknown field: top_k"],
      [
        "a bad truncate_strategy",
        { query: "a", truncate_strategy: 7 },
        "VALIDATION_FAILED",
        "truncate_strategy",
      ],
      ["an empty targets list", { query: "a", targets: [] }, "VALIDATION_FAILED", "targets"],
      ["an empty category", { query: "a", category: " " }, "VALIDATION_FAILED", "category must not be empty"],
      [
        "a category of the wrong type",
        { query: "a", category: 3 },
        "VALIDATION_FAILED",
        "category must be a string",
      ],
      ["an unknown target", { query: "a", targets: ["coder", "nobody"] }, "UNKNOWN_TARGET", "nobody"],
    ];
    it.each(cases)("%s", async (_name, body, code, words) => {
      const res = await svc.request("POST", "/rank", body);
      expect(res.status).toBe(400);
      const err = (await res.json()) as ErrorBody;
      expect(err.error.code).toBe(code);
      expect(err.error.message).toContain(words);
      expect(err.error.requestId).toMatch(/.+/);
      expect(res.headers.get("x-request-id")).toBe(err.error.requestId);
    });

    it("an over-long query", async () => {
      const small = await startService({ MAX_QUERY_CHARS: "10" });
      const res = await small.request("POST", "/rank", { query: "x".repeat(11) });
      expect(res.status).toBe(400);
      expect(((await res.json()) as ErrorBody).error.message).toContain("longer than 10 characters");
      await small.close();
    });

    it("an oversized body", async () => {
      const small = await startService({ RANK_BODY_LIMIT_BYTES: "1024" });
      const res = await small.request("POST", "/rank", { query: "x".repeat(2000) });
      expect(res.status).toBe(413);
      expect(((await res.json()) as ErrorBody).error.code).toBe("PAYLOAD_TOO_LARGE");
      await small.close();
    });
  });

  it("answers 503 EMBEDDER_UNAVAILABLE with Retry-After when the embedder fails", async () => {
    embedder.failing = true;
    const res = await svc.request("POST", "/rank", { query: "write a poem" });
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("2");
    expect(((await res.json()) as ErrorBody).error.code).toBe("EMBEDDER_UNAVAILABLE");
  });

  it("answers 503 VECTOR_STORE_UNAVAILABLE when the index fails", async () => {
    svc.deps.index.search = async () => {
      throw new AppError("VECTOR_STORE_UNAVAILABLE", "vector store timed out", { retryAfterSeconds: 1 });
    };
    const res = await svc.request("POST", "/rank", { query: "write a poem" });
    expect(res.status).toBe(503);
    expect(((await res.json()) as ErrorBody).error.code).toBe("VECTOR_STORE_UNAVAILABLE");
  });

  it("answers an unexpected failure with a generic 500 that leaks nothing", async () => {
    svc.deps.index.search = async () => {
      throw new Error("secret internal detail");
    };
    const res = await svc.request("POST", "/rank", { query: "write a poem" });
    expect(res.status).toBe(500);
    const body = (await res.json()) as ErrorBody;
    expect(body.error.code).toBe("INTERNAL");
    expect(JSON.stringify(body)).not.toContain("secret");
  });

  it("drops a neighbour that was deleted between the search and the score read", async () => {
    const realSearch = svc.deps.index.search.bind(svc.deps.index);
    svc.deps.index.search = async (v, k) => [
      ...(await realSearch(v, k)),
      { id: "00000000-0000-4000-8000-000000000000", similarity: 0.99 },
    ];
    const { body } = await svc.rank({ query: "write a poem", k: 6 });
    expect(body.hits.map((h) => h.id)).not.toContain("00000000-0000-4000-8000-000000000000");
    expect(body.hits).toHaveLength(6);
  });

  it("answers 404 NOT_FOUND in the envelope for unknown routes", async () => {
    const res = await svc.request("GET", "/nope");
    expect(res.status).toBe(404);
    expect(((await res.json()) as ErrorBody).error.code).toBe("NOT_FOUND");
  });

  describe("cost-aware objective", () => {
    beforeEach(async () => {
      await svc.request(
        "PUT",
        "/admin/targets/coder",
        { input_price_per_mtok: 10, output_price_per_mtok: 30 },
        { admin: true },
      );
      await svc.request(
        "PUT",
        "/admin/targets/poet",
        { input_price_per_mtok: 0.5, output_price_per_mtok: 1.5 },
        { admin: true },
      );
    });

    it("recommends a target and prices every row", async () => {
      const res = await svc.request("POST", "/rank", {
        query: "python function to sort a list",
        k: 3,
        objective: { max_price: 5 },
      });
      expect(res.status).toBe(200);
      const body = (await res.json()) as RankBody & { recommended: string | null };
      expect(body.recommended).toBe("poet");
      expect(body.scores.map((s) => s.target)).toEqual(["coder", "poet"]);
      expect(body.scores[0]).toMatchObject({ target: "coder", price_per_mtok: 20 });
    });

    it("orders by utility when asked", async () => {
      const res = await svc.request("POST", "/rank", {
        query: "python function to sort a list",
        k: 3,
        objective: { willingness_to_pay: 10, order: "utility" },
      });
      const body = (await res.json()) as RankBody & { recommended: string };
      expect(body.recommended).toBe("poet");
      expect(body.scores[0]).toMatchObject({ target: "poet", utility: 0.2 - 1 / 10 });
    });

    it.each([
      [{}, "exactly one of"],
      [{ max_price: 1, quality_tolerance: 0.1 }, "exactly one of"],
      [{ willingness_to_pay: 0 }, "willingness_to_pay must be above 0"],
      [{ quality_tolerance: 2 }, "quality_tolerance"],
      [{ max_price: 1, order: "utility" }, "order utility needs willingness_to_pay"],
      [{ max_price: 1, budget: 3 }, "unknown field: budget"],
    ])("rejects the objective %j", async (objective, words) => {
      const res = await svc.request("POST", "/rank", { query: "x", objective });
      expect(res.status).toBe(400);
      expect(JSON.stringify(await res.json())).toContain(words);
    });
  });
});

describe("tuned ranking settings (ROUTING_SETTINGS)", () => {
  /** A settings file with `content`, in a fresh directory. */
  const settingsFile = (content: object) => {
    const path = join(mkdtempSync(join(tmpdir(), "router-settings-")), "routing.json");
    writeFileSync(path, JSON.stringify(content));
    return path;
  };
  /** A service on those settings, with code examples won by coder and poetry examples by poet. */
  const startTuned = async (settings: object, env: Record<string, string> = {}) => {
    const tuned = await startService({ ROUTING_SETTINGS: settingsFile(settings), ...env });
    await tuned.addExamples([
      ...TOPICS.code.map((t) => example(t, { coder: 1, poet: 0 }, "code")),
      ...TOPICS.poetry.map((t) => example(t, { coder: 0, poet: 1 }, "poetry")),
    ]);
    return tuned;
  };

  it("uses the file's k and shrinkage, and falls back to overall means below the similarity floor", async () => {
    const tuned = await startTuned({ k: 2, power: 1, shrinkage: 1, prior: "overall", minSimilarity: 0.5 });
    const near = await tuned.rank({ query: "python function to sort a list" });
    expect(near.body.k).toBe(2);
    expect(near.body.hits).toHaveLength(2);
    // Both neighbours are code examples scoring coder 1: (Σw·1 + 1·0.5) / (Σw + 1).
    const w = near.body.hits.reduce((a, h) => a + h.similarity, 0);
    expect(near.body.scores[0]?.target).toBe("coder");
    expect(near.body.scores[0]?.score).toBeCloseTo((w + 0.5) / (w + 1), 3);
    expect(near.body).toMatchObject({ fallback: false });

    const far = await tuned.request("POST", "/rank", { query: "zebra quantum saxophone" });
    const body = (await far.json()) as RankBody & { fallback: boolean; fallback_reason: string };
    expect(body.fallback).toBe(true);
    expect(body.fallback_reason).toContain("below the floor of 0.5");
    expect(body.scores).toEqual([
      { target: "coder", score: 0.5, support: 0, confidence: 0 },
      { target: "poet", score: 0.5, support: 0, confidence: 0 },
    ]);
    await tuned.close();
  });

  it("takes the caller's category as the prior and for the fallback, and says whether it knew it", async () => {
    const tuned = await startTuned({ k: 2, power: 1, shrinkage: 1, prior: "category", minSimilarity: 0.5 });
    const query = "python function to sort a list";
    const plain = await tuned.rank({ query });
    expect(plain.body).not.toHaveProperty("category_known");
    const w = plain.body.hits.reduce((a, h) => a + h.similarity, 0);
    // The neighbours are code examples: without a hint the prior is code's means (coder 1, poet 0).
    expect(plain.body.scores.map((s) => s.score)).toEqual([1, 0]);

    const hinted = await tuned.rank({ query, category: "poetry" });
    expect(hinted.body).toMatchObject({ category_known: true, fallback: false });
    const scores = Object.fromEntries(hinted.body.scores.map((s) => [s.target, s.score]));
    expect(scores.coder).toBeCloseTo(w / (w + 1), 3);
    expect(scores.poet).toBeCloseTo(1 / (w + 1), 3);

    const unknown = await tuned.rank({ query, category: "law" });
    expect(unknown.body).toMatchObject({ category_known: false, scores: plain.body.scores });

    const far = await tuned.request("POST", "/rank", {
      query: "zebra quantum saxophone",
      category: "poetry",
    });
    const body = (await far.json()) as RankBody & { fallback: boolean; fallback_reason: string };
    expect(body.fallback).toBe(true);
    expect(body.fallback_reason).toContain('mean score in category "poetry"');
    expect(body.scores.map((s) => [s.target, s.score])).toEqual([
      ["poet", 1],
      ["coder", 0],
    ]);
    await tuned.close();
  });

  it("falls back on thin evidence too, with the operator's default target first", async () => {
    const settings = { k: 3, power: 1, shrinkage: 0, prior: "overall", minSimilarity: 0.99, minSupport: 2 };
    const tuned = await startTuned(settings, { FALLBACK_TARGET: "poet" });
    // The query is one stored example word for word: one neighbour at similarity 1, the rest lower.
    const thin = await tuned.request("POST", "/rank", { query: TOPICS.code[0] });
    const body = (await thin.json()) as RankBody & { fallback: boolean; fallback_reason: string };
    expect(body.hits[0]?.similarity).toBe(1);
    expect(body.hits[1]?.similarity).toBeLessThan(0.99);
    expect(body.fallback).toBe(true);
    expect(body.fallback_reason).toBe(
      "1 neighbour reaches the similarity floor of 0.99, fewer than the 2 required: ranked by each target's overall mean score, the default target poet first",
    );
    expect(body.scores.map((s) => [s.target, s.support])).toEqual([
      ["poet", 0],
      ["coder", 0],
    ]);
    // A caller that rules the default target out gets the others by their means.
    const only = await tuned.rank({ query: TOPICS.code[0] as string, targets: ["coder"] });
    expect(only.body.scores.map((s) => s.target)).toEqual(["coder"]);
    // Asking for one neighbour asks for no more support than one.
    const one = await tuned.rank({ query: TOPICS.code[0] as string, k: 1 });
    expect(one.body).toMatchObject({ fallback: false });
    expect(one.body.scores.map((s) => [s.target, s.score, s.support])).toEqual([
      ["coder", 1, 1],
      ["poet", 0, 1],
    ]);
    await tuned.close();
  });

  it("refuses a settings file whose minSupport is above its k", async () => {
    const path = settingsFile({
      k: 2,
      power: 1,
      shrinkage: 0,
      prior: "overall",
      minSimilarity: 0,
      minSupport: 3,
    });
    await expect(startService({ ROUTING_SETTINGS: path })).rejects.toThrow(/routing\.json: minSupport/);
  });

  it("refuses to start on a malformed settings file, naming it", async () => {
    const path = settingsFile({ k: 0, power: 1, shrinkage: 1, prior: "overall", minSimilarity: 0 });
    await expect(startService({ ROUTING_SETTINGS: path })).rejects.toThrow(/routing\.json: k/);
  });
});
