import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChildServer } from "./support/child-server.ts";
import { ADMIN_TOKEN, FEEDBACK_TOKEN, type RankBody, REPLICA_TOKEN, TOPICS } from "./support/harness.ts";
import { call, until } from "./support/http.ts";
import { TestQdrant } from "./support/qdrant.ts";

const COMMON = {
  EMBEDDER: "hash",
  VECTOR_STORE: "qdrant",
  QDRANT_COLLECTION: "relay",
  REPLICA_POLL_MS: "200",
  FEEDBACK_TOKEN,
  REPLICA_TOKEN,
  EXPLORATION_SHARE: "0.5",
};

/** A ranking as a replica hands it over, with `fields` changed. */
const handedOver = (fields: Record<string, unknown>) => ({
  created_at: new Date().toISOString(),
  query: "q",
  targets: ["big"],
  recommended: "big",
  propensity: 1,
  explored: false,
  uncertainty: 0,
  reasons: [],
  ...fields,
});

interface Ranked extends RankBody {
  ranking_id: string;
  recommended: string;
  exploration: { explored: boolean; propensity: number };
}

/**
 * Outcomes on rankings a replica served: the replica (no database) hands each ranking to the
 * primary, which then takes outcomes on it as on its own. Primary and replica are separate processes.
 */
describe("outcomes on a replica's rankings, across processes", () => {
  let qdrant: TestQdrant;
  let primary: ChildServer;
  let replica: ChildServer;
  const dirs: string[] = [];

  beforeAll(async () => {
    qdrant = await TestQdrant.start();
    const dir = mkdtempSync(join(tmpdir(), "relay-primary-"));
    dirs.push(dir);
    primary = await ChildServer.start({
      ...COMMON,
      QDRANT_URL: qdrant.url,
      QDRANT_COLLECTION: qdrant.name("relay"),
      DATABASE_PATH: join(dir, "router.db"),
      ADMIN_TOKEN,
      SEED_ON_EMPTY: "false",
      TUNING: "off",
    });
    const added = await call(
      primary.url,
      "POST",
      "/admin/examples",
      {
        examples: [
          ...TOPICS.code.map((text) => ({ text, scores: { big: 0.7, small: 0.6 } })),
          ...TOPICS.poetry.map((text) => ({ text, scores: { big: 0.3, small: 0.9 } })),
        ],
      },
      true,
    );
    expect(added.status).toBe(201);
    replica = await ChildServer.start({
      ...COMMON,
      QDRANT_URL: qdrant.url,
      QDRANT_COLLECTION: qdrant.name("relay"),
      ROLE: "replica",
      PRIMARY_URL: primary.url,
    });
    await until(async () => (await call(replica.url, "GET", "/readyz")).status === 200);
  }, 60_000);

  afterAll(async () => {
    replica?.kill("SIGTERM");
    primary?.kill("SIGTERM");
    await Promise.all([replica?.exit(), primary?.exit()]);
    await qdrant.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it("takes a score and a preference on a ranking the replica served, with its propensity kept", async () => {
    const ranked = await call(replica.url, "POST", "/rank", { query: "sort a list in python", k: 3 });
    expect(ranked.status).toBe(200);
    const body = ranked.body as unknown as Ranked;
    expect(body.exploration.propensity).toBeGreaterThan(0);
    // The relay sends within about 100 ms; until then the primary does not know the ranking.
    await until(
      async () =>
        (
          await call(
            primary.url,
            "POST",
            "/feedback",
            { ranking_id: body.ranking_id, target: body.recommended, score: 1 },
            FEEDBACK_TOKEN,
          )
        ).status === 200,
      5000,
    );
    const pref = await call(
      primary.url,
      "POST",
      "/feedback",
      { ranking_id: body.ranking_id, preferred: "small", over: "big" },
      FEEDBACK_TOKEN,
    );
    expect(pref.status).toBe(200);
    expect(pref.body).toMatchObject({ status: "accepted", example_id: `feedback-${body.ranking_id}` });
    // The primary kept the replica's ranking as it was served: offered targets, choice, propensity.
    const db = new Database(join(dirs[0] as string, "router.db"), { readonly: true });
    try {
      const row = db
        .prepare("select targets, recommended, propensity, explored from rankings where id = ?")
        .get(body.ranking_id) as {
        targets: string;
        recommended: string;
        propensity: number;
        explored: number;
      };
      expect(JSON.parse(row.targets)).toEqual(body.scores.map((s) => s.target));
      expect(row.recommended).toBe(body.recommended);
      expect(row.propensity).toBeCloseTo(body.exploration.propensity, 3);
      expect(row.explored === 1).toBe(body.exploration.explored);
    } finally {
      db.close();
    }
    // A target the replica's ranking did not offer is refused by the primary, naming the field.
    const bad = await call(
      primary.url,
      "POST",
      "/feedback",
      { ranking_id: body.ranking_id, target: "gpt-9", score: 1 },
      FEEDBACK_TOKEN,
    );
    expect(bad.status).toBe(400);
    // The outcome's example reaches the replica through Qdrant: the prompt is its own neighbour now.
    await until(async () => {
      const again = await call(replica.url, "POST", "/rank", { query: "sort a list in python", k: 1 });
      return (again.body as unknown as RankBody).hits[0]?.id === `feedback-${body.ranking_id}`;
    });
  });

  it("refuses a handed-over ranking with a bad field, naming it, and keeps the good one beside it", async () => {
    const good = "4a2b6c8d-1e3f-4a5b-8c7d-9e0f1a2b3c4d";
    const res = await call(
      primary.url,
      "POST",
      "/feedback/rankings",
      {
        rankings: [
          handedOver({ id: "5b3c7d9e-2f4a-4b6c-9d8e-0f1a2b3c4d5e", created_at: "yesterday" }),
          handedOver({ id: good }),
        ],
      },
      REPLICA_TOKEN,
    );
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ kept: 1, refused: [{ index: 0 }] });
    expect(JSON.stringify(res.body)).toContain("created_at");
    const kept = await call(
      primary.url,
      "POST",
      "/feedback",
      { ranking_id: good, target: "big", score: 1 },
      FEEDBACK_TOKEN,
    );
    expect(kept.status).toBe(200);
  });

  it("refuses a hand-over with the feedback token or none: it takes the replica token only", async () => {
    const forgedId = "6c4d8e0f-3a5b-4c7d-8e9f-1a2b3c4d5e6f";
    for (const token of [FEEDBACK_TOKEN, "not-the-token-at-all-0123"]) {
      const res = await call(
        primary.url,
        "POST",
        "/feedback/rankings",
        { rankings: [handedOver({ id: forgedId })] },
        token,
      );
      expect(res.status).toBe(401);
    }
    const forged = await call(
      primary.url,
      "POST",
      "/feedback",
      { ranking_id: forgedId, target: "big", score: 1 },
      FEEDBACK_TOKEN,
    );
    expect(forged.status).toBe(404);
  });
});
