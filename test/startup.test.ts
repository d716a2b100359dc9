import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../service/config.ts";
import { HashEmbedder } from "../service/embedding/hash.ts";
import { StartupError } from "../service/errors.ts";
import { openDatabase } from "../service/store/database.ts";
import { ExampleStore } from "../service/store/example-store.ts";
import { example, RecordingLogger, ranked, startService, TOPICS, tempDir } from "./support/harness.ts";

describe("start-up and persistence", () => {
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => {
    tmp = tempDir();
  });
  afterEach(() => tmp.remove());

  it("keeps examples, scores and target settings across a restart", async () => {
    const env = { DATABASE_PATH: join(tmp.dir, "nested", "router.db") };
    const first = await startService(env);
    const { body } = await first.addExamples(
      TOPICS.poetry.map((t) => example(t, { poet: 0.8, coder: 0.2 }, "poetry")),
    );
    await first.request(
      "PUT",
      "/admin/targets/coder",
      { enabled: false, input_price_per_mtok: 1.5 },
      { admin: true },
    );
    const before = await first.rank({ query: "a poem about the sea" });
    await first.close();

    const second = await startService(env);
    expect(await second.deps.index.count()).toBe(3);
    const after = await second.rank({ query: "a poem about the sea" });
    expect(ranked(after.body)).toEqual(ranked(before.body));
    expect(after.body.hits.map((h) => h.id).sort()).toEqual([...body.ids].sort());
    expect(second.deps.stores.targets.getTarget("coder")).toMatchObject({
      enabled: false,
      inputPricePerMtok: 1.5,
    });
    await second.close();
  });

  it("restarts from the index image a clean shutdown left, and from the database when it is stale", async () => {
    const db = join(tmp.dir, "imaged.db");
    const env = { DATABASE_PATH: db };
    const first = await startService(env);
    await first.addExamples(TOPICS.poetry.map((t) => example(t, { poet: 0.8 }, "poetry")));
    const before = await first.rank({ query: "a poem about the sea" });
    await first.close();
    expect(existsSync(`${db}.vectors`)).toBe(true);

    const log = new RecordingLogger();
    const second = await startService(env, { logger: log });
    expect(log.find("vector index loaded")).toMatchObject({ vectors: 3, from: "image" });
    // It stays, and a journal continues it: a kill from here on replays the journal on top of it.
    expect(existsSync(`${db}.vectors`)).toBe(true);
    expect(existsSync(`${db}.vectors.log`)).toBe(true);
    expect(ranked((await second.rank({ query: "a poem about the sea" })).body)).toEqual(ranked(before.body));
    await second.close();

    // Written while the service is down (an offline seed, say): the image no longer matches.
    const offline = openDatabase(db);
    new ExampleStore(offline.db).write(
      [
        {
          id: "00000000-0000-4000-8000-000000000001",
          text: "sort a list in python",
          category: "code",
          scores: { coder: 1 },
          embedding: await new HashEmbedder(256).embedOne("sort a list in python"),
          embedderId: "hash:v1:256",
        },
      ],
      "insert",
    );
    offline.sqlite.close();
    const stale = new RecordingLogger();
    const third = await startService(env, { logger: stale });
    expect(stale.find("vector index loaded")).toMatchObject({ vectors: 4, from: "database" });
    expect(stale.find("index image is stale: filling the index from the database")).toBeDefined();
    expect((await third.rank({ query: "sort a list in python", k: 1 })).body.hits[0]?.id).toBe(
      "00000000-0000-4000-8000-000000000001",
    );
    await third.close();

    // INDEX_IMAGE=false: none is written, and no journal.
    rmSync(`${db}.vectors`);
    const off = await startService({ ...env, INDEX_IMAGE: "false" });
    await off.addExamples([example("a haiku about rain", { poet: 0.7 }, "poetry")]);
    await off.close();
    expect(existsSync(`${db}.vectors`)).toBe(false);
    expect(existsSync(`${db}.vectors.log`)).toBe(false);
  });

  it("seeds an empty database from seed-data/ through the admin write path, once", async () => {
    const env = { DATABASE_PATH: join(tmp.dir, "seeded.db"), SEED_ON_EMPTY: "true" };
    const svc = await startService(env);
    const n = svc.deps.stores.examples.countExamples();
    expect(n).toBeGreaterThanOrEqual(300);
    const targets = svc.deps.stores.targets.listTargets();
    expect(targets.length).toBeGreaterThanOrEqual(6);
    expect(targets.every((t) => t.inputPricePerMtok !== null && t.outputPricePerMtok !== null)).toBe(true);
    expect(
      new Set(svc.deps.stores.examples.list({ limit: 1000 }).map((e) => e.category)).size,
    ).toBeGreaterThanOrEqual(10);
    const ranked = await svc.rank({ query: "write a haiku about rain" });
    expect(ranked.body.hits).toHaveLength(20);
    // An operator's change survives a restart: seeding only fills an empty database.
    const id = ranked.body.hits[0]?.id as string;
    await svc.request("DELETE", `/admin/examples/${id}`, undefined, { admin: true });
    await svc.close();
    const again = await startService(env);
    expect(again.deps.stores.examples.countExamples()).toBe(n - 1);
    await again.close();
  });

  it("does not seed when SEED_ON_EMPTY=false", async () => {
    const svc = await startService({ DATABASE_PATH: join(tmp.dir, "empty.db"), SEED_ON_EMPTY: "false" });
    expect(svc.deps.stores.examples.countExamples()).toBe(0);
    await svc.close();
  });

  it("refuses to start on embeddings from another embedder, saying what to do", async () => {
    const env = { DATABASE_PATH: join(tmp.dir, "other.db") };
    const first = await startService(env, { embedder: new HashEmbedder(64) });
    await first.addExamples([example("hello", { a: 1 })]);
    await first.close();
    const attempt = startService(env, { embedder: new HashEmbedder(128) });
    await expect(attempt).rejects.toBeInstanceOf(StartupError);
    await expect(attempt).rejects.toThrow(/1 rows by hash:v1:64.*npm run reindex/);
  });
});

