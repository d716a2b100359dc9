import { afterEach, describe, expect, it } from "vitest";
import { BT_PSEUDO_GAMES, rankTargets, type ScoredNeighbour } from "../service/routing/aggregate.ts";
import {
  type ErrorBody,
  FEEDBACK_TOKEN,
  type RankBody,
  SPLIT_EXAMPLES,
  startService,
  type TestService,
  TOPICS,
} from "./support/harness.ts";

const TARGETS = ["a", "b", "c"].map((name) => ({ name, enabled: true }));
const neighbour = (similarity: number, n: Partial<ScoredNeighbour>): ScoredNeighbour => ({
  id: `n${similarity}`,
  similarity,
  category: null,
  scores: {},
  ...n,
});

describe("preferences as evidence: a similarity-weighted Bradley-Terry fit", () => {
  it("matches the hand-computed two-target case", () => {
    // a beat b on a neighbour of similarity 0.9; b beat a on one of 0.3 (power 1).
    // With one pseudo-game split evenly, p_a / (p_a + p_b) = (0.9 + 0.5) / (1.2 + 1) = 0.63636...
    expect(BT_PSEUDO_GAMES).toBe(1);
    const ranked = rankTargets(
      [
        neighbour(0.9, { preferences: [["a", "b", 1, 1]] }),
        neighbour(0.3, { preferences: [["a", "b", 0, 1]] }),
      ],
      TARGETS,
    );
    expect(ranked.map((r) => r.target)).toEqual(["a", "b"]);
    expect(ranked[0]?.score).toBeCloseTo(1.4 / 2.2, 9);
    expect(ranked[1]?.score).toBeCloseTo(0.8 / 2.2, 9);
    expect(ranked[0]?.support).toBe(2);
    // Weight of a's games 1.2: confidence 1.2 / (1.2 + 1).
    expect(ranked[0]?.confidence).toBeCloseTo(1.2 / 2.2, 9);
  });

  it("matches the hand-computed three-target chain: the MLE equations hold", () => {
    // a > b twice, b > c twice (weight 1 each); a and c never met. Strengths solve, for each target,
    // wins + half a pseudo-win per opponent = Σ (games + 1) · p_i / (p_i + p_j).
    const ranked = rankTargets(
      [
        neighbour(1, {
          preferences: [
            ["a", "b", 2, 2],
            ["b", "c", 2, 2],
          ],
        }),
      ],
      TARGETS,
    );
    expect(ranked.map((r) => r.target)).toEqual(["a", "b", "c"]);
    // Symmetry: b is in the middle, so its chance against the field is 1/2, and a's and c's add to 1.
    const score = Object.fromEntries(ranked.map((r) => [r.target, r.score]));
    expect(score.b).toBeCloseTo(0.5, 9);
    expect((score.a as number) + (score.c as number)).toBeCloseTo(1, 9);
    // Recover the strengths from the scores' pairwise odds and check a's likelihood equation.
    // With p_b = 1 and p_c = 1 / p_a (symmetry), a's equation: 2 + 1 = 3·p/(p+1) + 1·p/(p+1/p).
    const p = solve((x) => 3 * (x / (x + 1)) + x / (x + 1 / x) - 3);
    const field = (x: number, others: number[]) =>
      others.reduce((s, o) => s + x / (x + o), 0) / others.length;
    expect(score.a).toBeCloseTo(field(p, [1, 1 / p]), 6);
  });

  it("combines score evidence with preferences in one fit", () => {
    // One neighbour scored a 1 and b 0 (one game a wins), another says b beat a (one game).
    const ranked = rankTargets(
      [neighbour(1, { scores: { a: 1, b: 0 } }), neighbour(1, { preferences: [["a", "b", 0, 1]] })],
      TARGETS,
    );
    // One win each (plus half a pseudo-win): even.
    expect(ranked[0]?.score).toBeCloseTo(0.5, 9);
    expect(ranked[1]?.score).toBeCloseTo(0.5, 9);
  });

  it("leaves score-only neighbourhoods to the plain weighted mean", () => {
    const ranked = rankTargets([neighbour(1, { scores: { a: 0.9, b: 0.1 } })], TARGETS);
    expect(ranked.map((r) => [r.target, r.score])).toEqual([
      ["a", 0.9],
      ["b", 0.1],
    ]);
  });
});

