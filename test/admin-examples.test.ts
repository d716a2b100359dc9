import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { HashEmbedder } from "../service/embedding/hash.ts";
import {
  type ErrorBody,
  example,
  SwitchableEmbedder,
  startService,
  type TestService,
  TOPICS,
} from "./support/harness.ts";

interface ExampleJson {
  id: string;
  text: string;
  category: string | null;
  scores: Record<string, number>;
  created_at: string;
  updated_at: string;
}

describe("admin API: examples", () => {
  let svc: TestService;
  let embedder: SwitchableEmbedder;

  beforeEach(async () => {
    embedder = new SwitchableEmbedder(new HashEmbedder(256));
    svc = await startService({}, { embedder });
  });
  afterEach(() => svc.close());

  const count = () => svc.deps.stores.examples.countExamples();

  describe("authentication", () => {
    it("answers 401 without a token", async () => {
      const res = await svc.request("GET", "/admin/examples");
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toContain("Bearer");
      expect(((await res.json()) as ErrorBody).error.code).toBe("UNAUTHORIZED");
    });

    it("answers 401 with a wrong token and writes nothing", async () => {
      const res = await svc.request(
        "POST",
        "/admin/examples",
        { examples: [example("hello", { a: 1 })] },
        { headers: { authorization: "Bearer wrong-token-wrong-token" } },
      );
      expect(res.status).toBe(401);
      expect(count()).toBe(0);
    });

    it("answers 503 ADMIN_DISABLED when no token is configured", async () => {
      const open = await startService({ ADMIN_TOKEN: "" });
      const res = await open.request("GET", "/admin/examples", undefined, { admin: true });
      expect(res.status).toBe(503);
      const body = (await res.json()) as ErrorBody;
      expect(body.error.code).toBe("ADMIN_DISABLED");
      expect(body.error.message).toContain("ADMIN_TOKEN");
      await open.close();
    });
  });

  it("adds a batch that the very next /rank sees", async () => {
    const before = await svc.rank({ query: "write a poem about the sea" });
    expect(before.body.hits).toEqual([]);
    const { status, body } = await svc.addExamples(
      TOPICS.poetry.map((t) => example(t, { poet: 0.9 }, "poetry")),
    );
    expect(status).toBe(201);
    expect(body.ids).toHaveLength(3);
    const after = await svc.rank({ query: "write a poem about the sea" });
    expect(after.body.hits.map((h) => h.id).sort()).toEqual([...body.ids].sort());
    expect(after.body.scores[0]).toMatchObject({ target: "poet", score: 0.9 });
  });

  it("keeps client-chosen ids, lower-cased", async () => {
    const id = "4E0D8C55-3C8B-4F57-9B0B-8E4A4F2C1D11";
    const { body } = await svc.addExamples([example("hello there", { a: 0.5 }, undefined, id)]);
    expect(body.ids).toEqual([id.toLowerCase()]);
  });

  describe("a batch is all or nothing", () => {
    it("one bad example rejects the batch, naming it", async () => {
      const { status, body } = await svc.addExamples([
        example("fine example", { a: 0.5 }),
        example("bad score", { a: 1.5 }),
      ]);
      expect(status).toBe(400);
      expect(body.error.code).toBe("VALIDATION_FAILED");
      expect(body.error.details?.[0]?.path).toBe("examples.1.scores.a");
      expect(count()).toBe(0);
      expect(svc.deps.stores.targets.listTargets()).toEqual([]);
    });

    it("an id that exists rejects the batch with 409 and writes nothing", async () => {
      const id = "9a1b2c3d-0000-4000-8000-000000000001";
      await svc.addExamples([example("first", { a: 0.5 }, undefined, id)]);
      const { status, body } = await svc.addExamples([
        example("new one", { b: 0.5 }),
        example("clash", { a: 0.1 }, undefined, id),
      ]);
      expect(status).toBe(409);
      expect(body.error.code).toBe("CONFLICT");
      expect(count()).toBe(1);
      expect(svc.deps.stores.targets.listTargets().map((t) => t.name)).toEqual(["a"]);
      expect(await svc.deps.index.count()).toBe(1);
    });

    it("the same id twice in one batch is rejected", async () => {
      const id = "9a1b2c3d-0000-4000-8000-000000000002";
      const { status, body } = await svc.addExamples([
        example("one", { a: 0.5 }, undefined, id),
        example("two", { a: 0.5 }, undefined, id),
      ]);
      expect(status).toBe(400);
      expect(body.error.details?.[0]).toEqual({
        path: "examples.1.id",
        message: `id ${id} appears twice (first at examples.0)`,
      });
      expect(count()).toBe(0);
    });

    it("an embedder failure answers 503 and writes nothing", async () => {
      embedder.failing = true;
      const { status, body } = await svc.addExamples([example("one", { a: 0.5 })]);
      expect(status).toBe(503);
      expect(body.error.code).toBe("EMBEDDER_UNAVAILABLE");
      expect(count()).toBe(0);
    });

    it("a database failure writes nothing to the index either", async () => {
      const write = svc.deps.stores.examples.write.bind(svc.deps.stores.examples);
      svc.deps.stores.examples.write = () => {
        throw new Error("disk I/O error");
      };
      const { status } = await svc.addExamples([example("one", { a: 0.5 })]);
      expect(status).toBe(500);
      expect(await svc.deps.index.count()).toBe(0);
      svc.deps.stores.examples.write = write;
    });
  });

  describe("bad input", () => {
    const cases: Array<[string, unknown, string]> = [
      ["no examples field", {}, "examples"],
      ["an empty list", { examples: [] }, "at least one example"],
      ["empty text", { examples: [{ text: " ", scores: { a: 1 } }] }, "text must not be empty"],
      ["no scores", { examples: [{ text: "t", scores: {} }] }, "at least one target"],
      ["a NaN-like score", { examples: [{ text: "t", scores: { a: "NaN" } }] }, "scores must be numbers"],
      ["a negative score", { examples: [{ text: "t", scores: { a: -0.1 } }] }, "[0, 1]"],
      ["a bad target name", { examples: [{ text: "t", scores: { "bad name!": 1 } }] }, "target names"],
      ["a bad id", { examples: [{ id: "4 2", text: "t", scores: { a: 1 } }] }, "letters, digits"],
      [
        "an unknown field",
        { examples: [{ text: "t", scores: { a: 1 }, label: "x" }] },
        "unknown field: label",
      ],
    ];
    it.each(cases)("%s", async (_name, body, words) => {
      const res = await svc.request("POST", "/admin/examples", body, { admin: true });
      expect(res.status).toBe(400);
      const err = (await res.json()) as ErrorBody;
      expect(err.error.code).toBe("VALIDATION_FAILED");
      expect(JSON.stringify(err.error)).toContain(words);
      expect(count()).toBe(0);
    });

    it("more than 1,000 examples in one call", async () => {
      const examples = Array.from({ length: 1001 }, (_, i) => example(`text ${i}`, { a: 0.5 }));
      const res = await svc.request("POST", "/admin/examples", { examples }, { admin: true });
      expect(res.status).toBe(400);
      expect(((await res.json()) as ErrorBody).error.message).toContain("at most 1000");
    });
  });

  it("lists examples a page at a time, filtered by category", async () => {
    await svc.addExamples([
      ...TOPICS.code.map((t) => example(t, { coder: 0.9 }, "code")),
      ...TOPICS.poetry.map((t) => example(t, { poet: 0.9 }, "poetry")),
    ]);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const q: string = cursor ? `&cursor=${cursor}` : "";
      const res = await svc.request("GET", `/admin/examples?limit=2${q}`, undefined, { admin: true });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { examples: ExampleJson[]; next_cursor: string | null };
      seen.push(...body.examples.map((e) => e.id));
      cursor = body.next_cursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(new Set(seen).size).toBe(6);

    const res = await svc.request("GET", "/admin/examples?category=poetry", undefined, { admin: true });
    const body = (await res.json()) as { examples: ExampleJson[] };
    expect(body.examples.map((e) => e.category)).toEqual(["poetry", "poetry", "poetry"]);
    expect(body.examples[0]?.scores).toEqual({ poet: 0.9 });
  });

  it("lists the categories with their example counts, uncategorised last", async () => {
    const empty = await svc.request("GET", "/admin/categories", undefined, { admin: true });
    expect(await empty.json()).toEqual({ categories: [] });
    await svc.addExamples([
      ...TOPICS.code.map((t) => example(t, { coder: 0.9 }, "code")),
      ...TOPICS.poetry.slice(0, 2).map((t) => example(t, { poet: 0.9 }, "poetry")),
      example("no category here", { poet: 0.5 }),
    ]);
    const res = await svc.request("GET", "/admin/categories", undefined, { admin: true });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      categories: [
        { name: "code", examples: 3 },
        { name: "poetry", examples: 2 },
        { name: null, examples: 1 },
      ],
    });
    const list = await svc.request("GET", "/admin/examples?category=code", undefined, { admin: true });
    expect(((await list.json()) as { examples: unknown[] }).examples).toHaveLength(3);
  });

  it("rejects a bad limit or a forged cursor", async () => {
    for (const q of [
      "limit=0",
      "limit=5000",
      "limit=abc",
      `cursor=${Buffer.from("not an id").toString("base64url")}`,
      "sort=id",
    ]) {
      const res = await svc.request("GET", `/admin/examples?${q}`, undefined, { admin: true });
      expect(res.status, q).toBe(400);
      expect(((await res.json()) as ErrorBody).error.code).toBe("VALIDATION_FAILED");
    }
  });

  it("reads, replaces and deletes one example", async () => {
    const { body } = await svc.addExamples([example("write a poem about the sea", { poet: 0.9 }, "poetry")]);
    const id = body.ids[0] as string;

    const got = await svc.request("GET", `/admin/examples/${id}`, undefined, { admin: true });
    expect(got.status).toBe(200);
    expect((await got.json()) as ExampleJson).toMatchObject({
      id,
      category: "poetry",
      scores: { poet: 0.9 },
    });

    const calls = embedder.calls;
    const same = await svc.request(
      "PUT",
      `/admin/examples/${id}`,
      { text: "write a poem about the sea", scores: { poet: 0.5, coder: 0.1 } },
      { admin: true },
    );
    expect(same.status).toBe(200);
    expect(embedder.calls).toBe(calls);
    expect(((await same.json()) as ExampleJson).scores).toEqual({ poet: 0.5, coder: 0.1 });

    const changed = await svc.request(
      "PUT",
      `/admin/examples/${id}`,
      { text: "python function to sort a list", category: "code", scores: { coder: 1 } },
      { admin: true },
    );
    expect(changed.status).toBe(200);
    const ranked = await svc.rank({ query: "python function to sort a list" });
    expect(ranked.body.hits[0]).toMatchObject({ id, category: "code" });
    expect(ranked.body.hits[0]?.similarity).toBeCloseTo(1, 5);
    expect(ranked.body.scores).toEqual([{ target: "coder", score: 1, support: 1, confidence: 1 }]);

    const del = await svc.request("DELETE", `/admin/examples/${id}`, undefined, { admin: true });
    expect(del.status).toBe(204);
    expect((await svc.rank({ query: "python function to sort a list" })).body.hits).toEqual([]);
    const again = await svc.request("DELETE", `/admin/examples/${id}`, undefined, { admin: true });
    expect(again.status).toBe(404);
  });

  it("PUT creates an example under a new id with 201", async () => {
    const id = "7c1e4a52-1111-4222-8333-444455556666";
    const res = await svc.request(
      "PUT",
      `/admin/examples/${id}`,
      { text: "hello", scores: { a: 1 } },
      { admin: true },
    );
    expect(res.status).toBe(201);
    expect(((await res.json()) as ExampleJson).id).toBe(id);
    expect(await svc.deps.index.count()).toBe(1);
  });

  it("answers 404 for a missing example and 400 for a malformed id or body", async () => {
    const missing = await svc.request(
      "GET",
      "/admin/examples/7c1e4a52-1111-4222-8333-444455556666",
      undefined,
      {
        admin: true,
      },
    );
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as ErrorBody).error.code).toBe("NOT_FOUND");
    const badId = await svc.request("GET", "/admin/examples/not%20an%20id", undefined, { admin: true });
    expect(badId.status).toBe(400);
    const mismatch = await svc.request(
      "PUT",
      "/admin/examples/7c1e4a52-1111-4222-8333-444455556666",
      { id: "7c1e4a52-1111-4222-8333-444455556667", text: "x", scores: { a: 1 } },
      { admin: true },
    );
    expect(mismatch.status).toBe(400);
    expect(((await mismatch.json()) as ErrorBody).error.message).toContain("differs");
    expect(count()).toBe(0);
  });

  it("PUT with a failing embedder answers 503 and keeps the old example", async () => {
    const { body } = await svc.addExamples([example("write a poem", { poet: 0.9 })]);
    const id = body.ids[0] as string;
    embedder.failing = true;
    const res = await svc.request(
      "PUT",
      `/admin/examples/${id}`,
      { text: "new text", scores: { poet: 0.1 } },
      { admin: true },
    );
    expect(res.status).toBe(503);
    expect(svc.deps.stores.examples.get(id)).toMatchObject({ text: "write a poem", scores: { poet: 0.9 } });
  });
});
