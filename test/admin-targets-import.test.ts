import { readFileSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CachedEmbedder } from "../service/embedding/cache.ts";
import { HashEmbedder } from "../service/embedding/hash.ts";
import {
  ADMIN_TOKEN,
  type ErrorBody,
  example,
  startService,
  type TestService,
  TOPICS,
} from "./support/harness.ts";

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8");

interface TargetJson {
  name: string;
  input_price_per_mtok: number | null;
  output_price_per_mtok: number | null;
  enabled: boolean;
  examples: number;
}

describe("admin API: targets", () => {
  let svc: TestService;
  beforeEach(async () => {
    svc = await startService();
    await svc.addExamples([
      ...TOPICS.code.map((t) => example(t, { coder: 0.9, "mistralai/Mixtral-8x7B": 0.4 }, "code")),
      ...TOPICS.poetry.map((t) => example(t, { poet: 0.95 }, "poetry")),
    ]);
  });
  afterEach(() => svc.close());

  const targets = async () => {
    const res = await svc.request("GET", "/admin/targets", undefined, { admin: true });
    expect(res.status).toBe(200);
    return ((await res.json()) as { targets: TargetJson[] }).targets;
  };

  it("lists every target that an example scores, with counts", async () => {
    expect(await targets()).toEqual([
      {
        name: "coder",
        input_price_per_mtok: null,
        output_price_per_mtok: null,
        enabled: true,
        prior_score: null,
        examples: 3,
      },
      {
        name: "mistralai/Mixtral-8x7B",
        input_price_per_mtok: null,
        output_price_per_mtok: null,
        enabled: true,
        prior_score: null,
        examples: 3,
      },
      {
        name: "poet",
        input_price_per_mtok: null,
        output_price_per_mtok: null,
        enabled: true,
        prior_score: null,
        examples: 3,
      },
    ]);
  });

  it("sets prices, also on names with a slash", async () => {
    const res = await svc.request(
      "PUT",
      `/admin/targets/${encodeURIComponent("mistralai/Mixtral-8x7B")}`,
      { input_price_per_mtok: 0.6, output_price_per_mtok: 0.6 },
      { admin: true },
    );
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      name: "mistralai/Mixtral-8x7B",
      input_price_per_mtok: 0.6,
      enabled: true,
    });
  });

  it("a disabled target is not ranked, and comes back when enabled", async () => {
    const off = await svc.request("PUT", "/admin/targets/coder", { enabled: false }, { admin: true });
    expect(off.status).toBe(200);
    const ranked = await svc.rank({ query: "python function to sort a list", k: 3 });
    expect(ranked.body.scores.map((s) => s.target)).toEqual(["mistralai/Mixtral-8x7B"]);
    await svc.request("PUT", "/admin/targets/coder", { enabled: true }, { admin: true });
    expect((await svc.rank({ query: "python function to sort a list", k: 3 })).body.scores[0]?.target).toBe(
      "coder",
    );
  });

  it("creates a target no example scores (201), at the others' mean unless given a prior", async () => {
    const res = await svc.request("PUT", "/admin/targets/ghost", { enabled: false }, { admin: true });
    expect(res.status).toBe(201);
    const means = (await (await svc.request("GET", "/admin/targets", undefined, { admin: true })).json()) as {
      targets: Array<{ name: string; prior_score: number | null; examples: number; enabled: boolean }>;
    };
    const ghost = means.targets.find((t) => t.name === "ghost");
    expect(ghost).toMatchObject({ enabled: false, examples: 0 });
    expect(ghost?.prior_score).toBeGreaterThan(0);
  });

  it.each([
    [{}, "at least one"],
    [{ input_price_per_mtok: -1 }, "input_price_per_mtok"],
    [{ enabled: "yes" }, "enabled"],
    [{ price: 1 }, "unknown field: price"],
  ])("rejects the patch %j", async (patch, words) => {
    const res = await svc.request("PUT", "/admin/targets/coder", patch, { admin: true });
    expect(res.status).toBe(400);
    expect(JSON.stringify(await res.json())).toContain(words);
    expect((await targets())[0]).toMatchObject({ name: "coder", input_price_per_mtok: null, enabled: true });
  });

  it("requires the admin token", async () => {
    const res = await svc.request("PUT", "/admin/targets/coder", { enabled: false });
    expect(res.status).toBe(401);
  });
});

