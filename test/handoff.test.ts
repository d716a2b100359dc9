import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createLogger } from "../service/logger.ts";
import { RankingRelay } from "../service/replicas/relay.ts";
import {
  ADMIN_TOKEN,
  FEEDBACK_TOKEN,
  REPLICA_TOKEN,
  startService,
  type TestService,
  TOPICS,
} from "./support/harness.ts";

const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`;

/** A ranking as a replica hands it over, with `fields` changed. */
const ranking = (n: number, fields: Record<string, unknown> = {}) => ({
  id: id(n),
  created_at: new Date().toISOString(),
  query: "sort a list in python",
  targets: ["big", "small"],
  recommended: "big",
  propensity: 0.9,
  explored: false,
  uncertainty: 0,
  reasons: [],
  ...fields,
});

/**
 * The hand-over of a replica's rankings (POST /feedback/rankings): it takes the replica token (or the
 * admin token) only, and each ranking is held to the rules of a ranking the primary makes itself,
 * since an outcome on it writes an example. Every attack found from outside, tried again here.
 */
describe("handing rankings over to the primary", () => {
  let svc: TestService;
  beforeEach(async () => {
    svc = await startService({ FEEDBACK_TOKEN, REPLICA_TOKEN });
    const added = await svc.addExamples([
      ...TOPICS.code.map((text) => ({ text, scores: { big: 0.9, small: 0.3 } })),
      ...TOPICS.poetry.map((text) => ({ text, scores: { big: 0.3, small: 0.9 } })),
    ]);
    expect(added.status).toBe(201);
  });
  afterEach(() => svc.close());

  const handOver = (rankings: unknown[], token = REPLICA_TOKEN) =>
    svc.request(
      "POST",
      "/feedback/rankings",
      { rankings },
      { headers: { authorization: `Bearer ${token}` } },
    );
  const outcome = (rankingId: string, target: string, score = 1) =>
    svc.request(
      "POST",
      "/feedback",
      { ranking_id: rankingId, target, score },
      { headers: { authorization: `Bearer ${FEEDBACK_TOKEN}` } },
    );
  const targets = () => svc.deps.stores.targets.targetFlags().map((t) => t.name);

  it("takes the replica token and the admin token, never the feedback token", async () => {
    const byFeedback = await handOver([ranking(1)], FEEDBACK_TOKEN);
    expect(byFeedback.status).toBe(401);
    expect(((await byFeedback.json()) as { error: { code: string } }).error.code).toBe("UNAUTHORIZED");
    expect(svc.deps.stores.feedback.countRankings()).toBe(0);
    expect((await handOver([ranking(2)])).status).toBe(200);
    expect((await handOver([ranking(3)], ADMIN_TOKEN)).status).toBe(200);
    expect(svc.deps.stores.feedback.countRankings()).toBe(2);
  });

  it("refuses what the attack from outside got in: made-up targets, foreign ids, texts the example API refuses, times far off", async () => {
    const longAgo = new Date(Date.now() - 2 * 86_400_000).toISOString();
    const bad = [
      ranking(10, { targets: ["injected-target-x", "big"], recommended: "injected-target-x" }),
      ranking(11, { id: "victim-X" }),
      ranking(12, { id: "../../x" }),
      ranking(13, { id: "a b/c" }),
      ranking(14, { id: "été☃" }),
      ranking(15, { query: "" }),
      ranking(16, { query: "   " }),
      ranking(17, { query: "x".repeat(150_000) }),
      ranking(18, { created_at: "9999-12-31T00:00:00.000Z" }),
      ranking(19, { created_at: longAgo }),
      ranking(20, { propensity: 0 }),
      ranking(21, { propensity: 1.5 }),
      ranking(22, { recommended: "small", targets: ["big"] }),
      ranking(23, { targets: Array.from({ length: 1008 }, (_, i) => `t${i}`), recommended: "t0" }),
      ranking(24, { recommended: null }),
      ranking(25, { targets: ["big", "big"] }),
      ranking(26, { category: "x".repeat(201) }),
      ranking(27, { extra: true }),
      "not an object",
      null,
    ];
    const before = targets();
    const res = await handOver([...bad, ranking(99)]);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { kept: number; refused: Array<{ index: number; reason: string }> };
    expect(body.kept).toBe(1);
    expect(body.refused.map((r) => r.index)).toEqual(bad.map((_, i) => i));
    for (const r of body.refused) expect(r.reason.length).toBeGreaterThan(0);
    expect(body.refused[0]?.reason).toMatch(/unknown here: injected-target-x/);
    expect(body.refused[8]?.reason).toMatch(/ahead of this clock/);
    expect(targets()).toEqual(before);
    expect(svc.deps.stores.feedback.countRankings()).toBe(1);
    // Nothing refused can take an outcome: it was never kept.
    expect((await outcome(id(10), "injected-target-x")).status).toBe(404);
    expect((await outcome(id(99), "big")).status).toBe(200);
    expect(targets()).toEqual(before);
  });

  it("refuses a target that is disabled here", async () => {
    await svc.request("PUT", "/admin/targets/small", { enabled: false }, { admin: true });
    const res = await handOver([ranking(30)]);
    const body = (await res.json()) as { kept: number; refused: Array<{ reason: string }> };
    expect(body.kept).toBe(0);
    expect(body.refused[0]?.reason).toMatch(/disabled here: small/);
  });

  it("never lets an outcome overwrite an operator's example that has the outcome's id", async () => {
    const victim = `feedback-${id(40)}`;
    const put = await svc.request(
      "PUT",
      `/admin/examples/${victim}`,
      { text: "the operator's own example", scores: { big: 0.1, small: 0.2 } },
      { admin: true },
    );
    expect(put.status).toBe(201);
    expect((await handOver([ranking(40)])).status).toBe(200);
    const res = await outcome(id(40), "big", 1);
    expect(res.status).toBe(409);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("CONFLICT");
    const stored = svc.deps.stores.examples.get(victim);
    expect(stored).toMatchObject({ text: "the operator's own example", scores: { big: 0.1, small: 0.2 } });
    expect(stored?.origin).toBe("label");
  });

  it("marks the examples outcomes make as theirs, and an outcome updates its own example", async () => {
    expect((await handOver([ranking(50)])).status).toBe(200);
    expect((await outcome(id(50), "big", 1)).status).toBe(200);
    expect((await outcome(id(50), "small", 0)).status).toBe(200);
    const stored = svc.deps.stores.examples.get(`feedback-${id(50)}`);
    expect(stored?.origin).toBe("outcome");
    expect(stored?.scores).toEqual({ big: 1, small: 0 });
  });

  it("keeps a ranking handed over twice as it was first kept", async () => {
    expect((await handOver([ranking(60, { query: "first" })])).status).toBe(200);
    expect((await handOver([ranking(60, { query: "second" })])).status).toBe(200);
    expect(svc.deps.stores.feedback.ranking(id(60))?.query).toBe("first");
  });
});

/**
 * The replica's side: its relay through the generated client. A ranking the primary refuses is
 * dropped and counted, never resent, and never holds back the rankings after it.
 */
describe("the relay of a replica's rankings", () => {
  let primary: TestService;
  beforeEach(async () => {
    primary = await startService({ FEEDBACK_TOKEN, REPLICA_TOKEN });
    await primary.addExamples(TOPICS.code.map((text) => ({ text, scores: { big: 0.9, small: 0.3 } })));
  });
  afterEach(() => primary.close());

  /** A relay whose HTTP calls reach the in-process primary; `calls` counts them. */
  function relay(statusOverride?: () => number | undefined) {
    const results: Record<string, number> = { sent: 0, dropped: 0 };
    const calls: number[] = [];
    const r = new RankingRelay(createLogger("silent"), {
      primaryUrl: "http://primary.test",
      token: REPLICA_TOKEN,
      flushMs: 1_000_000,
      onResult: (result, n) => {
        results[result] = (results[result] ?? 0) + n;
      },
      fetch: async (input) => {
        const request = input as Request;
        const forced = statusOverride?.();
        const res = forced
          ? new Response(JSON.stringify({ error: { code: "X", message: "x", requestId: "r" } }), {
              status: forced,
              headers: { "content-type": "application/json" },
            })
          : await primary.app.request(request);
        calls.push(res.status);
        return res;
      },
    });
    return { relay: r, results, calls };
  }

  const keep = (r: RankingRelay, targets: string[], query = "sort a list in python") =>
    r.keep({ query, targets, recommended: targets[0], propensity: 1 });

  it("drops a refused ranking with a count and sends the good ones beside it", async () => {
    const { relay: r, results, calls } = relay();
    const good1 = keep(r, ["big", "small"]);
    const poisoned = keep(
      r,
      Array.from({ length: 1008 }, (_, i) => `t${i}`),
    );
    const bad = keep(r, ["injected-target-x"]);
    const good2 = keep(r, ["small", "big"]);
    await r.flush();
    expect(results).toEqual({ sent: 2, dropped: 2 });
    expect(r.waiting).toBe(0);
    expect(calls).toEqual([200]);
    const kept = (rid: string) => primary.deps.stores.feedback.ranking(rid) !== undefined;
    expect([good1, poisoned, bad, good2].map(kept)).toEqual([true, false, false, true]);
    // Nothing is sent again: the next flush has nothing to send.
    await r.flush();
    expect(calls).toEqual([200]);
    await r.close();
  });

  it("holds rankings while the primary cannot take them, then sends them", async () => {
    let down = true;
    const { relay: r, results, calls } = relay(() => (down ? 503 : undefined));
    const rid = keep(r, ["big", "small"]);
    await r.flush();
    expect(r.waiting).toBe(1);
    down = false;
    await r.flush();
    expect(calls).toEqual([503, 200]);
    expect(results).toEqual({ sent: 1, dropped: 0 });
    expect(primary.deps.stores.feedback.ranking(rid)).toBeDefined();
    await r.close();
  });

  it("drops a batch refused whole, and sends the next", async () => {
    let refuse = true;
    const { relay: r, results } = relay(() => (refuse ? 400 : undefined));
    keep(r, ["big"]);
    await r.flush();
    expect(results).toEqual({ sent: 0, dropped: 1 });
    refuse = false;
    const next = keep(r, ["big"]);
    await r.flush();
    expect(results).toEqual({ sent: 1, dropped: 1 });
    expect(primary.deps.stores.feedback.ranking(next)).toBeDefined();
    await r.close();
  });
});
