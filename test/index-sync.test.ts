import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { QdrantIndex } from "../service/vectors/qdrant.ts";
import { QdrantStandIn } from "../tools/qdrant-stand-in/server.ts";
import {
  type ErrorBody,
  example,
  startService,
  type TestService,
  TOPICS,
  tempDir,
} from "./support/harness.ts";

/** The service on Qdrant (the REST double): SQLite first, the index follows, nothing lost. */
describe("service on Qdrant: consistency with SQLite", () => {
  let fake: QdrantStandIn;
  let tmp: ReturnType<typeof tempDir>;
  let svc: TestService;
  let n = 0;
  let env: Record<string, string>;
  let collection: string;

  const open = () =>
    QdrantIndex.open(
      { url: fake.url, collection, timeoutMs: 500, batchSize: 64, embedderId: "hash:v1:256" },
      256,
    );

  beforeAll(async () => {
    fake = await new QdrantStandIn().start();
  });
  afterAll(async () => {
    await fake.stop();
  });
  beforeEach(async () => {
    tmp = tempDir();
    collection = `sync_${++n}`;
    env = { DATABASE_PATH: join(tmp.dir, "router.db"), INDEX_RETRY_MS: "20" };
    fake.fault = undefined;
    svc = await startService(env, { index: await open() });
  });
  afterEach(async () => {
    fake.fault = undefined;
    await svc.close();
    tmp.remove();
  });

  const points = () => [...(fake.collection(collection)?.points.keys() ?? [])].sort();

  it("writes reach Qdrant and /rank reads them back", async () => {
    const { body } = await svc.addExamples(TOPICS.poetry.map((t) => example(t, { poet: 0.9 })));
    expect(body.indexed).toBe(true);
    expect(points()).toEqual([...body.ids].sort());
    const ranked = await svc.rank({ query: "a poem about the sea" });
    expect(ranked.body.hits.map((h) => h.id).sort()).toEqual([...body.ids].sort());
  });

  it("while Qdrant fails: writes are kept and marked, /rank and /readyz answer 503, then it catches up", async () => {
    fake.fault = { status: 503 };
    const added = await svc.addExamples(TOPICS.code.map((t) => example(t, { coder: 0.8 })));
    expect(added.status).toBe(201);
    expect(added.body.indexed).toBe(false);
    expect(svc.deps.stores.examples.countExamples()).toBe(3);
    expect(svc.deps.stores.ledger.countUnindexed()).toBe(3);

    const rank = await svc.request("POST", "/rank", { query: "python" });
    expect(rank.status).toBe(503);
    expect(rank.headers.get("retry-after")).toBe("1");
    expect(((await rank.json()) as ErrorBody).error.code).toBe("VECTOR_STORE_UNAVAILABLE");
    const ready = await svc.request("GET", "/readyz");
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { checks: { index: { ok: boolean } } }).checks.index.ok).toBe(false);

    fake.fault = undefined;
    await expect.poll(() => svc.deps.stores.ledger.countUnindexed(), { timeout: 5000 }).toBe(0);
    expect(points()).toEqual([...added.body.ids].sort());
    const after = await svc.rank({ query: "python function to sort a list" });
    expect(after.status).toBe(200);
    expect(after.body.scores[0]).toMatchObject({ target: "coder", support: 3 });
  });

  it("a delete Qdrant misses is retried until the point is gone", async () => {
    const { body } = await svc.addExamples([example("write a poem", { poet: 1 })]);
    const id = body.ids[0] as string;
    fake.fault = { status: 500 };
    const del = await svc.request("DELETE", `/admin/examples/${id}`, undefined, { admin: true });
    expect(del.status).toBe(204);
    expect(svc.deps.stores.ledger.pendingDeleteIds(10)).toEqual([id]);
    fake.fault = undefined;
    await expect.poll(() => points(), { timeout: 5000 }).toEqual([]);
    expect(svc.deps.stores.ledger.pendingDeleteIds(10)).toEqual([]);
  });

  it("never returns a hit whose example is not in SQLite", async () => {
    const { body } = await svc.addExamples([example("write a poem about the sea", { poet: 1 })]);
    const stray = "00000000-0000-4000-8000-0000000000ff";
    fake.collections
      .get(collection)
      ?.points.set(
        stray,
        Array.from((await svc.deps.embedder.embed(["write a poem about the sea"]))[0] as Float32Array),
      );
    const ranked = await svc.rank({ query: "write a poem about the sea" });
    expect(ranked.body.hits.map((h) => h.id)).toEqual(body.ids);
  });

  it("at start-up, reconciles: stray points deleted, missing ones upserted", async () => {
    const { body } = await svc.addExamples(TOPICS.poetry.map((t) => example(t, { poet: 0.9 })));
    await svc.close();
    const coll = fake.collection(collection);
    const stray = "00000000-0000-4000-8000-0000000000aa";
    coll?.points.set(stray, new Array(256).fill(0.1));
    coll?.points.delete(body.ids[0] as string);

    svc = await startService(env, { index: await open() });
    expect(points()).toEqual([...body.ids].sort());
    expect(svc.deps.stores.ledger.countUnindexed()).toBe(0);
  });
});

describe("Qdrant unreachable at start", () => {
  it("starts not ready, answers 503 with Retry-After, keeps writes, and recovers by itself when Qdrant comes up", async () => {
    const { freePort } = await import("./support/local-server.ts");
    const port = await freePort();
    const tmp = tempDir();
    const svc = await startService({
      DATABASE_PATH: join(tmp.dir, "down.db"),
      VECTOR_STORE: "qdrant",
      QDRANT_URL: `http://127.0.0.1:${port}`,
      QDRANT_COLLECTION: "late",
      QDRANT_TIMEOUT_MS: "300",
      INDEX_RETRY_MS: "50",
    });
    const ready = await svc.request("GET", "/readyz");
    expect(ready.status).toBe(503);
    const rank = await svc.request("POST", "/rank", { query: "a poem" });
    expect(rank.status).toBe(503);
    expect(rank.headers.get("retry-after")).toBe("5");
    expect(((await rank.json()) as ErrorBody).error.code).toBe("VECTOR_STORE_UNAVAILABLE");
    const added = await svc.addExamples(TOPICS.poetry.map((t) => example(t, { poet: 1 })));
    expect(added.status).toBe(201);
    expect(added.body.indexed).toBe(false);

    const late = await new QdrantStandIn().start(port);
    try {
      let status = 0;
      for (let i = 0; i < 200 && status !== 200; i++) {
        await new Promise((r) => setTimeout(r, 50));
        status = (await svc.request("GET", "/readyz")).status;
      }
      expect(status).toBe(200);
      for (let i = 0; i < 100 && svc.deps.stores.ledger.countUnindexed() > 0; i++)
        await new Promise((r) => setTimeout(r, 50));
      expect(svc.deps.stores.ledger.countUnindexed()).toBe(0);
      expect(await svc.deps.index.count()).toBe(3);
      const ranked = await svc.rank({ query: "write a poem about the sea" });
      expect(ranked.status).toBe(200);
      expect(ranked.body.scores[0]?.target).toBe("poet");
    } finally {
      await svc.close();
      await late.stop();
      tmp.remove();
    }
  }, 30_000);
});
