import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bootId } from "../service/index-image.ts";
import { rng } from "../service/routing/crossval.ts";
import { openDatabase } from "../service/store/database.ts";
import { ExampleStore } from "../service/store/example-store.ts";
import { StateStore } from "../service/store/state-store.ts";
import { TargetStore } from "../service/store/target-store.ts";
import { ChildServer } from "./support/child-server.ts";
import { ADMIN_TOKEN, tempDir } from "./support/harness.ts";

/**
 * kill -9 at seeded random moments of the real server's (and the reindex CLI's) work: after each,
 * every write the service acknowledged must be in SQLite, whole, and a restarted service's index
 * must agree with SQLite. The seed makes every run's kill times the same.
 */
const SEED = Number(process.env.CRASH_SEED ?? 20261201);
const next = rng(SEED);
const between = (lo: number, hi: number) => Math.round(lo + next() * (hi - lo));
const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
const base = (dir: string, name: string) => ({
  DATABASE_PATH: join(dir, `${name}.db`),
  ADMIN_TOKEN,
  EMBEDDER: "hash",
  HASH_EMBEDDER_DIMENSION: "64",
  EMBED_CACHE_SIZE: "0",
  SEED_ON_EMPTY: "false",
  TUNING: "off",
});

interface Acked {
  id: string;
  text: string;
  scores: Record<string, number>;
}

const example = (kind: string) => {
  const id = randomUUID();
  const text = `${kind} example ${id} about topic ${Math.floor(next() * 40)}`;
  return { id, text, scores: { big: Math.round(next() * 100) / 100, small: Math.round(next() * 100) / 100 } };
};

/** Sends single writes and imports until the server dies; returns what it acknowledged. */
async function writeUntilKilled(url: string, killAt: number): Promise<Acked[]> {
  const acked: Acked[] = [];
  const deadline = Date.now() + killAt + 2_000;
  const singles = (async () => {
    while (Date.now() < deadline) {
      const e = example("single");
      try {
        const res = await fetch(`${url}/admin/examples`, {
          method: "POST",
          headers: { ...auth, "content-type": "application/json" },
          body: JSON.stringify({ examples: [e] }),
        });
        if (res.status === 201) acked.push(e);
      } catch {
        return; // the server is gone: this write was never acknowledged
      }
    }
  })();
  const imports = (async () => {
    while (Date.now() < deadline) {
      const batch = Array.from({ length: 250 }, () => example("imported"));
      try {
        const res = await fetch(`${url}/admin/import`, {
          method: "POST",
          headers: { ...auth, "content-type": "application/x-ndjson" },
          body: batch.map((e) => JSON.stringify(e)).join("\n"),
        });
        if (res.status === 201) acked.push(...batch);
      } catch {
        return;
      }
    }
  })();
  await Promise.all([singles, imports]);
  return acked;
}

/** Every acknowledged example is stored whole. */
function expectStored(path: string, acked: readonly Acked[]): number {
  const { db, sqlite } = openDatabase(path);
  const store = new ExampleStore(db);
  for (const e of acked) {
    const stored = store.get(e.id);
    expect(stored, `acknowledged ${e.id} lost`).toBeDefined();
    expect(stored?.text).toBe(e.text);
    expect(stored?.scores).toEqual(e.scores);
  }
  const n = store.countExamples();
  sqlite.close();
  return n;
}

/**
 * A restarted service is ready, its index holds exactly what SQLite holds, and it finds `probe` by
 * its text. Returns where the index was loaded from ("image", "image and journal", "database").
 */
async function expectIndexAgrees(
  env: Record<string, string>,
  examples: number,
  probe?: Acked,
): Promise<string | undefined> {
  const server = await ChildServer.start(env);
  try {
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    const value = (name: string) =>
      Number(/^(\S+) (\S+)$/m.exec(metrics.split("\n").find((l) => l.startsWith(`${name} `)) ?? "")?.[2]);
    expect(value("router_examples_stored")).toBe(examples);
    expect(value("router_vectors_stored")).toBe(examples);
    expect(value("router_vectors_unsynced")).toBe(0);
    if (probe) {
      const res = await fetch(`${server.url}/rank`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ query: probe.text, k: 1 }),
      });
      const body = (await res.json()) as { hits: Array<{ id: string }> };
      expect(body.hits[0]?.id).toBe(probe.id);
    }
    const loaded = server.lines.find((l) => l.includes('"vector index loaded"'));
    return loaded === undefined ? undefined : (JSON.parse(loaded) as { from?: string }).from;
  } finally {
    server.kill("SIGTERM");
    await server.exit();
  }
}

/** Imports `n` examples through a server on `env`'s database, then stops it cleanly. */
function preload(env: Record<string, string>, n: number, kind: string): Promise<Acked[]> {
  return importAndStop(
    env,
    Array.from({ length: n }, () => example(kind)),
  );
}

