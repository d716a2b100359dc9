import { afterEach, describe, expect, it } from "vitest";
import { pointId } from "../service/vectors/qdrant.ts";
import {
  type ErrorBody,
  example,
  RecordingLogger,
  startService,
  type TestService,
  tempDir,
} from "./support/harness.ts";
import { TestQdrant } from "./support/qdrant.ts";

interface Example {
  id: string;
  text: string;
  category: string | null;
  scores: Record<string, number>;
}

const READABLE = ["sql-1", "Sql-1", "k8s:pod~a.b_c"];

describe("readable example ids", () => {
  let svc: TestService | undefined;
  afterEach(async () => {
    await svc?.close();
    svc = undefined;
  });

  it("keeps any id of 1..200 safe characters as given, and ranks, reads and deletes by it", async () => {
    svc = await startService();
    const added = await svc.addExamples([
      example("select the rows of a table in sql", { big: 0.9, small: 0.2 }, "code", "sql-1"),
      example("write a poem about autumn rain", { big: 0.4, small: 0.8 }, "poetry", "Sql-1"),
      example("restart a pod in kubernetes", { big: 0.7, small: 0.6 }, "ops", "k8s:pod~a.b_c"),
      example("a question under a UUID", { big: 0.5 }, undefined, "7C1E4A52-1111-4222-8333-444455556666"),
    ]);
    expect(added.status).toBe(201);
    // Readable ids as given (case kept); a UUID in lower case, as ever.
    expect(added.body.ids).toEqual([...READABLE, "7c1e4a52-1111-4222-8333-444455556666"]);
    const one = await svc.request("GET", "/admin/examples/Sql-1", undefined, { admin: true });
    expect(((await one.json()) as Example).text).toBe("write a poem about autumn rain");
    const ranked = await svc.rank({ query: "select the rows of a table in sql", k: 4 });
    expect(ranked.body.hits.map((h) => h.id)).toEqual(expect.arrayContaining(READABLE));
    expect(ranked.body.hits[0]?.id).toBe("sql-1");
    const gone = await svc.request("DELETE", "/admin/examples/sql-1", undefined, { admin: true });
    expect(gone.status).toBe(204);
    const after = await svc.rank({ query: "select the rows of a table in sql", k: 4 });
    expect(after.body.hits.map((h) => h.id)).not.toContain("sql-1");
  });

  it("with Qdrant, stores them under derived point ids and reconciles them as the ids they are", async () => {
    const qdrant = await TestQdrant.start();
    const tmp = tempDir();
    const env = {
      DATABASE_PATH: `${tmp.dir}/router.db`,
      VECTOR_STORE: "qdrant",
      QDRANT_URL: qdrant.url,
      QDRANT_COLLECTION: qdrant.name("readable"),
    };
    try {
      svc = await startService(env);
      await svc.addExamples([
        example("select the rows of a table in sql", { big: 0.9 }, undefined, "sql-1"),
        example("restart a pod in kubernetes", { big: 0.7 }, undefined, "k8s:pod~a.b_c"),
      ]);
      const has = async (id: string) => (await qdrant.point(env.QDRANT_COLLECTION, id)) !== undefined;
      expect(await qdrant.count(env.QDRANT_COLLECTION)).toBe(2);
      expect([await has("sql-1"), await has("k8s:pod~a.b_c")]).toEqual([true, true]);
      // Each under the point id derived from it (Qdrant takes UUIDs and integers only).
      const [stored] = await qdrant.client.retrieve((await qdrant.resolve(env.QDRANT_COLLECTION)) as string, {
        ids: [pointId("sql-1")],
      });
      expect(stored?.id).toBe(pointId("sql-1"));
      const ranked = await svc.rank({ query: "select the rows of a table in sql", k: 2 });
      expect(ranked.body.hits.map((h) => h.id)).toEqual(["sql-1", "k8s:pod~a.b_c"]);
      await svc.close();
      // A restart reconciles Qdrant with SQLite: readable ids are neither stray nor missing.
      const logger = new RecordingLogger();
      svc = await startService(env, { logger });
      expect(logger.find("vector index reconciled with SQLite")).toMatchObject({ stray: 0, missing: 0 });
      const gone = await svc.request("DELETE", "/admin/examples/sql-1", undefined, { admin: true });
      expect(gone.status).toBe(204);
      for (let i = 0; i < 50 && (await has("sql-1")); i++) await new Promise((r) => setTimeout(r, 20));
      expect(await has("sql-1")).toBe(false);
    } finally {
      await qdrant.stop();
      tmp.remove();
    }
  });
});

