import { afterEach, describe, expect, it } from "vitest";
import { dominantCategory, type RankedTarget } from "../service/routing/aggregate.ts";
import { rng } from "../service/routing/crossval.ts";
import { explore, inverseNormal, posteriorSd } from "../service/routing/explore.ts";
import {
  type ErrorBody,
  FEEDBACK_TOKEN,
  type RankBody,
  SPLIT_EXAMPLES,
  startService,
  type TestService,
  TOPICS,
} from "./support/harness.ts";

const RANKED: RankedTarget[] = [
  { target: "strong", score: 0.8, support: 20, confidence: 1 },
  { target: "middling", score: 0.6, support: 20, confidence: 1 },
  { target: "new", score: 0.55, support: 0, confidence: 0 },
];
const top = (drawn: RankedTarget[]) => drawn[0]?.target ?? null;

describe("exploration: Thompson sampling capped at a share, with the policy's propensity", () => {
  it("gives a target no neighbour scored the whole prior spread, and a well-supported one little", () => {
    expect(posteriorSd({ score: 0.5, support: 0 })).toBeCloseTo(0.5, 10);
    expect(posteriorSd({ score: 0.5, support: 24 })).toBeCloseTo(0.1, 10);
    // p(1 − p) is floored: a score of 1 is not certain.
    expect(posteriorSd({ score: 1, support: 0 })).toBeCloseTo(0.1, 10);
  });

  it("narrows an unsupported target's posterior by the outcomes its prior rests on", () => {
    expect(posteriorSd({ score: 0.5, support: 0, priorOutcomes: 24 })).toBeCloseTo(0.1, 10);
  });

  it("is off at share 0: the greedy choice with propensity 1", () => {
    expect(explore(RANKED, "strong", top, { share: 0 })).toEqual({
      recommended: "strong",
      explored: false,
      propensity: 1,
      trial: false,
    });
  });

  it("explores at most the share, and each recommendation's propensity is how often the policy makes it", () => {
    const random = rng(7);
    const share = 0.3;
    const n = 8000;
    const seen = new Map<string, { count: number; propensity: number[] }>();
    let explored = 0;
    for (let i = 0; i < n; i++) {
      const e = explore(RANKED, "strong", top, { share, random });
      if (e.recommended === null) throw new Error("a target always qualifies here");
      if (e.explored) explored++;
      expect(e.explored).toBe(e.recommended !== "strong");
      const s = seen.get(e.recommended) ?? { count: 0, propensity: [] };
      s.count++;
      s.propensity.push(e.propensity);
      seen.set(e.recommended, s);
    }
    expect(explored / n).toBeLessThanOrEqual(share);
    // The new target (wide posterior) is tried; the middling one (narrow, 0.2 below) hardly ever.
    const tried = seen.get("new")?.count ?? 0;
    expect(tried / n).toBeGreaterThan(0.05);
    expect(seen.get("middling")?.count ?? 0).toBeLessThan(tried);
    // Propensities are estimates from 128 draws; their mean matches the observed frequency.
    for (const [target, s] of seen) {
      const mean = s.propensity.reduce((a, b) => a + b, 0) / s.propensity.length;
      expect(Math.abs(mean - s.count / n), target).toBeLessThan(0.025);
    }
  });

  it("draws posteriors as normals: a runner-up wins as often as the normal distribution says", () => {
    // Two targets; the runner-up's chance of drawing above the leader is Φ(−Δ / √(σa² + σb²)).
    const pair: RankedTarget[] = [
      { target: "a", score: 0.6, support: 3, confidence: 1 },
      { target: "b", score: 0.5, support: 3, confidence: 1 },
    ];
    const z =
      -(0.6 - 0.5) / Math.hypot(posteriorSd(pair[0] as RankedTarget), posteriorSd(pair[1] as RankedTarget));
    const expected = normalCdf(z);
    for (const random of [rng(11), Math.random]) {
      let sum = 0;
      const calls = 3000;
      for (let i = 0; i < calls; i++) {
        const e = explore(pair, "a", undefined, { share: 1, random });
        sum += e.recommended === "b" ? e.propensity : 1 - e.propensity;
      }
      // 384,000 draws in all: the standard error of the mean is below 0.001.
      expect(Math.abs(sum / calls - expected)).toBeLessThan(0.005);
    }
  });

  it("never recommends a target the objective excludes, even when exploring", () => {
    const random = rng(3);
    const cheapOnly = (drawn: RankedTarget[]) => drawn.find((t) => t.target !== "new")?.target ?? null;
    for (let i = 0; i < 2000; i++) {
      const e = explore(RANKED, "strong", cheapOnly, { share: 1, random });
      expect(e.recommended).not.toBe("new");
    }
    expect(explore(RANKED, null, top, { share: 1, random })).toEqual({
      recommended: null,
      explored: false,
      propensity: 0,
      trial: false,
    });
  });
});