/** Imports `batch` through a server on `env`'s database, then stops it cleanly. */
async function importAndStop(env: Record<string, string>, batch: Acked[]): Promise<Acked[]> {
  const server = await ChildServer.start(env);
  const res = await fetch(`${server.url}/admin/import`, {
    method: "POST",
    headers: { ...auth, "content-type": "application/x-ndjson" },
    body: batch.map((e) => JSON.stringify(e)).join("\n"),
  });
  expect(res.status).toBe(201);
  server.kill("SIGTERM");
  await server.exit();
  return batch;
}

/** A prompt wrapped in boilerplate longer than the 32 tokens the template scenario embeds. */
const wrapped = (body: string) =>
  `You are an expert assistant. Read each example carefully before answering. Example one: the capital of France is Paris. Question: ${body}\nThink step by step, check the result twice, and end with the line 'The answer is' followed by the answer alone.`;

describe(`kill -9 at random moments (seed ${SEED}; CRASH_SEED to change)`, () => {
  let tmp: ReturnType<typeof tempDir>;
  let kills = 0;
  beforeAll(() => {
    tmp = tempDir();
  });
  afterAll(() => {
    tmp.remove();
    // The bar: at least 20 kills a run.
    expect(kills).toBeGreaterThanOrEqual(20);
  });

  it("during single writes and imports: every acknowledged write survives, the index agrees", async () => {
    const env = base(tmp.dir, "writes");
    const acked: Acked[] = [];
    const loadedFrom: Array<string | undefined> = [];
    for (let round = 0; round < 8; round++) {
      const server = await ChildServer.start(env);
      const killAt = between(100, 1500);
      const writing = writeUntilKilled(server.url, killAt);
      await new Promise((r) => setTimeout(r, killAt));
      server.kill("SIGKILL");
      kills++;
      await server.exit();
      acked.push(...(await writing));
      const n = expectStored(env.DATABASE_PATH, acked);
      loadedFrom.push(await expectIndexAgrees(env, n, acked.at(-1)));
    }
    expect(acked.length).toBeGreaterThan(100);
    // Each restart after a kill read the index image and replayed its journal (the last acknowledged
    // write found by its text above), none re-read every vector from SQLite.
    // (Where the system gives no boot id, no journal is replayed: then from SQLite.)
    const expected = bootId() === "" ? "database" : "image and journal";
    expect(loadedFrom).toEqual(Array.from({ length: 8 }, () => expected));
  }, 180_000);

  it("during first-start seeding: a restart finishes it, prices included", async () => {
    for (let round = 0; round < 5; round++) {
      const env = { ...base(tmp.dir, `seed-${round}`), SEED_ON_EMPTY: "true" };
      const starting = ChildServer.spawn(env);
      await new Promise((r) => setTimeout(r, between(300, 2500)));
      starting.kill("SIGKILL");
      kills++;
      await starting.exit();
      const server = await ChildServer.start(env);
      server.kill("SIGTERM");
      expect(await server.exit()).toBe(0);
      const { db, sqlite } = openDatabase(env.DATABASE_PATH);
      const store = new ExampleStore(db);
      expect(store.countExamples()).toBe(308);
      expect(
        new TargetStore(db)
          .listTargets()
          .every((t) => t.inputPricePerMtok !== null && t.outputPricePerMtok !== null),
      ).toBe(true);
      expect(new StateStore(db).get("seed")).toBe("done");
      sqlite.close();
    }
  }, 180_000);

  it("during imports too large for one transaction (written a chunk at a time): each is all or nothing", async () => {
    for (let round = 0; round < 4; round++) {
      const env = base(tmp.dir, `large-import-${round}`);
      const before = await preload(env, 400, "before");
      // Every round replaces the 400 examples and adds 2,600; the odd rounds with mode=replace,
      // which also deletes 100 examples the import does not name.
      const extra = round % 2 === 1 ? await preload(env, 100, "extra") : [];
      const replacing = before.map((e) => ({ ...e, scores: { big: 0.01, small: 0.99 } }));
      const batch = [...replacing, ...Array.from({ length: 2600 }, () => example("large"))];
      const server = await ChildServer.start(env);
      const query = round % 2 === 1 ? "?mode=replace" : "";
      const answered = fetch(`${server.url}/admin/import${query}`, {
        method: "POST",
        headers: { ...auth, "content-type": "application/x-ndjson" },
        body: batch.map((e) => JSON.stringify(e)).join("\n"),
      }).then(
        (res) => res.status,
        () => 0,
      );
      // Killed once its chunks have begun to land (the count of examples moves), a little later.
      const stored = async () => {
        const metrics = await (await fetch(`${server.url}/metrics`)).text();
        return Number(/^router_examples_stored (\S+)$/m.exec(metrics)?.[1]);
      };
      const start = await stored();
      const writing = Date.now();
      while ((await stored()) === start && Date.now() - writing < 10_000)
        await new Promise((r) => setTimeout(r, 5));
      await new Promise((r) => setTimeout(r, between(0, 400)));
      server.kill("SIGKILL");
      kills++;
      await server.exit();
      const status = await answered;
      // What a restarted service finds: the import whole, or nothing of it.
      const restarted = await ChildServer.start(env);
      restarted.kill("SIGTERM");
      await restarted.exit();
      const recovered = restarted.lines.some((l) => l.includes("a write a stop interrupted was taken back"));
      const { db, sqlite } = openDatabase(env.DATABASE_PATH);
      const store = new ExampleStore(db);
      const landed = store.get(batch.at(-1)?.id as string) !== undefined;
      if (status === 201) expect(landed).toBe(true);
      // Nothing of it: because the start took back the chunks that had landed.
      if (!landed) expect(recovered).toBe(true);
      const expected = landed ? batch : [...before, ...extra];
      expect(store.countExamples()).toBe(expected.length);
      for (const e of expected) expect(store.get(e.id)?.scores).toEqual(e.scores);
      expect(sqlite.prepare("SELECT count(*) FROM imports").pluck().get()).toBe(0);
      sqlite.close();
      await expectIndexAgrees(env, expected.length, expected.at(-1));
    }
  }, 240_000);

  it("during a reindex to another embedder: running it again finishes, and the service starts on it", async () => {
    const env = base(tmp.dir, "reindex");
    const batch = await preload(env, 1500, "reindexed");
    for (let round = 0; round < 4; round++) {
      // Alternate the target dimension so every round has re-embedding to do.
      const dimension = round % 2 === 0 ? "32" : "64";
      const cli = ChildServer.spawn({ ...env, HASH_EMBEDDER_DIMENSION: dimension }, "service/cli/reindex.ts");
      await new Promise((r) => setTimeout(r, between(200, 1500)));
      cli.kill("SIGKILL");
      kills++;
      await cli.exit();
      const again = ChildServer.spawn(
        { ...env, HASH_EMBEDDER_DIMENSION: dimension },
        "service/cli/reindex.ts",
      );
      expect(await again.exit()).toBe(0);
      expectStored(env.DATABASE_PATH, batch);
      await expectIndexAgrees({ ...env, HASH_EMBEDDER_DIMENSION: dimension }, batch.length, batch[round]);
    }
  }, 180_000);

  it("during a switch to learned templates: the start finds the old vectors or the new, whole, and the index agrees", async () => {
    for (let round = 0; round < 4; round++) {
      const env = { ...base(tmp.dir, `templates-${round}`), EMBED_MAX_TOKENS: "32" };
      const batch = Array.from({ length: 2000 }, (_, i) => {
        const topic = Math.floor(next() * 40);
        const big = topic % 2 === 0;
        const body = `a question about topic ${topic} number ${i % 9}`;
        return {
          id: randomUUID(),
          text: wrapped(body),
          scores: { big: big ? 0.9 : 0.1, small: big ? 0.1 : 0.9 },
        };
      });
      await importAndStop(env, batch);

      // Never tuned: the start tunes at once, tries the templates, and switches to them.
      const tuning = await ChildServer.start({ ...env, TUNING: "auto", TUNE_DELAY_MS: "0" });
      // The run takes 5-8 s here: learning, re-embedding, two cross-validations, the switch.
      await new Promise((r) => setTimeout(r, between(500, 9000)));
      tuning.kill("SIGKILL");
      kills++;
      await tuning.exit();
      await expectIndexAgrees(env, batch.length);
      const after = await ChildServer.start(env);
      const status = (await (await fetch(`${after.url}/admin/settings`, { headers: auth })).json()) as {
        templates: { prefixes: string[] };
      };
      const ranked = (await (
        await fetch(`${after.url}/rank`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ query: wrapped("a question about topic 4 number 1") }),
        })
      ).json()) as { embedder: string };
      // Either the switch had not been committed (no templates, the old embedder) or it had.
      expect(ranked.embedder.includes("+templates:")).toBe(status.templates.prefixes.length > 0);
      after.kill("SIGTERM");
      await after.exit();
    }
  }, 240_000);

  it("during self-tuning: the settings are the old or the new, whole, and the service starts", async () => {
    const env = base(tmp.dir, "tuning");
    const batch = await preload(env, 3000, "tuned");
    for (let round = 0; round < 4; round++) {
      // Never tuned, or changed since: the start schedules a run at once.
      const tuning = await ChildServer.start({
        ...env,
        TUNING: "auto",
        TUNE_DELAY_MS: "0",
        TUNE_CHANGE_COUNT: "1",
      });
      await fetch(`${tuning.url}/admin/examples`, {
        method: "POST",
        headers: { ...auth, "content-type": "application/json" },
        body: JSON.stringify({ examples: [example("tuned")] }),
      });
      await new Promise((r) => setTimeout(r, between(100, 4000)));
      tuning.kill("SIGKILL");
      kills++;
      await tuning.exit();
      const after = await ChildServer.start(env);
      const status = (await (await fetch(`${after.url}/admin/settings`, { headers: auth })).json()) as {
        source: string;
        settings: { k: number };
      };
      expect(["default", "tuned"]).toContain(status.source);
      expect(status.settings.k).toBeGreaterThan(0);
      after.kill("SIGTERM");
      await after.exit();
      await expectIndexAgrees(env, batch.length + round + 1);
    }
  }, 240_000);
});