describe("READ_ONLY, gone", () => {
  it("refuses to start, saying that a replica follows the primary through Qdrant", () => {
    expect(() => loadConfig({ READ_ONLY: "true" })).toThrow(/READ_ONLY: .*ROLE=replica/);
    // Set to false, it is no reason to refuse.
    expect(loadConfig({ READ_ONLY: "false" }).database.path).toBe("./data/router.db");
  });
});

describe("configuration", () => {
  it("has working defaults", () => {
    const c = loadConfig({});
    expect(c.server.port).toBe(8888);
    expect(c.database.path).toBe("./data/router.db");
    expect(c.database.seedOnEmpty).toBe(true);
    expect(c.embedder.kind).toBe("local");
    expect(c.vectors.kind).toBe("embedded");
    expect(c.admin.token).toBeUndefined();
  });

  it("treats an empty value as unset", () => {
    const c = loadConfig({ DEFAULT_K: "", PORT: "", ADMIN_TOKEN: "", HF_TOKEN: "", FALLBACK_TARGET: "" });
    expect(c.rank.defaultK).toBeUndefined();
    expect(c.rank.fallbackTarget).toBeUndefined();
    expect(c.server.port).toBe(8888);
    expect(c.admin.token).toBeUndefined();
  });

  it("names every bad variable", () => {
    expect(() => loadConfig({ PORT: "http", ADMIN_TOKEN: "short", EMBEDDER: "gpt" })).toThrow(ConfigError);
    try {
      loadConfig({ PORT: "http", ADMIN_TOKEN: "short", EMBEDDER: "gpt" });
    } catch (err) {
      const message = (err as Error).message;
      expect(message).toContain("PORT");
      expect(message).toContain("ADMIN_TOKEN: must be at least 16 characters");
      expect(message).toContain("EMBEDDER");
    }
  });

  it("asks for a backend's variables only when that backend is chosen", () => {
    expect(() => loadConfig({ VECTOR_STORE: "qdrant" })).toThrow(
      /QDRANT_URL: required when VECTOR_STORE=qdrant/,
    );
    expect(() => loadConfig({ EMBEDDER: "huggingface" })).toThrow(
      /HF_MODEL: EMBEDDER=huggingface needs HF_MODEL/,
    );
    expect(() => loadConfig({ EMBEDDER: "huggingface", HF_MODEL: "BAAI/bge-small-en-v1.5" })).toThrow(
      /HF_TOKEN/,
    );
    const c = loadConfig({
      EMBEDDER: "huggingface",
      HF_ENDPOINT_URL: "http://tei/embed",
      VECTOR_STORE: "qdrant",
      QDRANT_URL: "http://q:6333",
    });
    expect(c.embedder.huggingface.endpointUrl).toBe("http://tei/embed");
    expect(c.vectors.qdrant).toMatchObject({ url: "http://q:6333", collection: "examples", timeoutMs: 5000 });
  });
});
