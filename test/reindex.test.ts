import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { reindex } from "../service/cli/reindex.ts";
import { loadConfig } from "../service/config.ts";
import type { Embedder } from "../service/embedding/embedder.ts";
import { HashEmbedder } from "../service/embedding/hash.ts";
import { templatesDigest } from "../service/embedding/templates.ts";
import { AppError } from "../service/errors.ts";
import { createLogger } from "../service/logger.ts";
import { openDatabase } from "../service/store/database.ts";
import { StateStore } from "../service/store/state-store.ts";
import { TEMPLATES_KEY } from "../service/templates/state.ts";
import { QdrantStandIn } from "../tools/qdrant-stand-in/server.ts";
import { example, startService, tempDir } from "./support/harness.ts";

/** Fails every call after `okCalls` successful ones, like a process that dies mid-way. */
class DyingEmbedder extends HashEmbedder {
  calls = 0;
  constructor(
    dimension: number,
    private readonly okCalls: number,
  ) {
    super(dimension);
  }
  override async embed(texts: readonly string[]): Promise<Float32Array[]> {
    if (++this.calls > this.okCalls) throw new AppError("EMBEDDER_UNAVAILABLE", "crashed");
    return super.embed(texts);
  }
}

describe("npm run reindex", () => {
  let tmp: ReturnType<typeof tempDir>;
  let fake: QdrantStandIn;
  beforeAll(async () => {
    fake = await new QdrantStandIn().start();
  });
  afterAll(async () => {
    await fake.stop();
  });
  beforeEach(() => {
    tmp = tempDir();
  });
  afterEach(() => tmp.remove());

  const silent = createLogger("silent");
  const quiet = () => undefined;

  async function seedWith(env: Record<string, string>, embedder: Embedder, count: number): Promise<string[]> {
    const svc = await startService(env, { embedder });
    const { body } = await svc.addExamples(
      Array.from({ length: count }, (_, i) =>
        example(`example number ${i} about topic ${i % 5}`, { a: (i % 10) / 10 }),
      ),
    );
    await svc.close();
    return body.ids;
  }

  it("re-embeds every text for a new embedder, resuming after a crash, and the service then starts", async () => {
    const env = { DATABASE_PATH: join(tmp.dir, "r.db") };
    const ids = await seedWith(env, new HashEmbedder(64), 50);
    const config = loadConfig({ ...env, EMBEDDER: "hash", HASH_EMBEDDER_DIMENSION: "128" });

    await expect(startService(env, { embedder: new HashEmbedder(128) })).rejects.toThrow(/npm run reindex/);

    const dying = new DyingEmbedder(128, 2);
    await expect(
      reindex(config, silent, { embedder: dying, batchSize: 10, progress: quiet }),
    ).rejects.toThrow("crashed");
    const steps: number[] = [];
    const result = await reindex(config, silent, {
      embedder: new HashEmbedder(128),
      batchSize: 10,
      progress: (_phase, done) => steps.push(done),
    });
    expect(result.reembedded).toBe(30);
    expect(steps).toEqual([0, 10, 20, 30]);

    const svc = await startService(env, { embedder: new HashEmbedder(128) });
    expect(await svc.deps.index.count()).toBe(50);
    const hit = await svc.rank({ query: "example number 7 about topic 2", k: 1 });
    expect(hit.body.hits[0]?.id).toBe(ids[7]);
    await svc.close();
  });

  it("rebuilds a Qdrant collection made for another embedder, and --full re-uploads everything", async () => {
    const env = {
      DATABASE_PATH: join(tmp.dir, "q.db"),
      VECTOR_STORE: "qdrant",
      QDRANT_URL: fake.url,
      QDRANT_COLLECTION: "reindex_test",
    };
    await seedWith(env, new HashEmbedder(64), 20);
    expect(fake.collection("reindex_test")?.size).toBe(64);

    const config = loadConfig({ ...env, EMBEDDER: "hash", HASH_EMBEDDER_DIMENSION: "32" });
    const result = await reindex(config, silent, { embedder: new HashEmbedder(32), progress: quiet });
    expect(result).toEqual({ reembedded: 20, indexed: 20 });
    const coll = fake.collection("reindex_test");
    expect(coll?.size).toBe(32);
    expect(coll?.metadata).toEqual({ embedder_id: "hash:v1:32" });
    expect(coll?.points.size).toBe(20);

    fake.requests.length = 0;
    const again = await reindex(config, silent, {
      embedder: new HashEmbedder(32),
      progress: quiet,
      full: true,
    });
    expect(again).toEqual({ reembedded: 0, indexed: 20 });
    expect(
      fake.requests.filter((r) => r.method === "PUT" && r.path.endsWith("/points")).length,
    ).toBeGreaterThan(0);

    const svc = await startService(env, { embedder: new HashEmbedder(32) });
    expect(svc.deps.stores.ledger.countUnindexed()).toBe(0);
    await svc.close();
  });

  it("names the collection as the service does once self-tuning learned templates", async () => {
    const env = {
      DATABASE_PATH: join(tmp.dir, "named.db"),
      VECTOR_STORE: "qdrant",
      QDRANT_URL: fake.url,
      QDRANT_COLLECTION: "named",
    };
    const templates = {
      prefixes: ["You are a careful assistant. Answer in one line.\nQuestion: "],
      suffixes: [],
    };
    await seedWith(env, new HashEmbedder(32), 6);
    // What a committed switch records; the vectors in SQLite are then re-embedded by reindex.
    const opened = openDatabase(env.DATABASE_PATH);
    new StateStore(opened.db).set(TEMPLATES_KEY, JSON.stringify(templates));
    opened.sqlite.close();
    const config = loadConfig({ ...env, EMBEDDER: "hash", HASH_EMBEDDER_DIMENSION: "32" });
    const result = await reindex(config, silent, { embedder: new HashEmbedder(32), progress: quiet });
    expect(result).toEqual({ reembedded: 6, indexed: 6 });
    const own = `named-templates-${templatesDigest(templates)}`;
    expect(fake.collection(own)?.points.size).toBe(6);
    // The service opens that same collection and finds it complete.
    const svc = await startService(
      { ...env, TUNING: "off" },
      { embedder: new HashEmbedder(32), selfTuning: true },
    );
    expect(svc.deps.embedder.id).toMatch(/\+templates:/);
    expect(await svc.deps.index.count()).toBe(6);
    expect(svc.deps.stores.ledger.countUnindexed()).toBe(0);
    await svc.close();
  });

  it("--learn-templates learns shared boilerplate from the stored examples and re-embeds without it", async () => {
    const settings = join(tmp.dir, "routing.json");
    const env = { DATABASE_PATH: join(tmp.dir, "t.db"), ROUTING_SETTINGS: settings };
    const prefix = "You are a careful assistant. Read the question and answer it in one line.\nQuestion: ";
    // The settings file does not exist until reindex writes it.
    const svc = await startService({ DATABASE_PATH: env.DATABASE_PATH });
    await svc.addExamples(
      Array.from({ length: 12 }, (_, i) =>
        example(`${prefix}${["apples", "books", "trains", "cats"][i % 4]} number ${i}`, { a: 1 }),
      ),
    );
    await svc.close();
    const config = loadConfig({ ...env, EMBEDDER: "hash" });
    const result = await reindex(config, silent, {
      embedder: new HashEmbedder(256),
      learnTemplates: true,
      progress: quiet,
    });
    expect(result.reembedded).toBe(12);
    const { readSettingsFile } = await import("../service/tuning/settings-file.ts");
    expect(readSettingsFile(settings)?.features.templates.prefixes).toEqual([prefix]);
    const after = await startService(env);
    expect(after.deps.embedder.id).toMatch(/\+templates:/);
    const hit = await after.rank({ query: `${prefix}trains number 6`, k: 1 });
    expect(hit.body.hits[0]?.similarity).toBeCloseTo(1, 4);
    await after.close();
  });
});