interface Explored extends RankBody {
  recommended: string | null;
  exploration?: { explored: boolean; propensity: number };
  ranking_id: string;
}

const EXAMPLES = SPLIT_EXAMPLES;

describe("exploration and new targets through the API", () => {
  let svc: TestService | undefined;
  afterEach(async () => {
    await svc?.close();
    svc = undefined;
  });
  const rank = async (s: TestService, body: Record<string, unknown>) => {
    const res = await s.rank(body);
    expect(res.status).toBe(200);
    return res.body as Explored;
  };

  it("without EXPLORATION_SHARE answers as before: no recommendation without an objective, no exploration", async () => {
    svc = await startService();
    await svc.addExamples(EXAMPLES);
    const body = await rank(svc, { query: "sort a list in python", k: 3 });
    expect(body.recommended).toBeUndefined();
    expect(body.exploration).toBeUndefined();
  });

  it("with EXPLORATION_SHARE every answer recommends, says whether it explored and its propensity", async () => {
    svc = await startService({ EXPLORATION_SHARE: "0.5" });
    // Close scores: the runner-up's posterior overlaps the leader's, so it is tried now and then.
    await svc.addExamples(TOPICS.code.map((text) => ({ text, scores: { big: 0.7, small: 0.6 } })));
    let explored = 0;
    const n = 300;
    for (let i = 0; i < n; i++) {
      const body = await rank(svc, { query: "sort a list in python", k: 3 });
      const e = body.exploration;
      if (!e) throw new Error("exploration is on: every answer says so");
      expect(body.scores.map((s) => s.score)).toEqual(
        [...body.scores.map((s) => s.score)].sort((a, b) => b - a),
      );
      expect(body.recommended).toBe(e.explored ? "small" : "big");
      expect(e.propensity).toBeGreaterThan(0);
      expect(e.propensity).toBeLessThanOrEqual(1);
      if (!e.explored) expect(e.propensity).toBeGreaterThanOrEqual(0.5);
      if (e.explored) explored++;
    }
    // At most half explore (about a fifth here: "small" wins about 40% of the posterior draws).
    expect(explored).toBeGreaterThan(0);
    expect(explored / n).toBeLessThan(0.5);
  });

  it("keeps within an objective's price bound while exploring", async () => {
    svc = await startService({ EXPLORATION_SHARE: "1" });
    await svc.addExamples(EXAMPLES);
    await svc.request(
      "PUT",
      "/admin/targets/big",
      { input_price_per_mtok: 10, output_price_per_mtok: 10 },
      { admin: true },
    );
    await svc.request(
      "PUT",
      "/admin/targets/small",
      { input_price_per_mtok: 1, output_price_per_mtok: 1 },
      { admin: true },
    );
    for (let i = 0; i < 100; i++) {
      const body = await rank(svc, { query: "sort a list in python", k: 3, objective: { max_price: 5 } });
      expect(body.recommended).toBe("small");
      expect(body.exploration?.explored).toBe(false);
    }
  });

  it("creates a new target that /rank offers with support 0, exploration tries, and outcomes teach", async () => {
    svc = await startService({ EXPLORATION_SHARE: "0.5", FEEDBACK_TOKEN });
    await svc.addExamples(EXAMPLES);
    const created = await svc.request("PUT", "/admin/targets/newcomer", { enabled: true }, { admin: true });
    expect(created.status).toBe(201);
    // Its prior: the mean of the others' means, (0.6 + 0.6) / 2.
    expect(await created.json()).toMatchObject({
      name: "newcomer",
      enabled: true,
      prior_score: 0.6,
      examples: 0,
    });
    const again = await svc.request("PUT", "/admin/targets/newcomer", { prior_score: 0.7 }, { admin: true });
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ prior_score: 0.7 });

    const first = await rank(svc, { query: "sort a list in python", k: 3 });
    expect(first.scores.find((s) => s.target === "newcomer")).toMatchObject({ score: 0.7, support: 0 });
    let tried: Explored | undefined;
    for (let i = 0; i < 200 && !tried; i++) {
      const body = await rank(svc, { query: "sort a list in python", k: 3 });
      if (body.recommended === "newcomer") tried = body;
    }
    if (!tried) throw new Error("exploration never tried the new target in 200 rankings");
    expect(tried.exploration?.explored).toBe(true);
    const fed = await svc.request(
      "POST",
      "/feedback",
      { ranking_id: tried.ranking_id, target: "newcomer", score: 1 },
      { headers: { authorization: `Bearer ${FEEDBACK_TOKEN}` } },
    );
    expect(fed.status).toBe(200);
    const after = await rank(svc, { query: "sort a list in python", k: 3 });
    expect(after.scores.find((s) => s.target === "newcomer")).toMatchObject({ score: 1, support: 1 });

    // Switched off, it is neither offered nor tried.
    await svc.request("PUT", "/admin/targets/newcomer", { enabled: false }, { admin: true });
    for (let i = 0; i < 50; i++) {
      const body = await rank(svc, { query: "sort a list in python", k: 3 });
      expect(body.scores.map((s) => s.target)).not.toContain("newcomer");
      expect(body.recommended).not.toBe("newcomer");
    }
  });

  it("weighs an outcome by FEEDBACK_OUTCOME_WEIGHT, the recommendation's also by 1 / its propensity (capped)", async () => {
    svc = await startService({
      EXPLORATION_SHARE: "0.5",
      FEEDBACK_TOKEN,
      FEEDBACK_MAX_WEIGHT: "4",
      FEEDBACK_OUTCOME_WEIGHT: "0.8",
    });
    await svc.addExamples(EXAMPLES);
    expect(
      (await svc.request("PUT", "/admin/targets/newcomer", { enabled: true }, { admin: true })).status,
    ).toBe(201);
    const feed = async (body: Record<string, unknown>) => {
      const res = await svc?.request("POST", "/feedback", body, {
        headers: { authorization: `Bearer ${FEEDBACK_TOKEN}` },
      });
      expect(res?.status).toBe(200);
    };
    const example = async (rankingId: string) => {
      const res = await svc?.request("GET", `/admin/examples/feedback-${rankingId}`, undefined, {
        admin: true,
      });
      return (await res?.json()) as { scores: Record<string, number>; weights?: Record<string, number> };
    };
    let explored: Explored | undefined;
    let exploited: Explored | undefined;
    for (let i = 0; i < 300 && !(explored && exploited); i++) {
      const body = await rank(svc, { query: "sort a list in python", k: 3 });
      if (body.exploration?.explored) explored ??= body;
      else exploited ??= body;
    }
    if (!explored || !exploited) throw new Error("300 rankings neither explored and exploited");
    const tried = explored.recommended as string;
    const p = explored.exploration?.propensity as number;
    const other = explored.scores.find((s) => s.target !== tried)?.target as string;
    await feed({ ranking_id: explored.ranking_id, target: tried, score: 1 });
    await feed({ ranking_id: explored.ranking_id, target: other, score: 0.5 });
    // Explored: 0.8 / p, 1 / p at most FEEDBACK_MAX_WEIGHT; the target the caller chose itself: 0.8.
    // (The answer's propensity is rounded; the stored weight is from the exact one.)
    const outcome = await example(explored.ranking_id);
    expect(outcome.scores).toEqual({ [tried]: 1, [other]: 0.5 });
    expect(outcome.weights?.[tried]).toBeCloseTo(0.8 * Math.min(1 / p, 4), 2);
    expect(outcome.weights?.[other]).toBe(0.8);
    // Not explored: the greedy choice, with its probability (at least 1 - share).
    const q = exploited.exploration?.propensity as number;
    const greedy = exploited.recommended as string;
    await feed({ ranking_id: exploited.ranking_id, target: greedy, score: 0 });
    expect((await example(exploited.ranking_id)).weights?.[greedy]).toBeCloseTo(0.8 / q, 2);
    // An operator's PATCH of a score makes that score a label (weight 1); the others keep theirs.
    const patched = await svc.request(
      "PATCH",
      `/admin/examples/feedback-${explored.ranking_id}`,
      { scores: { [tried]: 0.9 } },
      { admin: true },
    );
    expect(patched.status).toBe(200);
    expect((await example(explored.ranking_id)).weights).toEqual({ [other]: 0.8 });
    // A PUT replaces the example whole: its scores are labels.
    const put = await svc.request(
      "PUT",
      `/admin/examples/feedback-${exploited.ranking_id}`,
      { text: "sort a list in python", scores: { [greedy]: 0 } },
      { admin: true },
    );
    expect(put.status).toBe(200);
    expect((await example(exploited.ranking_id)).weights).toBeUndefined();
  });

  it("offers a new target even with exploration off, and refuses a bad prior", async () => {
    svc = await startService();
    await svc.addExamples(EXAMPLES);
    const bad = await svc.request("PUT", "/admin/targets/newcomer", { prior_score: 2 }, { admin: true });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as ErrorBody).error.code).toBe("VALIDATION_FAILED");
    expect((await svc.request("GET", "/admin/targets", undefined, { admin: true })).status).toBe(200);
    const listed = (await (
      await svc.request("GET", "/admin/targets", undefined, { admin: true })
    ).json()) as { targets: Array<{ name: string }> };
    expect(listed.targets.map((t) => t.name)).not.toContain("newcomer");

    expect(
      (await svc.request("PUT", "/admin/targets/newcomer", { prior_score: 0.2 }, { admin: true })).status,
    ).toBe(201);
    const body = await rank(svc, { query: "sort a list in python", k: 3 });
    expect(body.scores.at(-1)).toMatchObject({ target: "newcomer", score: 0.2, support: 0, confidence: 0 });
    expect(body.recommended).toBeUndefined();
  });
});

