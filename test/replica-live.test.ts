import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../service/app.ts";
import type { ReplicaRunning } from "../service/replica.ts";
import {
  type RankBody,
  ranked,
  startReplica,
  startService,
  type TestService,
  TOPICS,
  tempDir,
} from "./support/harness.ts";

const live = process.env.QDRANT_URL;

/**
 * The replica path against a real Qdrant at QDRANT_URL (skipped otherwise): the evidence in the
 * payloads, the routing document, aliases and a replica's answers, through the public API only.
 */
describe.skipIf(!live)(
  `a primary and a replica on a live Qdrant at QDRANT_URL${live ? "" : " (skipped: QDRANT_URL is not set)"}`,
  () => {
    let primary: TestService;
    let replica: ReplicaRunning;
    let app: ReturnType<typeof createApp>;
    let tmp: ReturnType<typeof tempDir>;
    const collection = `live_replica_${Date.now()}`;

    beforeAll(async () => {
      tmp = tempDir();
      const shared = {
        QDRANT_URL: live as string,
        ...(process.env.QDRANT_API_KEY && { QDRANT_API_KEY: process.env.QDRANT_API_KEY }),
        VECTOR_STORE: "qdrant",
        QDRANT_COLLECTION: collection,
      };
      primary = await startService({ ...shared, DATABASE_PATH: `${tmp.dir}/router.db` });
      const examples = [
        ...TOPICS.code.map((text, i) => ({ id: `code-${i}`, text, scores: { big: 0.9, small: 0.3 } })),
        ...TOPICS.poetry.map((text, i) => ({ id: `poem-${i}`, text, scores: { big: 0.2, small: 0.8 } })),
      ];
      expect((await primary.addExamples(examples)).status).toBe(201);
      await primary.deps.publisher?.publishNow();
      replica = await startReplica(shared);
      app = createApp(replica);
    }, 60_000);

    afterAll(async () => {
      await replica?.close();
      await primary?.close();
      tmp?.remove();
    });

    const rank = async (body: unknown) => {
      const res = await app.request("/rank", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json()) as RankBody };
    };

    it("answers as the primary, and follows an update and a delete", async () => {
      for (const query of ["python function to sort a list", "a poem about the sea"]) {
        expect(ranked((await rank({ query, k: 3 })).body)).toEqual(
          ranked((await primary.rank({ query, k: 3 })).body),
        );
      }
      await primary.request("PATCH", "/admin/examples/code-0", { scores: { small: 0.99 } }, { admin: true });
      await primary.deps.publisher?.publishNow();
      await replica.follower.pollNow();
      const q = { query: TOPICS.code[0], k: 3 };
      expect(ranked((await rank(q)).body)).toEqual(ranked((await primary.rank(q)).body));
      await primary.request("DELETE", "/admin/examples/code-0", undefined, { admin: true });
      expect((await rank(q)).body.hits.map((h) => h.id)).not.toContain("code-0");
    });

    it("is ready with the primary's document version", async () => {
      await primary.deps.publisher?.publishNow();
      await replica.follower.pollNow();
      const res = await app.request("/readyz");
      expect(res.status).toBe(200);
      const body = (await res.json()) as { document: { version: number } };
      expect(body.document.version).toBe(primary.deps.publisher?.published);
    });
  },
);
