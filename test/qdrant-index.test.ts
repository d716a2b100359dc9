import { createServer } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { AppError, StartupError } from "../service/errors.ts";
import {
  embedderDigest,
  pointId,
  QdrantIndex,
  type QdrantIndexOptions,
  tieMargin,
} from "../service/vectors/qdrant.ts";
import { QdrantStandIn } from "../tools/qdrant-stand-in/server.ts";
import { TestQdrant } from "./support/qdrant.ts";
import { randomVector, rng, vectorIndexContract } from "./support/vector-index-contract.ts";

/** The stand-in, or with QDRANT_URL a real server, behind the recording proxy. */
let fake: TestQdrant;
let n = 0;
beforeAll(async () => {
  fake = await TestQdrant.start();
});
afterAll(async () => {
  await fake.stop();
});

const options = (over: Partial<QdrantIndexOptions> = {}): QdrantIndexOptions => ({
  url: fake.url,
  collection: fake.name(`test_${++n}`),
  timeoutMs: 1000,
  batchSize: 64,
  embedderId: "hash:v1:32",
  ...over,
});

vectorIndexContract("qdrant, against the in-process REST double (or QDRANT_URL)", (dim) =>
  QdrantIndex.open(options(), dim),
);

describe("qdrant collection settings", () => {
  it("creates the collection with the configured shards, replication, on-disk storage and payload indexes", async () => {
    const o = options({
      collectionSettings: {
        shardNumber: 4,
        replicationFactor: 2,
        writeConsistencyFactor: 2,
        onDiskVectors: true,
        onDiskPayload: false,
        payloadIndexes: [{ field: "category", type: "keyword" }],
      },
      writeOrdering: "strong",
    });
    const index = await QdrantIndex.open(o, 4);
    const info = await fake.info((await fake.resolve(o.collection)) as string);
    expect(info.config.params).toMatchObject({
      vectors: { size: 4, distance: "Cosine", on_disk: true },
      shard_number: 4,
      replication_factor: 2,
      write_consistency_factor: 2,
      on_disk_payload: false,
    });
    expect(Object.keys(info.payload_schema ?? {})).toEqual(["category"]);
    fake.requests.length = 0;
    await index.upsert([{ id: "a", vector: new Float32Array([1, 0, 0, 0]) }]);
    await index.delete(["a"]);
    const writes = fake.requests.filter((r) => r.method !== "GET");
    expect(writes.map((r) => [r.path, r.query.get("wait"), r.query.get("ordering")])).toEqual([
      [`/collections/${o.collection}/points`, "true", "strong"],
      [`/collections/${o.collection}/points/delete`, "true", "strong"],
    ]);
  });

  it("leaves Qdrant's defaults when nothing is configured", async () => {
    const o = options();
    await QdrantIndex.open(o, 4);
    const concrete = await fake.resolve(o.collection);
    const create = fake.requests.find((r) => r.method === "PUT" && r.path === `/collections/${concrete}`);
    expect(create?.body).toEqual({
      vectors: { size: 4, distance: "Cosine" },
      metadata: { embedder_id: "hash:v1:32" },
    });
  });
});

const live = process.env.QDRANT_URL;
describe.skipIf(!live)(`qdrant live at QDRANT_URL${live ? "" : " (skipped: QDRANT_URL is not set)"}`, () => {
  vectorIndexContract("qdrant live", (dim) =>
    QdrantIndex.open(
      {
        url: live as string,
        apiKey: process.env.QDRANT_API_KEY,
        collection: `contract_${Date.now()}_${++n}`,
        timeoutMs: 5000,
        batchSize: 64,
        embedderId: "hash:v1:32",
        onMismatch: "recreate",
      },
      dim,
    ),
  );
});

