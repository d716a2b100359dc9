import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChildServer } from "./support/child-server.ts";
import { ADMIN_TOKEN, type RankBody, TOPICS } from "./support/harness.ts";
import { call, until } from "./support/http.ts";
import { TestQdrant } from "./support/qdrant.ts";

const COMMON = {
  EMBEDDER: "hash",
  VECTOR_STORE: "qdrant",
  QDRANT_COLLECTION: "multi",
  REPLICA_POLL_MS: "200",
};

/**
 * A primary and two replicas as separate processes around one Qdrant (the stand-in, on the
 * loopback). The replicas have no database and run in directories of their own: all they know comes
 * from Qdrant.
 */
describe("a primary and two replicas as separate processes", () => {
  let qdrant: TestQdrant;
  let primary: ChildServer | undefined;
  const replicas: ChildServer[] = [];
  const dirs = { primary: "", replicas: [] as string[] };
  let primaryEnv: Record<string, string>;

  beforeAll(async () => {
    qdrant = await TestQdrant.start();
    dirs.primary = mkdtempSync(join(tmpdir(), "primary-"));
    primaryEnv = {
      ...COMMON,
      QDRANT_URL: qdrant.url,
      QDRANT_COLLECTION: qdrant.name("multi"),
      DATABASE_PATH: join(dirs.primary, "router.db"),
      ADMIN_TOKEN,
      SEED_ON_EMPTY: "false",
      TUNING: "off",
    };
    for (let i = 0; i < 2; i++) {
      const dir = mkdtempSync(join(tmpdir(), `replica-${i}-`));
      dirs.replicas.push(dir);
      replicas.push(
        await ChildServer.command(
          process.execPath,
          // From a folder of its own: the loader and the server by absolute path.
          [
            "--import",
            pathToFileURL(join(process.cwd(), "node_modules/tsx/dist/loader.mjs")).href,
            join(process.cwd(), "service/main.ts"),
          ],
          {
            ...COMMON,
            QDRANT_URL: qdrant.url,
            QDRANT_COLLECTION: qdrant.name("multi"),
            ROLE: "replica",
            PRIMARY_URL: "http://primary.internal:8888",
          },
          dir,
        ),
      );
    }
    for (const r of replicas) await r.listening();
  }, 60_000);

  afterAll(async () => {
    primary?.kill("SIGKILL");
    for (const r of replicas) r.kill("SIGTERM");
    await Promise.all(replicas.map((r) => r.exit()));
    await qdrant.stop();
    for (const d of [dirs.primary, ...dirs.replicas]) rmSync(d, { recursive: true, force: true });
  });

  const rank = async (r: ChildServer, query: string) =>
    (await call(r.url, "POST", "/rank", { query, k: 3 })) as {
      status: number;
      body: RankBody & Record<string, unknown>;
    };

  it("replicas started before any document are live and not ready, then ready once the primary publishes", async () => {
    for (const r of replicas) expect((await call(r.url, "GET", "/readyz")).status).toBe(503);
    primary = await ChildServer.start(primaryEnv);
    const added = await call(
      primary.url,
      "POST",
      "/admin/examples",
      {
        examples: TOPICS.code.map((text, i) => ({ id: `code-${i}`, text, scores: { big: 0.9, small: 0.2 } })),
      },
      true,
    );
    expect(added.status).toBe(201);
    for (const r of replicas) await until(async () => (await call(r.url, "GET", "/readyz")).status === 200);
  }, 60_000);

  it("ranks a write acknowledged by the primary on both replicas, with its scores; follows an update and a delete", async () => {
    const p = primary as ChildServer;
    const text = "translate this Old Norse saga into modern Icelandic";
    const write = await call(
      p.url,
      "POST",
      "/admin/examples",
      { examples: [{ id: "saga", text, scores: { big: 0.3, small: 0.95 } }] },
      true,
    );
    expect(write.status).toBe(201);
    const visible = await Promise.all(
      replicas.map((r) => until(async () => (await rank(r, text)).body.hits?.[0]?.id === "saga")),
    );
    console.log(
      `write acknowledged -> ranked from on each replica: ${visible.map((ms) => `${ms.toFixed(0)} ms`).join(", ")}`,
    );
    for (const r of replicas) expect((await rank(r, text)).body.hits[0]?.id).toBe("saga");

    // An update of the scores alone: never the new vector with the old scores, and here the same vector.
    const patch = await call(
      p.url,
      "PATCH",
      "/admin/examples/saga",
      { scores: { big: 0.99, small: 0.01 } },
      true,
    );
    expect(patch.status).toBe(200);
    for (const r of replicas) {
      await until(async () => {
        const ranked = await call(r.url, "POST", "/rank", { query: text, k: 1 });
        return (ranked.body as unknown as RankBody).scores[0]?.target === "big";
      });
    }
    const del = await fetch(`${p.url}/admin/examples/saga`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(del.status).toBe(204);
    for (const r of replicas)
      await until(async () => (await rank(r, text)).body.hits.every((h) => h.id !== "saga"));
  }, 60_000);

  it("keeps both replicas serving and ready through a kill -9 of the primary, and follows the restarted one", async () => {
    const before = (await call(replicas[0]?.url as string, "GET", "/readyz")).body as {
      document: { version: number };
    };
    (primary as ChildServer).kill("SIGKILL");
    await (primary as ChildServer).exit();
    primary = undefined;
    // Several poll intervals without a primary: every /rank still answers, every replica stays ready.
    const t0 = Date.now();
    let answered = 0;
    while (Date.now() - t0 < 1_500) {
      for (const r of replicas) {
        expect((await rank(r, "python function to sort a list")).status).toBe(200);
        answered++;
      }
    }
    for (const r of replicas) expect((await call(r.url, "GET", "/readyz")).status).toBe(200);
    expect(answered).toBeGreaterThan(10);

    // The restarted primary takes its database back (the dead writer's claim is taken over) and
    // continues the document's versions; replicas follow it.
    primary = await ChildServer.start(primaryEnv);
    const off = await call(primary.url, "PUT", "/admin/targets/small", { enabled: false }, true);
    expect(off.status).toBe(200);
    for (const r of replicas) {
      await until(async () =>
        (await rank(r, "python function to sort a list")).body.scores.every((s) => s.target !== "small"),
      );
      const now = (await call(r.url, "GET", "/readyz")).body as { document: { version: number } };
      expect(now.document.version).toBeGreaterThan(before.document.version);
    }
  }, 60_000);
});