const EXAMPLES = SPLIT_EXAMPLES;

interface Ranked extends RankBody {
  ranking_id: string;
}

describe("preferences through the API: arena import and preference outcomes", () => {
  let svc: TestService | undefined;
  afterEach(async () => {
    await svc?.close();
    svc = undefined;
  });

  it("imports arena battles as comparisons, one example a prompt, and ranks by them", async () => {
    svc = await startService();
    const battles = TOPICS.code.flatMap((text) => [
      { text, model_a: "big", model_b: "small", winner: "model_a" },
      { text, model_a: "small", model_b: "big", winner: "model_b" },
      { text, model_a: "big", model_b: "small", winner: "tie" },
    ]);
    const res = await svc.importArena(battles);
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ imported: TOPICS.code.length });
    const body = (await svc.rank({ query: TOPICS.code[0], k: 3 })).body as Ranked;
    expect(body.scores.map((s) => s.target)).toEqual(["big", "small"]);
    // Each prompt: big won 2.5 of 3 games; three neighbours of similarity ≈ 1 (one exactly 1).
    expect(body.scores[0]?.score).toBeGreaterThan(0.7);
    expect(body.scores[0]?.support).toBe(3);
  });

  it("takes battles as multipart part `battles`, and says so when it is missing", async () => {
    svc = await startService();
    const form = new FormData();
    form.set(
      "battles",
      new Blob([JSON.stringify({ text: "hi", model_a: "big", model_b: "small", winner: "tie" })]),
    );
    expect((await svc.request("POST", "/admin/import?format=arena", form, { admin: true })).status).toBe(201);
    const wrong = new FormData();
    wrong.set("examples", new Blob([JSON.stringify({ text: "hi", scores: { big: 1 } })]));
    const res = await svc.request("POST", "/admin/import?format=arena", wrong, { admin: true });
    expect(res.status).toBe(400);
    expect(((await res.json()) as ErrorBody).error.message).toContain("part `battles`");
  });

  it("refuses bad battles naming the line, and imports nothing", async () => {
    svc = await startService();
    const res = await svc.importArena([
      { text: "fine", model_a: "big", model_b: "small", winner: "model_a" },
      { text: "same model", model_a: "big", model_b: "big", winner: "tie" },
      { text: "bad winner", model_a: "big", model_b: "small", winner: "both" },
      { text: "", model_a: "big", model_b: "small", winner: "tie" },
    ]);
    expect(res.status).toBe(400);
    const body = (await res.json()) as ErrorBody;
    expect(body.error.code).toBe("VALIDATION_FAILED");
    const paths = (body.error.details ?? []).map((d) => d.path);
    expect(paths).toEqual(
      expect.arrayContaining(["battles:2.model_b", "battles:3.winner", "battles:4.text"]),
    );
    const listed = (await (
      await svc.request("GET", "/admin/examples", undefined, { admin: true })
    ).json()) as {
      examples: unknown[];
    };
    expect(listed.examples).toEqual([]);
  });

  it("takes a preference outcome as a comparison on the ranking's example; a reversed repeat replaces it", async () => {
    svc = await startService({ FEEDBACK_TOKEN });
    await svc.addExamples(EXAMPLES);
    const prompt = "write a limerick about a sorting algorithm";
    const ranked = (await svc.rank({ query: prompt, k: 3 })).body as Ranked;
    const feedback = (body: unknown) =>
      svc?.request("POST", "/feedback", body, { headers: { authorization: `Bearer ${FEEDBACK_TOKEN}` } });

    const first = await feedback({ ranking_id: ranked.ranking_id, preferred: "small", over: "big" });
    expect(first?.status).toBe(200);
    expect(await first?.json()).toMatchObject({
      preferred: "small",
      over: "big",
      tie: false,
      status: "accepted",
      example_id: `feedback-${ranked.ranking_id}`,
    });
    const evidence = () => svc?.deps.stores.examples.evidence([`feedback-${ranked.ranking_id}`]);
    expect(evidence()?.get(`feedback-${ranked.ranking_id}`)?.preferences).toEqual([["big", "small", 0, 1]]);
    // The same pair the other way round replaces it; a tie is half a win.
    expect(
      (await feedback({ ranking_id: ranked.ranking_id, preferred: "big", over: "small", tie: true }))?.status,
    ).toBe(200);
    expect(evidence()?.get(`feedback-${ranked.ranking_id}`)?.preferences).toEqual([["big", "small", 0.5, 1]]);
    // A score on the same ranking joins it in the example.
    expect((await feedback({ ranking_id: ranked.ranking_id, target: "big", score: 0.4 }))?.status).toBe(200);
    expect(evidence()?.get(`feedback-${ranked.ranking_id}`)).toMatchObject({
      scores: { big: 0.4 },
      preferences: [["big", "small", 0.5, 1]],
    });
  });

  it.each([
    [{ preferred: "big" }, "over"],
    [{ preferred: "big", over: "big" }, "over"],
    [{ preferred: "big", over: "ghost" }, "over"],
    [{ preferred: "big", over: "small", target: "big", score: 1 }, "target"],
    [{ preferred: "big", over: "small", tie: "yes" }, "tie"],
  ])("refuses the preference %j naming %s, and changes nothing", async (extra, path) => {
    svc = await startService({ FEEDBACK_TOKEN });
    await svc.addExamples(EXAMPLES);
    const ranked = (await svc.rank({ query: "write a limerick", k: 3 })).body as Ranked;
    const res = await svc.request(
      "POST",
      "/feedback",
      { ranking_id: ranked.ranking_id, ...extra },
      { headers: { authorization: `Bearer ${FEEDBACK_TOKEN}` } },
    );
    expect(res.status).toBe(400);
    const body = (await res.json()) as ErrorBody;
    expect(body.error.code).toBe("VALIDATION_FAILED");
    expect((body.error.details ?? []).map((d) => d.path)).toContain(path);
    expect(svc.deps.stores.examples.get(`feedback-${ranked.ranking_id}`)).toBeUndefined();
  });
});

