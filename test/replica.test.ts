import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../service/app.ts";
import { loadConfig } from "../service/config.ts";
import { AppError } from "../service/errors.ts";
import { createLogger } from "../service/logger.ts";
import { buildReplica, type ReplicaRunning } from "../service/replica.ts";
import {
  type ErrorBody,
  type RankBody,
  ranked,
  startReplica,
  startService,
  type TestService,
  TOPICS,
  tempDir,
} from "./support/harness.ts";
import { TestQdrant } from "./support/qdrant.ts";

const QUERIES = [
  { query: "python function to sort numbers", k: 4 },
  { query: "a poem about the sea", k: 3 },
  { query: "something else entirely", k: 6, category: "poetry" },
  { query: "reverse a list in python" },
];

const EXAMPLES = [
  ...TOPICS.code.map((text, i) => ({
    id: `code-${i}`,
    text,
    category: "code",
    scores: { big: 0.9, small: 0.5 + i / 10 },
  })),
  ...TOPICS.poetry.map((text, i) => ({
    id: `poem-${i}`,
    text,
    category: "poetry",
    scores: i === 0 ? { small: 0.8 } : { big: 0.4, small: 0.85 },
  })),
];

/** A replica (ROLE=replica) on the same Qdrant, built and served as `npm start` would. */
class Replica {
  readonly app;
  private constructor(readonly deps: ReplicaRunning) {
    this.app = createApp(deps);
  }
  static async start(env: Record<string, string>): Promise<Replica> {
    return new Replica(await startReplica(env));
  }
  request(method: string, path: string, body?: unknown) {
    return this.app.request(path, {
      method,
      ...(body !== undefined && {
        body: JSON.stringify(body),
        headers: { "content-type": "application/json" },
      }),
    });
  }
  async rank(body: unknown) {
    const res = await this.request("POST", "/rank", body);
    return { status: res.status, body: (await res.json()) as RankBody };
  }
  close() {
    return this.deps.close();
  }
}

async function answers(rank: (q: unknown) => Promise<{ status: number; body: RankBody }>) {
  const out: RankBody[] = [];
  for (const q of QUERIES) {
    const r = await rank(q);
    expect(r.status).toBe(200);
    out.push(ranked(r.body) as RankBody);
  }
  return out;
}

