import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../service/config.ts";
import { type RankBody, ranked, startService, type TestService, TOPICS, tempDir } from "./support/harness.ts";
import { TestQdrant } from "./support/qdrant.ts";

interface Stored {
  id: string;
  category: string | null;
  scores: Record<string, number>;
  updated_at: string;
}

/**
 * Each Qdrant point carries what /rank reads of its hit (category, scores as stored, version),
 * written with its vector in one upsert; ranking from those payloads answers as ranking from SQLite.
 */
describe("evidence in the vector store's payloads", () => {
  let qdrant: TestQdrant;
  let tmp: ReturnType<typeof tempDir>;
  let svc: TestService | undefined;
  let n = 0;
  beforeAll(async () => {
    qdrant = await TestQdrant.start();
  });
  afterAll(async () => {
    await qdrant.stop();
  });
  afterEach(async () => {
    await svc?.close();
    svc = undefined;
    tmp?.remove();
  });

  const envFor = () => {
    tmp = tempDir();
    return {
      DATABASE_PATH: `${tmp.dir}/router.db`,
      VECTOR_STORE: "qdrant",
      QDRANT_URL: qdrant.url,
      QDRANT_COLLECTION: qdrant.name(`evidence_${++n}`),
    };
  };
  const payloadOf = async (collection: string, id: string) => (await qdrant.point(collection, id))?.payload;
  const stored = async (s: TestService, id: string) =>
    (await (await s.request("GET", `/admin/examples/${id}`, undefined, { admin: true })).json()) as Stored;

  const EXAMPLES = [
    ...TOPICS.code.map((text, i) => ({
      id: `code-${i}`,
      text,
      category: "code",
      scores: { big: 0.9, small: 0.5 },
    })),
    ...TOPICS.poetry.map((text, i) => ({
      id: `poem-${i}`,
      text,
      category: "poetry",
      // Sparse: this example was never tried on `big`.
      scores: i === 0 ? { small: 0.8 } : { big: 0.4, small: 0.85 },
    })),
    { text: "an example without category or id", scores: { big: 0.6, small: 0.6 } },
  ];

  it("writes each example's category, scores and version beside its vector, on every write", async () => {
    const env = envFor();
    svc = await startService(env);
    const added = await svc.addExamples(EXAMPLES);
    expect(added.status).toBe(201);
    for (const id of added.body.ids) {
      const e = await stored(svc, id);
      expect(await payloadOf(env.QDRANT_COLLECTION, id)).toEqual({
        example_id: id,
        category: e.category,
        scores: e.scores,
        version: Date.parse(e.updated_at),
      });
    }
    expect((await payloadOf(env.QDRANT_COLLECTION, "poem-0"))?.scores).toEqual({ small: 0.8 });

    // A change of scores alone rewrites the point: same vector, new scores (one upsert, on the stand-in's wire).
    const vector = (await qdrant.point(env.QDRANT_COLLECTION, "code-0"))?.vector;
    qdrant.requests.splice(0);
    const patched = await svc.request(
      "PATCH",
      "/admin/examples/code-0",
      { scores: { small: 0.95 } },
      { admin: true },
    );
    expect(patched.status).toBe(200);
    // (The routing document's own collection is written now and then too: only the examples' count here.)
    const upsertsOf = () =>
      qdrant.requests.filter(
        (r) => r.method === "PUT" && r.path === `/collections/${env.QDRANT_COLLECTION}/points`,
      );
    expect(upsertsOf()).toHaveLength(1);
    const rewrittenScores = await qdrant.point(env.QDRANT_COLLECTION, "code-0");
    expect(rewrittenScores?.vector).toEqual(vector);
    expect(rewrittenScores?.payload.scores).toEqual({ big: 0.9, small: 0.95 });
    const after = await stored(svc, "code-0");
    expect((await payloadOf(env.QDRANT_COLLECTION, "code-0"))?.version).toBe(Date.parse(after.updated_at));

    // New text and scores: the new vector and the new scores travel together.
    qdrant.requests.splice(0);
    const put = await svc.request(
      "PUT",
      "/admin/examples/code-1",
      { text: "a rhyming poem about the sea", category: "poetry", scores: { big: 0.1, small: 0.99 } },
      { admin: true },
    );
    expect(put.status).toBe(200);
    const upserts = upsertsOf();
    expect(upserts).toHaveLength(1);
    expect((upserts[0]?.body as { points: unknown[] } | undefined)?.points).toHaveLength(1);
    const rewritten = await qdrant.point(env.QDRANT_COLLECTION, "code-1");
    expect(rewritten?.vector).not.toEqual(vector);
    expect(rewritten?.payload).toMatchObject({ category: "poetry", scores: { big: 0.1, small: 0.99 } });

    expect((await svc.request("DELETE", "/admin/examples/poem-1", undefined, { admin: true })).status).toBe(
      204,
    );
    expect(await qdrant.point(env.QDRANT_COLLECTION, "poem-1")).toBeUndefined();
  });

  it("copies the evidence with a write the vector store missed, once it answers again", async () => {
    const env = envFor();
    svc = await startService(env);
    qdrant.fault = { status: 503, times: 1 };
    const added = await svc.addExamples(EXAMPLES.slice(0, 2));
    expect(added.body.indexed).toBe(false);
    await svc.deps.sync.drain();
    for (const id of added.body.ids) {
      expect((await payloadOf(env.QDRANT_COLLECTION, id))?.scores).toEqual((await stored(svc, id)).scores);
    }
  });

  it("ranks from the payloads (RANK_EVIDENCE=index) exactly as from SQLite, on the same data", async () => {
    const env = envFor();
    svc = await startService(env);
    expect((await svc.addExamples(EXAMPLES)).status).toBe(201);
    const queries = [
      { query: "python function to sort numbers", k: 4 },
      { query: "a poem about the sea", k: 3 },
      { query: "something else entirely", k: 8 },
      { query: "python poem", k: 5, category: "poetry" },
      { query: "sort a list in python", targets: ["small"] },
    ];
    const ask = async (s: TestService) => {
      const out: RankBody[] = [];
      for (const q of queries) {
        const r = await s.rank(q);
        expect(r.status).toBe(200);
        out.push(ranked(r.body) as RankBody);
      }
      return out;
    };
    // Comparisons travel in the payload too (arena battles: an example with no scores).
    const battles = [
      {
        text: "which python sorting function is fastest",
        model_a: "big",
        model_b: "small",
        winner: "model_b",
      },
      { text: "which python sorting function is fastest", model_a: "big", model_b: "small", winner: "tie" },
    ];
    const arena = await svc.importArena(battles);
    expect(arena.status).toBe(201);
    const [battleId] = [
      ...svc.deps.stores.examples.idsByText(["which python sorting function is fastest"]).values(),
    ];
    expect(await payloadOf(env.QDRANT_COLLECTION, battleId as string)).toMatchObject({
      scores: {},
      preferences: [["big", "small", 0.5, 2]],
    });
    queries.push({ query: "which python sorting function is fastest", k: 3 });
    const battleQuery = queries.length - 1;
    // So do the weights of outcomes on explored recommendations.
    await svc.deps.examples.put("outcome-0", {
      text: "sort these numbers in python quickly",
      category: "code",
      scores: { big: 0, small: 1 },
      weights: { big: 4 },
    });
    expect(await payloadOf(env.QDRANT_COLLECTION, "outcome-0")).toMatchObject({
      scores: { big: 0, small: 1 },
      weights: { big: 4 },
    });
    queries.push({ query: "sort these numbers in python quickly", k: 4 });
    const fromStore = await ask(svc);
    // Its own nearest neighbour: ranked from its comparison (small won 1.5 of 2) with the others.
    expect(fromStore[battleQuery]?.hits[0]?.id).toBe(battleId);
    expect(fromStore[battleQuery]?.scores[0]?.target).toBe("small");
    await svc.close();
    svc = await startService({ ...env, RANK_EVIDENCE: "index" });
    // The replica path: one query with payloads, no read of the hits from SQLite.
    const read = svc.deps.stores.examples.evidence.bind(svc.deps.stores.examples);
    let sqliteReads = 0;
    svc.deps.stores.examples.evidence = (ids) => {
      sqliteReads++;
      return read(ids);
    };
    const fromIndex = await ask(svc);
    expect(fromIndex).toEqual(fromStore);
    expect(sqliteReads).toBe(0);
    expect(fromIndex[0]?.hits.length).toBe(4);
  });

  it("refuses RANK_EVIDENCE=index without Qdrant, naming why", () => {
    expect(() => loadConfig({ RANK_EVIDENCE: "index" })).toThrow(/RANK_EVIDENCE.*VECTOR_STORE=qdrant/);
  });
});
