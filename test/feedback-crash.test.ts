import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase } from "../service/store/database.ts";
import { ExampleStore } from "../service/store/example-store.ts";
import { ChildServer } from "./support/child-server.ts";
import { ADMIN_TOKEN, TOPICS, tempDir } from "./support/harness.ts";
import { call } from "./support/http.ts";

const FEEDBACK_TOKEN = "crash-feedback-token-0123456789";

/**
 * Outcomes sent continuously to the real server, which is killed with SIGKILL mid-stream: every
 * outcome it acknowledged is in SQLite afterwards, as a score or a comparison of its ranking's
 * example.
 */
describe("kill -9 while outcomes arrive", () => {
  let tmp: ReturnType<typeof tempDir>;
  let server: ChildServer | undefined;
  beforeAll(() => {
    tmp = tempDir();
  });
  afterAll(() => {
    server?.kill("SIGKILL");
    tmp.remove();
  });

  it("loses no acknowledged outcome", async () => {
    const env = {
      DATABASE_PATH: join(tmp.dir, "router.db"),
      ADMIN_TOKEN,
      FEEDBACK_TOKEN,
      EMBEDDER: "hash",
      SEED_ON_EMPTY: "false",
      TUNING: "off",
    };
    server = await ChildServer.start(env);
    const url = server.url;
    const examples = TOPICS.code.map((text) => ({ text, scores: { big: 0.9, small: 0.2 } }));
    expect((await call(url, "POST", "/admin/examples", { examples }, true)).status).toBe(201);

    const acked = new Map<string, Record<string, number>>();
    const preferred = new Map<string, unknown[]>();
    let stop = false;
    const stream = (async () => {
      for (let i = 0; !stop; i++) {
        try {
          const ranked = await call(url, "POST", "/rank", { query: `question ${i} about sorting lists` });
          const rankingId = ranked.body.ranking_id as string;
          const target = i % 2 ? "big" : "small";
          const score = (i % 10) / 10;
          const res = await call(
            url,
            "POST",
            "/feedback",
            { ranking_id: rankingId, target, score },
            FEEDBACK_TOKEN,
          );
          if (res.status === 200) acked.set(res.body.example_id as string, { [target]: score });
          // Every third ranking also gets a preference: small over big, on the same example.
          if (res.status === 200 && i % 3 === 0) {
            const pref = await call(
              url,
              "POST",
              "/feedback",
              { ranking_id: rankingId, preferred: "small", over: "big" },
              FEEDBACK_TOKEN,
            );
            if (pref.status === 200) preferred.set(pref.body.example_id as string, [["big", "small", 0, 1]]);
          }
        } catch {
          return; // the server is gone: this outcome was never acknowledged
        }
      }
    })();
    await new Promise((r) => setTimeout(r, 1_500));
    server.kill("SIGKILL");
    await server.exit();
    stop = true;
    await stream;
    server = undefined;

    expect(acked.size).toBeGreaterThan(5);
    expect(preferred.size).toBeGreaterThan(1);
    const db = openDatabase(env.DATABASE_PATH);
    try {
      const store = new ExampleStore(db.db);
      for (const [id, scores] of acked) expect(store.get(id)?.scores, id).toEqual(scores);
      for (const [id, pairs] of preferred) expect(store.get(id)?.preferences, id).toEqual(pairs);
    } finally {
      db.sqlite.close();
    }
  }, 60_000);
});