describe("ROLE=replica: stateless /rank from the primary's routing document and Qdrant", () => {
  let qdrant: TestQdrant;
  let tmp: ReturnType<typeof tempDir>;
  let primary: TestService | undefined;
  let replica: Replica | undefined;
  let n = 0;
  beforeAll(async () => {
    qdrant = await TestQdrant.start();
  });
  afterAll(async () => {
    await qdrant.stop();
  });
  afterEach(async () => {
    await replica?.close();
    await primary?.close();
    replica = undefined;
    primary = undefined;
    qdrant.fault = undefined;
    tmp?.remove();
  });

  const envs = () => {
    tmp = tempDir();
    const shared = {
      QDRANT_URL: qdrant.url,
      QDRANT_COLLECTION: qdrant.name(`replicated_${++n}`),
      REPLICA_POLL_MS: "60000",
    };
    return {
      primary: { ...shared, DATABASE_PATH: `${tmp.dir}/router.db`, VECTOR_STORE: "qdrant" },
      replica: { ...shared, PRIMARY_URL: "http://primary.internal:8888" },
    };
  };
  /** The primary publishes what changed, and the replica reads it (what the poll does every 2 s). */
  const follow = async () => {
    await primary?.deps.publisher?.publishNow();
    await replica?.deps.follower.pollNow();
  };

  it("is not ready before the primary published, saying why, and never crashes", async () => {
    const env = envs();
    replica = await Replica.start(env.replica);
    const ready = await replica.request("GET", "/readyz");
    expect(ready.status).toBe(503);
    const body = (await ready.json()) as { checks: Record<string, { ok: boolean; message?: string }> };
    expect(body.checks.document).toEqual({
      ok: false,
      message: "no routing document yet: the primary has not published one (is it running with this Qdrant?)",
    });
    const ranked = await replica.request("POST", "/rank", { query: "anything" });
    expect(ranked.status).toBe(503);
    expect(((await ranked.json()) as ErrorBody).error.code).toBe("NOT_READY");

    primary = await startService(env.primary);
    expect((await primary.addExamples(EXAMPLES)).status).toBe(201);
    await follow();
    const now = await replica.request("GET", "/readyz");
    expect(now.status).toBe(200);
    expect(((await now.json()) as { document: { version: number } }).document.version).toBeGreaterThan(0);
  });

  it("answers as the primary on the same data, and follows writes, updates, deletes and target switches", async () => {
    const env = envs();
    primary = await startService(env.primary);
    replica = await Replica.start(env.replica);
    expect((await primary.addExamples(EXAMPLES)).status).toBe(201);
    await follow();
    expect(await answers((q) => (replica as Replica).rank(q))).toEqual(
      await answers((q) => (primary as TestService).rank(q)),
    );

    // An update: the replica's hits carry the new scores at once (they travel with the vector).
    const patch = await primary.request(
      "PATCH",
      "/admin/examples/code-0",
      { scores: { big: 0.05 } },
      { admin: true },
    );
    expect(patch.status).toBe(200);
    const hit = async () => (await (replica as Replica).rank({ query: TOPICS.code[0], k: 1 })).body;
    expect((await hit()).hits[0]?.id).toBe("code-0");
    await follow();
    expect(await answers((q) => (replica as Replica).rank(q))).toEqual(
      await answers((q) => (primary as TestService).rank(q)),
    );

    // A delete disappears from the replica's hits at once.
    expect(
      (await primary.request("DELETE", "/admin/examples/code-0", undefined, { admin: true })).status,
    ).toBe(204);
    expect((await hit()).hits[0]?.id).not.toBe("code-0");

    // A target switched off on the primary is off on the replica once the document moves.
    const off = await primary.request("PUT", "/admin/targets/big", { enabled: false }, { admin: true });
    expect(off.status).toBe(200);
    await follow();
    const ranked = await replica.rank({ query: "python function to sort numbers" });
    expect(ranked.body.scores.map((s) => s.target)).toEqual(["small"]);
    expect(await answers((q) => (replica as Replica).rank(q))).toEqual(
      await answers((q) => (primary as TestService).rank(q)),
    );
  });

  it("refuses admin calls, naming the primary; reports its document in /readyz and /metrics", async () => {
    const env = envs();
    primary = await startService(env.primary);
    expect((await primary.addExamples(EXAMPLES)).status).toBe(201);
    await primary.deps.publisher?.publishNow();
    replica = await Replica.start(env.replica);
    for (const [method, path] of [
      ["POST", "/admin/examples"],
      ["GET", "/admin/settings"],
      ["DELETE", "/admin/examples/code-1"],
    ]) {
      const res = await replica.request(method as string, path as string, method === "POST" ? {} : undefined);
      expect(res.status).toBe(503);
      expect(((await res.json()) as ErrorBody).error).toMatchObject({
        code: "ADMIN_DISABLED",
        message:
          "this is a replica (ROLE=replica): send admin calls to the primary at http://primary.internal:8888",
      });
    }
    const ready = (await (await replica.request("GET", "/readyz")).json()) as {
      status: string;
      document: { version: number; age_seconds: number };
    };
    expect(ready.status).toBe("ready");
    expect(ready.document.version).toBe(primary.deps.publisher?.published);
    expect(ready.document.age_seconds).toBeLessThan(5);
    const metrics = await (await replica.request("GET", "/metrics")).text();
    expect(metrics).toMatch(new RegExp(`^router_routing_document_version ${ready.document.version}$`, "m"));
    expect(metrics).toMatch(/^router_routing_document_age_seconds \d/m);
  });

  it("keeps serving its last document while it cannot read, then is not ready past REPLICA_MAX_STALENESS_S", async () => {
    const env = envs();
    primary = await startService(env.primary);
    expect((await primary.addExamples(EXAMPLES)).status).toBe(201);
    await primary.close();
    primary = undefined;
    replica = await Replica.start({ ...env.replica, REPLICA_MAX_STALENESS_S: "1" });
    // The primary is gone: the replica serves from the document and Qdrant.
    expect((await replica.rank({ query: "a poem about the sea" })).status).toBe(200);
    expect((await replica.request("GET", "/readyz")).status).toBe(200);

    // Qdrant unreachable: /rank is a 503 with a retry hint (never a 500); past the bound, not ready.
    qdrant.fault = { status: 503 };
    const down = await replica.request("POST", "/rank", { query: "a poem about the sea" });
    expect(down.status).toBe(503);
    expect(down.headers.get("retry-after")).toMatch(/^\d+$/);
    await new Promise((r) => setTimeout(r, 1100));
    await replica.deps.follower.pollNow();
    const stale = (await (await replica.request("GET", "/readyz")).json()) as {
      checks: { document: { ok: boolean; message: string } };
    };
    expect(stale.checks.document.ok).toBe(false);
    expect(stale.checks.document.message).toMatch(
      /^routing document not read for \d+ s \(REPLICA_MAX_STALENESS_S=1\)/,
    );
    qdrant.fault = undefined;
    await replica.deps.follower.pollNow();
    expect((await replica.request("GET", "/readyz")).status).toBe(200);
  });

  it("reads the document again when its collection vanishes, and answers 503 (not 500) if it stays gone", async () => {
    const env = envs();
    primary = await startService(env.primary);
    expect((await primary.addExamples(EXAMPLES)).status).toBe(201);
    await primary.deps.publisher?.publishNow();
    replica = await Replica.start(env.replica);
    expect((await replica.rank({ query: "a poem about the sea" })).status).toBe(200);
    const before = qdrant.requests.length;
    await qdrant.lose(env.replica.QDRANT_COLLECTION);
    const res = await replica.request("POST", "/rank", { query: "a poem about the sea" });
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("2");
    expect(((await res.json()) as ErrorBody).error.code).toBe("VECTOR_STORE_UNAVAILABLE");
    // It read the document again between its two tries.
    const after = qdrant.requests.slice(before).map((r) => `${r.method} ${r.path}`);
    expect(after.filter((r) => r.endsWith("/points/query"))).toHaveLength(2);
    expect(after).toContain(`POST /collections/${env.replica.QDRANT_COLLECTION}-routing/points`);
  });

  it("holds no state: no database, no writes to Qdrant", async () => {
    const env = envs();
    primary = await startService(env.primary);
    expect((await primary.addExamples(EXAMPLES)).status).toBe(201);
    await primary.deps.publisher?.publishNow();
    const before = qdrant.requests.length;
    replica = await Replica.start({ ...env.replica, DATABASE_PATH: "/nonexistent/never-opened.db" });
    await answers((q) => (replica as Replica).rank(q));
    await replica.deps.follower.pollNow();
    const writes = qdrant.requests
      .slice(before)
      .filter(
        (r) =>
          r.method === "PUT" ||
          r.method === "DELETE" ||
          r.path.endsWith("/points/delete") ||
          r.path === "/collections/aliases",
      );
    expect(writes).toEqual([]);
  });

  it("without Qdrant, a replica does not start and says why (the process stays up, not ready)", async () => {
    const config = loadConfig({ ROLE: "replica", EMBEDDER: "hash", LOG_LEVEL: "silent" });
    const refused = await buildReplica(config, createLogger("silent")).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(AppError);
    expect(refused).toMatchObject({
      code: "NOT_READY",
      retryAfterSeconds: 30,
      message:
        "ROLE=replica needs VECTOR_STORE=qdrant (and QDRANT_URL), not embedded: a replica holds no state and reads everything from Qdrant",
    });
  });
});