describe("QdrantIndex requests", () => {
  beforeEach(() => {
    fake.requests.length = 0;
    fake.fault = undefined;
  });

  it("drop deletes its collection (a switch to learned templates replaced it)", async () => {
    const o = options();
    const index = await QdrantIndex.open(o, 32);
    await index.upsert([{ id: "00000000-0000-4000-8000-000000000001", vector: randomVector(32, rng(1)) }]);
    const concrete = (await fake.resolve(o.collection)) as string;
    expect(await fake.collections()).toContain(concrete);
    await index.drop();
    // The collection behind the alias goes, and the alias with it.
    expect(await fake.collections()).not.toContain(concrete);
    expect((await fake.aliases()).has(o.collection)).toBe(false);
    expect(fake.requests.at(-1)).toMatchObject({ method: "DELETE", path: `/collections/${concrete}` });
  });

  it("serves the name as an alias of a collection of its own, and a rebuild moves it in one request", async () => {
    const o = options();
    const first = await QdrantIndex.open(o, 16);
    const before = await fake.resolve(o.collection);
    expect(before).toMatch(new RegExp(`^${o.collection}-[0-9a-z]+-e${embedderDigest("hash:v1:32")}$`));
    expect((await fake.aliases()).get(o.collection)).toBe(before);
    await first.upsert([
      { id: "00000000-0000-4000-8000-000000000001", vector: new Float32Array(16).fill(1) },
    ]);
    fake.requests.length = 0;
    const rebuilt = await QdrantIndex.open({ ...o, onMismatch: "recreate" }, 32);
    const after = await fake.resolve(o.collection);
    expect(after).not.toBe(before);
    const moves = fake.requests.filter((r) => r.path === "/collections/aliases");
    expect(moves.map((r) => r.body)).toEqual([
      {
        actions: [
          { delete_alias: { alias_name: o.collection } },
          { create_alias: { collection_name: after, alias_name: o.collection } },
        ],
      },
    ]);
    expect(await fake.collections()).not.toContain(before);
    expect(await rebuilt.count()).toBe(0);
  });

  it("uses a collection created before aliases as it is, and moves it under an alias on a rebuild", async () => {
    const o = options();
    // As an older version created it: a concrete collection under the name itself.
    await fake.client.api().createCollection({
      collection_name: o.collection,
      vectors: { size: 8, distance: "Cosine" },
      metadata: { embedder_id: "hash:v1:32" },
    });
    const legacy = await QdrantIndex.open(o, 8);
    await legacy.upsert([
      { id: "00000000-0000-4000-8000-000000000002", vector: new Float32Array(8).fill(1) },
    ]);
    expect((await fake.aliases()).has(o.collection)).toBe(false);
    expect(await fake.count(o.collection)).toBe(1);
    await QdrantIndex.open({ ...o, onMismatch: "recreate" }, 16);
    expect((await fake.aliases()).get(o.collection)).toMatch(new RegExp(`^${o.collection}-`));
  });

  it("opens only what exists when it may not create (a replica), and never writes a collection or alias", async () => {
    const o = options({ create: false });
    const missing = await QdrantIndex.open(o, 8).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((missing as AppError).code).toBe("VECTOR_STORE_UNAVAILABLE");
    expect(await fake.resolve(o.collection)).toBeUndefined();
    await QdrantIndex.open({ ...o, create: true }, 8);
    fake.requests.length = 0;
    await QdrantIndex.open(o, 8);
    expect(fake.requests.every((r) => r.method === "GET")).toBe(true);
  });

  it("creates a missing collection with the embedder's dimension, cosine distance and identity", async () => {
    const o = options({ apiKey: "secret-key" });
    await QdrantIndex.open(o, 32);
    const concrete = await fake.resolve(o.collection);
    const create = fake.requests.find((r) => r.method === "PUT" && r.path === `/collections/${concrete}`);
    expect(create?.body).toEqual({
      vectors: { size: 32, distance: "Cosine" },
      metadata: { embedder_id: "hash:v1:32" },
    });
    expect(create?.headers["api-key"]).toBe("secret-key");
  });

  it("upserts in batches with wait=true, deletes with wait=true, and queries for the example id alone", async () => {
    const o = options({ batchSize: 2 });
    const index = await QdrantIndex.open(o, 4);
    fake.requests.length = 0;
    const ids = ["a", "b", "c"].map((c) => `00000000-0000-4000-8000-00000000000${c}`);
    await index.upsert(ids.map((id, i) => ({ id, vector: Float32Array.from([i, 1, 0, 0]) })));
    const upserts = fake.requests.filter((r) => r.method === "PUT" && r.path.endsWith("/points"));
    expect(upserts).toHaveLength(2);
    expect(upserts.every((r) => r.query.get("wait") === "true")).toBe(true);
    expect(upserts[0]?.body).toEqual({
      points: [
        { id: ids[0], vector: [0, 1, 0, 0] },
        { id: ids[1], vector: [1, 1, 0, 0] },
      ],
    });

    const hits = await index.search(Float32Array.from([2, 1, 0, 0]), 2);
    expect(hits.map((h) => h.id)).toEqual([ids[2], ids[1]]);
    const query = fake.requests.find((r) => r.path.endsWith("/points/query"));
    // UUID ids are their own point ids (no payload); only a readable id's is asked for.
    expect(query?.body).toEqual({
      query: [2, 1, 0, 0],
      // A few more than k: ties at the k-th place are settled by id, not by Qdrant's storage order.
      limit: 2 + tieMargin(2),
      with_payload: ["example_id"],
      with_vector: false,
    });

    await index.delete([ids[0] as string]);
    const del = fake.requests.find((r) => r.path.endsWith("/points/delete"));
    expect(del?.body).toEqual({ points: [ids[0]] });
    expect(del?.query.get("wait")).toBe("true");
    expect(await index.count()).toBe(2);
  });

  it("settles ties by id, whatever order the points were written in", async () => {
    const o = options();
    const index = await QdrantIndex.open(o, 4);
    const same = new Float32Array([0, 0, 1, 0]);
    // Written in reverse: Qdrant would give them back in its own storage order.
    for (const id of ["tie-e", "tie-d", "tie-c", "tie-b", "tie-a"])
      await index.upsert([{ id, vector: same }]);
    expect((await index.search(same, 3)).map((h) => h.id)).toEqual(["tie-a", "tie-b", "tie-c"]);
  });

  it("stores a readable id under a point id derived from it, and answers with the readable id", async () => {
    const index = await QdrantIndex.open(options({ batchSize: 10 }), 4);
    fake.requests.length = 0;
    const ids = ["sql-1", "SQL-1", "00000000-0000-4000-8000-00000000000d"];
    await index.upsert(ids.map((id, i) => ({ id, vector: Float32Array.from([i + 1, 1, 0, 0]) })));
    const sent = fake.requests.find((r) => r.method === "PUT" && r.path.endsWith("/points"))?.body as {
      points: Array<{ id: string; payload?: Record<string, string> }>;
    };
    expect(sent.points.map((p) => p.id)).toEqual([pointId("sql-1"), pointId("SQL-1"), ids[2]]);
    expect(pointId("sql-1")).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(pointId("sql-1")).not.toBe(pointId("SQL-1"));
    expect(sent.points.map((p) => p.payload)).toEqual([
      { example_id: "sql-1" },
      { example_id: "SQL-1" },
      undefined,
    ]);
    const hits = await index.search(Float32Array.from([1, 1, 0, 0]), 3);
    expect(hits.map((h) => h.id).sort()).toEqual([...ids].sort());
    const listed: string[] = [];
    for await (const id of index.ids()) listed.push(id);
    expect(listed.sort()).toEqual([...ids].sort());
    await index.delete(["sql-1"]);
    expect(await index.count()).toBe(2);
    const after = await index.search(Float32Array.from([1, 1, 0, 0]), 3);
    expect(after.map((h) => h.id)).not.toContain("sql-1");
  });

  it("is refused a point id Qdrant does not take, as Qdrant refuses it", async () => {
    const o = options();
    await QdrantIndex.open(o, 4);
    const res = await fetch(`${fake.url}/collections/${o.collection}/points?wait=true`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ points: [{ id: "sql-1", vector: [1, 0, 0, 0] }] }),
    });
    expect(res.status).toBe(400);
  });

  it("lists every id across scroll pages", async () => {
    const index = await QdrantIndex.open(options({ batchSize: 500 }), 4);
    const next = rng(1);
    const records = Array.from({ length: 2500 }, (_, i) => ({
      id: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
      vector: randomVector(4, next),
    }));
    await index.upsert(records);
    const seen: string[] = [];
    for await (const id of index.ids()) seen.push(id);
    expect(seen.sort()).toEqual(records.map((r) => r.id).sort());
    expect(fake.requests.filter((r) => r.path.endsWith("/points/scroll")).length).toBe(3);
  });

  describe("refuses a collection that does not fit, saying what to do", () => {
    it("another dimension", async () => {
      const o = options();
      await QdrantIndex.open(o, 16);
      const attempt = QdrantIndex.open(o, 32);
      await expect(attempt).rejects.toBeInstanceOf(StartupError);
      await expect(attempt).rejects.toThrow(/holds 16-dimensional vectors.*makes 32.*npm run reindex/);
    });

    it("another embedder", async () => {
      const o = options();
      await QdrantIndex.open(o, 32);
      await expect(QdrantIndex.open({ ...o, embedderId: "local:other:32" }, 32)).rejects.toThrow(
        fake.live
          ? /embedder is local:other:32|another embedder than the configured local:other:32/
          : /holds vectors from hash:v1:32 but the configured embedder is local:other:32/,
      );
    });

    it("another embedder, on a server that keeps no collection metadata (Qdrant 1.14)", async () => {
      const old = await new QdrantStandIn({ metadata: false }).start();
      try {
        const o = { ...options(), url: old.url };
        await QdrantIndex.open(o, 32);
        await expect(QdrantIndex.open({ ...o, embedderId: "local:other:32" }, 32)).rejects.toThrow(
          /holds vectors from another embedder than the configured local:other:32/,
        );
        // The same embedder opens it.
        await QdrantIndex.open(o, 32);
      } finally {
        await old.stop();
      }
    });

    it("and recreates it when asked (reindex)", async () => {
      const o = options();
      const first = await QdrantIndex.open(o, 16);
      await first.upsert([
        { id: "00000000-0000-4000-8000-000000000001", vector: new Float32Array(16).fill(1) },
      ]);
      const second = await QdrantIndex.open({ ...o, onMismatch: "recreate" }, 32);
      expect(await second.count()).toBe(0);
      const info = await fake.info((await fake.resolve(o.collection)) as string);
      expect(info.config.params.vectors).toMatchObject({ size: 32 });
    });
  });

  describe("failures become VECTOR_STORE_UNAVAILABLE with a retry hint", () => {
    let index: QdrantIndex;
    beforeEach(async () => {
      index = await QdrantIndex.open(options(), 4);
    });
    const q = Float32Array.from([1, 0, 0, 0]);

    const unavailable = async (call: Promise<unknown>) => {
      const err = await call.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).code).toBe("VECTOR_STORE_UNAVAILABLE");
      return err as AppError;
    };

    it("429 with Retry-After", async () => {
      fake.fault = { status: 429, retryAfter: "7" };
      const err = await unavailable(index.search(q, 1));
      expect(err.retryAfterSeconds).toBe(7);
      expect(err.message).toContain("rate limited");
    });

    it("429 without Retry-After", async () => {
      fake.fault = { status: 429 };
      expect(
        (await unavailable(index.upsert([{ id: "00000000-0000-4000-8000-000000000001", vector: q }])))
          .retryAfterSeconds,
      ).toBe(1);
    });

    it("500 and 503", async () => {
      fake.fault = { status: 500 };
      expect((await unavailable(index.delete(["00000000-0000-4000-8000-000000000001"]))).message).toContain(
        "server error 500",
      );
      fake.fault = { status: 503 };
      await unavailable(index.count());
    });

    it("a timeout", async () => {
      const slow = await QdrantIndex.open(options({ timeoutMs: 150 }), 4);
      fake.fault = { delayMs: 400 };
      expect((await unavailable(slow.search(q, 1))).message).toContain("timed out");
    });

    it("a refused connection", async () => {
      const port = await new Promise<number>((resolve) => {
        const s = createServer().listen(0, "127.0.0.1", () => {
          const p = (s.address() as { port: number }).port;
          s.close(() => resolve(p));
        });
      });
      const err = await unavailable(QdrantIndex.open(options({ url: `http://127.0.0.1:${port}` }), 4));
      expect(err.message).toContain("unreachable");
      fake.fault = { status: 500 };
      await unavailable(index.health());
    });

    it("but a 400 is a bug, not an outage", async () => {
      fake.fault = { status: 400 };
      const err = await index.search(q, 1).catch((e: unknown) => e);
      expect(err).not.toBeInstanceOf(AppError);
      expect((err as Error).message).toContain("HTTP 400");
    });
  });
});