describe("admin API: import", () => {
  let svc: TestService;
  beforeEach(async () => {
    svc = await startService();
  });
  afterEach(() => svc.close());

  const post = async (body: string | FormData, headers: Record<string, string> = {}, query = "") =>
    svc.app.request(`/admin/import${query}`, {
      method: "POST",
      body,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...headers },
    });

  it("imports our JSONL format as a raw body, replacing examples whose ids exist", async () => {
    const id = "5d3c1a0e-2222-4333-8444-555566667777";
    const lines = [
      JSON.stringify({ id, text: "write a poem about the sea", category: "poetry", scores: { poet: 0.9 } }),
      "",
      JSON.stringify({ text: "python function to sort a list", scores: { coder: 0.8 } }),
    ].join("\n");
    const res = await post(lines, { "content-type": "application/x-ndjson" });
    expect(res.status).toBe(201);
    expect(await res.json()).toEqual({ imported: 2, skipped: 0, deleted: 0, indexed: true });
    const again = await post(
      JSON.stringify({ id, text: "write a poem about the sea", scores: { poet: 0.1 } }),
      {
        "content-type": "application/x-ndjson",
      },
    );
    expect(again.status).toBe(201);
    expect(svc.deps.stores.examples.countExamples()).toBe(2);
    expect(svc.deps.stores.examples.get(id)?.scores).toEqual({ poet: 0.1 });
  });

  it("re-runs an import larger than the embedding cache, changing nothing", async () => {
    const cached = await startService({}, { embedder: new CachedEmbedder(new HashEmbedder(64, 256), 10) });
    try {
      const lines = Array.from({ length: 120 }, (_, i) =>
        JSON.stringify({
          id: `rerun-${i}`,
          text: `prompt number ${i} of the import`,
          scores: { a: (i % 10) / 10 },
        }),
      ).join("\n");
      const run = () =>
        cached.app.request("/admin/import", {
          method: "POST",
          body: lines,
          headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/x-ndjson" },
        });
      const first = await run();
      expect(first.status).toBe(201);
      const vectors = () => cached.deps.stores.examples.embeddingOf("rerun-77")?.embedding;
      const before = vectors();
      for (let again = 0; again < 2; again++) {
        const res = await run();
        expect(res.status).toBe(201);
        expect(await res.json()).toEqual({ imported: 120, skipped: 0, deleted: 0, indexed: true });
      }
      expect(cached.deps.stores.examples.countExamples()).toBe(120);
      expect(vectors()).toEqual(before);
    } finally {
      await cached.close();
    }
  });

  it("imports the knn-router points.jsonl + targets.jsonl format as multipart", async () => {
    const form = new FormData();
    form.append("points", new Blob([fixture("pulze-points.jsonl")]), "points.jsonl");
    form.append("targets", new Blob([fixture("pulze-targets.jsonl")]), "targets.jsonl");
    const res = await post(form);
    expect(res.status).toBe(201);
    expect(await res.json()).toEqual({ imported: 3, skipped: 0, deleted: 0, indexed: true });
    expect(svc.deps.stores.examples.get("0b6c2f9e-6a43-4d0c-9c1e-1f2a3b4c5d02")).toMatchObject({
      text: "is it going to rain tomorrow morning",
      category: "weather",
      scores: { "weather-agent": 1, "sports-agent": 0 },
    });
    const ranked = await svc.rank({ query: "will it rain tomorrow" });
    expect(ranked.body.scores[0]?.target).toBe("weather-agent");
    expect(ranked.body.hits[0]?.category).toBe("weather");
  });

  it("imports our format as multipart part `examples`", async () => {
    const form = new FormData();
    form.append(
      "examples",
      new Blob([JSON.stringify({ text: "hello", scores: { a: 1 } })]),
      "examples.jsonl",
    );
    const res = await post(form);
    expect(res.status).toBe(201);
    expect(svc.deps.stores.examples.countExamples()).toBe(1);
  });

  it("stores an unlisted target as 0 when asked (unlisted=zero), and leaves it unknown by default", async () => {
    const lines = [
      JSON.stringify({
        id: "5d3c1a0e-2222-4333-8444-000000000001",
        text: "write a poem",
        scores: { poet: 1 },
      }),
      JSON.stringify({
        id: "5d3c1a0e-2222-4333-8444-000000000002",
        text: "sort a list",
        scores: { coder: 1 },
      }),
    ].join("\n");
    const type = { "content-type": "application/x-ndjson" };
    expect((await post(lines, type)).status).toBe(201);
    expect(svc.deps.stores.examples.get("5d3c1a0e-2222-4333-8444-000000000001")?.scores).toEqual({ poet: 1 });
    expect((await post(lines, type, "?unlisted=zero")).status).toBe(201);
    expect(svc.deps.stores.examples.get("5d3c1a0e-2222-4333-8444-000000000001")?.scores).toEqual({
      poet: 1,
      coder: 0,
    });
    expect(svc.deps.stores.examples.get("5d3c1a0e-2222-4333-8444-000000000002")?.scores).toEqual({
      poet: 0,
      coder: 1,
    });
    const bad = await post(lines, type, "?unlisted=maybe");
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as ErrorBody).error.details?.[0]?.path).toBe("unlisted");
  });

  it("knn-router points score 0 for the targets they do not list, unless unlisted=absent", async () => {
    const form = () => {
      const f = new FormData();
      f.append("points", fixture("pulze-points.jsonl"));
      f.append("targets", fixture("pulze-targets.jsonl"));
      return f;
    };
    const withZeros = svc.deps.stores.examples;
    expect((await post(form())).status).toBe(201);
    const scored = withZeros.get("0b6c2f9e-6a43-4d0c-9c1e-1f2a3b4c5d03")?.scores ?? {};
    expect(Object.values(scored)).toContain(0);
    expect((await post(form(), {}, "?unlisted=absent")).status).toBe(201);
    expect(Object.values(withZeros.get("0b6c2f9e-6a43-4d0c-9c1e-1f2a3b4c5d03")?.scores ?? {})).not.toContain(
      0,
    );
  });

  describe("a bad import is rejected whole, naming file and line", () => {
    it("a part sent twice", async () => {
      const form = new FormData();
      form.append("examples", JSON.stringify({ text: "a", scores: { a: 1 } }));
      form.append("examples", JSON.stringify({ text: "b", scores: { a: 1 } }));
      const res = await post(form);
      expect(res.status).toBe(400);
      expect(((await res.json()) as ErrorBody).error.message).toContain("send part examples once");
      expect(svc.deps.stores.examples.countExamples()).toBe(0);
    });

    it.each([
      ["without a boundary", "multipart/form-data", "--x\r\ncontent"],
      [
        "truncated",
        "multipart/form-data; boundary=abc",
        '--abc\r\nContent-Disposition: form-data; name="examples"\r\n\r\n{"te',
      ],
    ])("a multipart body %s", async (_name, type, body) => {
      const res = await post(body, { "content-type": type });
      expect(res.status).toBe(400);
      expect(((await res.json()) as ErrorBody).error.code).toBe("VALIDATION_FAILED");
      expect(svc.deps.stores.examples.countExamples()).toBe(0);
    });

    it("a bad line in our format", async () => {
      const lines = [
        JSON.stringify({ text: "ok", scores: { a: 1 } }),
        "{oops",
        JSON.stringify({ text: "x", scores: { a: 2 } }),
      ];
      const res = await post(lines.join("\n"), { "content-type": "application/x-ndjson" });
      expect(res.status).toBe(400);
      const body = (await res.json()) as ErrorBody;
      expect(body.error.details).toEqual([
        { path: "examples:2", message: "not valid JSON" },
        { path: "examples:3.scores.a", message: "scores must be in [0, 1]" },
      ]);
      expect(svc.deps.stores.examples.countExamples()).toBe(0);
    });

    it("a score for a point that is not in points.jsonl", async () => {
      const form = new FormData();
      form.append("points", fixture("pulze-points.jsonl"));
      form.append(
        "targets",
        `${fixture("pulze-targets.jsonl")}{"point_uid":"0b6c2f9e-6a43-4d0c-9c1e-1f2a3b4c5d99","target":"x","score":1}\n`,
      );
      const res = await post(form);
      expect(res.status).toBe(400);
      expect(((await res.json()) as ErrorBody).error.message).toContain("targets:6");
      expect(svc.deps.stores.examples.countExamples()).toBe(0);
    });

    it("a point without any score", async () => {
      const form = new FormData();
      form.append("points", fixture("pulze-points.jsonl"));
      form.append("targets", fixture("pulze-targets.jsonl").split("\n").slice(0, 3).join("\n"));
      const res = await post(form);
      expect(res.status).toBe(400);
      expect(((await res.json()) as ErrorBody).error.message).toContain("points:3.scores");
    });

    it("a multipart body with neither examples nor points and targets", async () => {
      const form = new FormData();
      form.append("points", fixture("pulze-points.jsonl"));
      const res = await post(form);
      expect(res.status).toBe(400);
      expect(((await res.json()) as ErrorBody).error.message).toContain("points` and `targets`");
    });

    it("an unsupported content type", async () => {
      const res = await post("a,b,c", { "content-type": "text/csv" });
      expect(res.status).toBe(415);
      expect(((await res.json()) as ErrorBody).error.code).toBe("UNSUPPORTED_MEDIA_TYPE");
    });

    it("an empty import", async () => {
      const res = await post("\n\n", { "content-type": "application/x-ndjson" });
      expect(res.status).toBe(400);
      expect(((await res.json()) as ErrorBody).error.message).toContain("no examples");
    });
  });
});