describe("PATCH /admin/examples/{id}", () => {
  let svc: TestService;
  afterEach(async () => {
    await svc.close();
  });

  const get = async (id: string) =>
    (await (await svc.request("GET", `/admin/examples/${id}`, undefined, { admin: true })).json()) as Example;
  const patch = (id: string, body: unknown) =>
    svc.request("PATCH", `/admin/examples/${id}`, body, { admin: true });

  it("merges scores (null removes one), changes text or category, and re-embeds only a new text", async () => {
    svc = await startService();
    await svc.addExamples([
      example("select the rows of a table in sql", { big: 0.9, small: 0.2 }, "code", "sql-1"),
      example("write a poem about autumn rain", { big: 0.4, small: 0.8 }, "poetry", "poem-1"),
    ]);
    const merged = await patch("sql-1", { scores: { small: 0.5, mid: 0.7 } });
    expect(merged.status).toBe(200);
    expect(await merged.json()).toMatchObject({ id: "sql-1", scores: { big: 0.9, small: 0.5, mid: 0.7 } });
    const removed = await patch("sql-1", { scores: { big: null }, category: null });
    expect(((await removed.json()) as Example).scores).toEqual({ small: 0.5, mid: 0.7 });
    expect((await get("sql-1")).category).toBeNull();
    // Same text: the stored vector stays; a new text is embedded and ranked by.
    const before = await svc.rank({ query: "restart a pod in kubernetes", k: 1 });
    expect(before.body.hits[0]?.id).not.toBe("poem-1");
    expect((await patch("poem-1", { text: "restart a pod in kubernetes" })).status).toBe(200);
    const after = await svc.rank({ query: "restart a pod in kubernetes", k: 1 });
    expect(after.body.hits[0]).toMatchObject({ id: "poem-1" });
    expect((await get("poem-1")).scores).toEqual({ big: 0.4, small: 0.8 });
  });

  it("refuses what it cannot do, naming the field, and changes nothing", async () => {
    svc = await startService();
    await svc.addExamples([example("select the rows", { big: 0.9 }, "code", "sql-1")]);
    const cases: Array<[unknown, number, string]> = [
      [{}, 400, "at least one of text, category, scores"],
      [{ scores: { big: null } }, 400, "scores"],
      [{ scores: { big: 2 } }, 400, "scores"],
      [{ text: " " }, 400, "text must not be empty"],
      [{ id: "other" }, 400, "id"],
    ];
    for (const [body, status, words] of cases) {
      const res = await patch("sql-1", body);
      expect(res.status, JSON.stringify(body)).toBe(status);
      expect(JSON.stringify(((await res.json()) as ErrorBody).error), JSON.stringify(body)).toContain(words);
    }
    const missing = await patch("nope", { scores: { big: 0.1 } });
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as ErrorBody).error.code).toBe("NOT_FOUND");
    expect(await get("sql-1")).toMatchObject({
      text: "select the rows",
      category: "code",
      scores: { big: 0.9 },
    });
  });
});

describe("POST /admin/import?existing_text=", () => {
  let svc: TestService;
  afterEach(async () => {
    await svc.close();
  });

  const lines = (scores: number) =>
    ["select the rows of a table", "write a poem about rain", "restart a pod"]
      .map((text) => JSON.stringify({ text, scores: { big: scores } }))
      .join("\n");
  const importLines = async (body: string, query = "") => {
    const res = await svc.request("POST", `/admin/import${query}`, body, {
      admin: true,
      headers: { "content-type": "application/x-ndjson" },
    });
    expect(res.status).toBe(201);
    return (await res.json()) as { imported: number; skipped: number };
  };
  const count = () => svc.deps.stores.examples.countExamples();

  it("adds lines without ids again by default, skips or replaces the examples whose text is stored when asked", async () => {
    svc = await startService();
    expect(await importLines(lines(0.5))).toEqual({ imported: 3, skipped: 0, deleted: 0, indexed: true });
    expect(await importLines(lines(0.5), "?existing_text=skip")).toEqual({
      imported: 0,
      skipped: 3,
      deleted: 0,
      indexed: true,
    });
    expect(count()).toBe(3);
    expect(await importLines(lines(0.9), "?existing_text=replace")).toMatchObject({
      imported: 3,
      skipped: 0,
    });
    expect(count()).toBe(3);
    const stored = svc.deps.stores.examples.list({ limit: 10 });
    expect(stored.map((e) => e.scores.big)).toEqual([0.9, 0.9, 0.9]);
    expect(await importLines(lines(0.1))).toMatchObject({ imported: 3 });
    expect(count()).toBe(6);
  });

  it("refuses an unknown rule", async () => {
    svc = await startService();
    const res = await svc.request("POST", "/admin/import?existing_text=merge", lines(0.5), {
      admin: true,
      headers: { "content-type": "application/x-ndjson" },
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as ErrorBody).error.code).toBe("VALIDATION_FAILED");
    expect(count()).toBe(0);
  });
});
