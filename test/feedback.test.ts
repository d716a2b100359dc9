import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  type ErrorBody,
  FEEDBACK_TOKEN,
  type RankBody,
  SPLIT_EXAMPLES,
  startService,
  type TestService,
  TOPICS,
  tempDir,
} from "./support/harness.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const EXAMPLES = SPLIT_EXAMPLES;

interface Recorded {
  ranking_id: string;
  target: string;
  score: number;
  example_id: string;
}

describe("outcomes on the router's own rankings (POST /feedback)", () => {
  let svc: TestService | undefined;
  let tmp: ReturnType<typeof tempDir> | undefined;
  afterEach(async () => {
    await svc?.close();
    svc = undefined;
    tmp?.remove();
    tmp = undefined;
  });

  const feedback = (s: TestService, body: unknown, token = FEEDBACK_TOKEN) =>
    s.request("POST", "/feedback", body, { headers: { authorization: `Bearer ${token}` } });
  const rank = async (s: TestService, query: string) =>
    (await s.rank({ query, k: 3 })).body as RankBody & { ranking_id: string };

  it("gives every ranking an id, and keeps nothing without FEEDBACK_TOKEN", async () => {
    svc = await startService();
    expect((await svc.addExamples(EXAMPLES)).status).toBe(201);
    const ranked = await rank(svc, "sort a list in python");
    expect(ranked.ranking_id).toMatch(UUID);
    svc.deps.feedback?.flush();
    expect(svc.deps.stores.feedback.countRankings()).toBe(0);
    const res = await feedback(svc, { ranking_id: ranked.ranking_id, target: "big", score: 1 });
    expect(res.status).toBe(503);
    expect(((await res.json()) as ErrorBody).error.code).toBe("FEEDBACK_DISABLED");
  });

  it("turns an outcome into a labelled example the next ranks learn from; a repeat replaces it", async () => {
    svc = await startService({ FEEDBACK_TOKEN });
    expect((await svc.addExamples(EXAMPLES)).status).toBe(201);
    const prompt = "write a limerick about a sorting algorithm";
    const ranked = await rank(svc, prompt);

    const first = await feedback(svc, { ranking_id: ranked.ranking_id, target: "small", score: 0.2 });
    expect(first.status).toBe(200);
    const recorded = (await first.json()) as Recorded;
    expect(recorded).toMatchObject({ ranking_id: ranked.ranking_id, target: "small", score: 0.2 });
    const service = svc;
    const example = async () =>
      (await (
        await service.request("GET", `/admin/examples/${recorded.example_id}`, undefined, { admin: true })
      ).json()) as {
        text: string;
        scores: Record<string, number>;
      };
    expect(await example()).toMatchObject({ text: prompt, scores: { small: 0.2 } });

    // The same target again replaces; another target adds; the admin token works too.
    expect((await feedback(svc, { ranking_id: ranked.ranking_id, target: "small", score: 0.4 })).status).toBe(
      200,
    );
    const admin = svc.config.admin.token as string;
    expect(
      (await feedback(svc, { ranking_id: ranked.ranking_id, target: "big", score: 1 }, admin)).status,
    ).toBe(200);
    expect((await example()).scores).toEqual({ small: 0.4, big: 1 });
    expect(svc.deps.stores.examples.countExamples()).toBe(EXAMPLES.length + 1);

    // The prompt is now its own nearest neighbour, with the observed scores.
    const again = await rank(svc, prompt);
    expect(again.hits[0]).toMatchObject({ id: recorded.example_id, similarity: 1 });
  });

  it("files an outcome's example under the caller's category, else the one most neighbours share", async () => {
    svc = await startService({ FEEDBACK_TOKEN });
    const filed = [
      ...TOPICS.code.map((text) => ({ text, category: "coding", scores: { big: 0.9, small: 0.3 } })),
      ...TOPICS.poetry.map((text) => ({ text, category: "poetry", scores: { big: 0.3, small: 0.9 } })),
    ];
    expect((await svc.addExamples(filed)).status).toBe(201);
    const inferred = await rank(svc, TOPICS.code[0] as string);
    const given = (await svc.rank({ query: TOPICS.code[1], k: 3, category: "support" })).body as RankBody & {
      ranking_id: string;
    };
    for (const r of [inferred, given]) {
      expect((await feedback(svc, { ranking_id: r.ranking_id, target: "big", score: 1 })).status).toBe(200);
    }
    expect(svc.deps.stores.examples.get(`feedback-${inferred.ranking_id}`)?.category).toBe("coding");
    expect(svc.deps.stores.examples.get(`feedback-${given.ranking_id}`)?.category).toBe("support");
  });

  it("refuses bad feedback with a 4xx naming the field, and changes nothing", async () => {
    svc = await startService({ FEEDBACK_TOKEN });
    expect((await svc.addExamples(EXAMPLES)).status).toBe(201);
    const ranked = await rank(svc, "sort a list in python");
    const cases: Array<[unknown, number, string, string]> = [
      [{ ranking_id: "no-such-ranking", target: "big", score: 1 }, 404, "NOT_FOUND", "ranking_id"],
      [{ ranking_id: ranked.ranking_id, target: "gpt-9", score: 1 }, 400, "VALIDATION_FAILED", "target"],
      [{ ranking_id: ranked.ranking_id, target: "big", score: 1.5 }, 400, "VALIDATION_FAILED", "score"],
      [{ ranking_id: ranked.ranking_id, target: "big", score: "good" }, 400, "VALIDATION_FAILED", "score"],
      [{ ranking_id: ranked.ranking_id, target: "big" }, 400, "VALIDATION_FAILED", "score"],
      [{ ranking_id: ranked.ranking_id, target: "big", score: 1, extra: true }, 400, "VALIDATION_FAILED", ""],
    ];
    const before = svc.deps.stores.examples.countExamples();
    for (const [body, status, code, field] of cases) {
      const res = await feedback(svc, body);
      expect(res.status, JSON.stringify(body)).toBe(status);
      const error = ((await res.json()) as ErrorBody).error;
      expect(error.code).toBe(code);
      if (field) expect(error.details?.map((d) => d.path)).toContain(field);
    }
    const wrong = await feedback(
      svc,
      { ranking_id: ranked.ranking_id, target: "big", score: 1 },
      "not-the-token-at-all",
    );
    expect(wrong.status).toBe(401);
    expect(svc.deps.stores.examples.countExamples()).toBe(before);
  });

  it("forgets rankings past FEEDBACK_WINDOW_S, and keeps outcomes and rankings across a restart", async () => {
    tmp = tempDir();
    const env = { FEEDBACK_TOKEN, FEEDBACK_WINDOW_S: "1", DATABASE_PATH: join(tmp.dir, "router.db") };
    svc = await startService(env);
    expect((await svc.addExamples(EXAMPLES)).status).toBe(201);
    const old = await rank(svc, "sort a list in python");
    const kept = await rank(svc, "a poem about the sea");
    expect((await feedback(svc, { ranking_id: kept.ranking_id, target: "small", score: 1 })).status).toBe(
      200,
    );
    await svc.close();
    svc = await startService({ ...env, FEEDBACK_WINDOW_S: "3600" });
    // After the restart: the outcome is there, and the ranking still takes more.
    expect(svc.deps.stores.examples.get(`feedback-${kept.ranking_id}`)?.scores).toEqual({ small: 1 });
    expect((await feedback(svc, { ranking_id: kept.ranking_id, target: "big", score: 0 })).status).toBe(200);
    await svc.close();
    svc = await startService(env);
    await new Promise((r) => setTimeout(r, 1100));
    const expired = await feedback(svc, { ranking_id: old.ranking_id, target: "big", score: 1 });
    expect(expired.status).toBe(404);
  });
});