describe("the category an outcome's example is filed under (dominantCategory)", () => {
  const n = (similarity: number, category: string | null) => ({
    id: `${similarity}`,
    similarity,
    category,
    scores: {},
  });
  it("is the plurality among categorised neighbours, even when it holds less than half", () => {
    // A small category (fewer examples than k) among others: 0.9 + 0.8 against 0.7 and 0.6 and 0.5.
    expect(
      dominantCategory([n(0.9, "code"), n(0.8, "code"), n(0.7, "math"), n(0.6, "chat"), n(0.5, "poetry")]),
    ).toBe("code");
  });
  it("is undefined on a tie, or when most of the weight has no category", () => {
    expect(dominantCategory([n(0.8, "code"), n(0.8, "math")])).toBeUndefined();
    expect(dominantCategory([n(0.9, null), n(0.8, null), n(0.3, "code")])).toBeUndefined();
    expect(dominantCategory([])).toBeUndefined();
  });
});

describe("the normal quantiles exploration draws from", () => {
  it("match known quantiles of the standard normal", () => {
    expect(inverseNormal(0.5)).toBeCloseTo(0, 9);
    expect(inverseNormal(0.975)).toBeCloseTo(1.959964, 6);
    expect(inverseNormal(0.025)).toBeCloseTo(-1.959964, 6);
    expect(inverseNormal(0.001)).toBeCloseTo(-3.090232, 6);
  });
});

/** The standard normal's distribution function (Abramowitz and Stegun 7.1.26, error below 1.5e-7). */
function normalCdf(z: number): number {
  const t = 1 / (1 + (0.3275911 * Math.abs(z)) / Math.SQRT2);
  const poly =
    t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  const erf = 1 - poly * Math.exp(-(z * z) / 2);
  return z >= 0 ? (1 + erf) / 2 : (1 - erf) / 2;
}