/** The root of an increasing function on (0, 100) by bisection. */
function solve(f: (x: number) => number): number {
  let lo = 1e-6;
  let hi = 100;
  for (let i = 0; i < 200; i++) {
    const mid = (lo + hi) / 2;
    if (f(mid) > 0) hi = mid;
    else lo = mid;
  }
  return (lo + hi) / 2;
}

describe("comparisons on the admin API", () => {
  let svc: TestService | undefined;
  afterEach(async () => {
    await svc?.close();
    svc = undefined;
  });

  it("shows an example's comparisons, keeps them through a PATCH, and a PUT replaces them", async () => {
    svc = await startService();
    const battles = [
      { text: "tell me a joke", model_a: "big", model_b: "small", winner: "model_b" },
      { text: "tell me a joke", model_a: "small", model_b: "big", winner: "tie" },
    ];
    const res = await svc.importArena(battles);
    expect(res.status).toBe(201);
    const [id] = [...svc.deps.stores.examples.idsByText(["tell me a joke"]).values()];
    const get = async () =>
      (await (await svc?.request("GET", `/admin/examples/${id}`, undefined, { admin: true }))?.json()) as {
        scores: Record<string, number>;
        preferences?: unknown[];
      };
    expect(await get()).toMatchObject({
      scores: {},
      preferences: [{ target_a: "big", target_b: "small", a_wins: 0.5, games: 2 }],
    });
    // A PATCH of its text alone keeps them (it has no scores, and needs none: it has comparisons).
    const patched = await svc.request(
      "PATCH",
      `/admin/examples/${id}`,
      { text: "tell me a good joke" },
      { admin: true },
    );
    expect(patched.status).toBe(200);
    expect((await get()).preferences).toHaveLength(1);
    // A PUT replaces the example whole.
    const put = await svc.request(
      "PUT",
      `/admin/examples/${id}`,
      { text: "tell me a joke", scores: { big: 0.4 } },
      { admin: true },
    );
    expect(put.status).toBe(200);
    const replaced = await get();
    expect(replaced.scores).toEqual({ big: 0.4 });
    expect(replaced.preferences).toBeUndefined();
  });
});