describe("bytes that are not UTF-8", () => {
  it.each([
    ["/admin/examples", "application/json", '{"examples":[{"text":"caf\xff","scores":{"a":1}}]}'],
    ["/admin/import", "application/x-ndjson", '{"text":"caf\xff","scores":{"a":1}}'],
    ["/rank", "application/json", '{"query":"caf\xff"}'],
  ])("are refused on %s, and nothing is stored", async (path, type, text) => {
    const svc = await startService();
    // "\xff" in a latin1 buffer is the single byte 0xFF: never valid in UTF-8.
    const res = await svc.app.request(path, {
      method: "POST",
      body: Buffer.from(text, "latin1"),
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": type },
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as ErrorBody;
    expect(body.error.code).toBe("INVALID_JSON");
    expect(body.error.message).toContain("UTF-8");
    expect(svc.deps.stores.examples.countExamples()).toBe(0);
    await svc.close();
  });

  it("a duplicate id in an import names both lines", async () => {
    const svc = await startService();
    const id = "5d3c1a0e-2222-4333-8444-000000000009";
    const lines = [
      JSON.stringify({ id, text: "a", scores: { a: 1 } }),
      JSON.stringify({ text: "b", scores: { a: 1 } }),
      JSON.stringify({ id, text: "c", scores: { a: 1 } }),
    ].join("\n");
    const res = await svc.request("POST", "/admin/import", lines, {
      admin: true,
      headers: { "content-type": "application/x-ndjson" },
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as ErrorBody).error.details?.[0]).toEqual({
      path: "examples:3.id",
      message: `id ${id} appears twice (first at examples:1)`,
    });
    await svc.close();
  });
});
