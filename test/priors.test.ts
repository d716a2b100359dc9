import { describe, expect, it } from "vitest";
import {
  rankTargets,
  type ScoredNeighbour,
  type TargetStats,
  withUnsupported,
} from "../service/routing/aggregate.ts";
import {
  ADVANTAGE_PRIOR_SD,
  CATEGORY_ADVANTAGE_SD,
  categoryAdvantage,
  labelBaselines,
  NOISE_PRIOR,
  NOISE_PRIOR_WEIGHT,
  outcomeBaseline,
  overallAdvantage,
  QueryPriors,
  residualNoise,
} from "../service/routing/priors.ts";

const plain = { power: 1, shrinkage: 0, prior: "category" as const, minSimilarity: 0, minSupport: 1 };
const enabled = (...names: string[]) => names.map((name) => ({ name, enabled: true }));
const label = (id: string, similarity: number, scores: Record<string, number>): ScoredNeighbour => ({
  id,
  similarity,
  category: null,
  scores,
});

describe("what scores are read against", () => {
  it("reads a label against the mean of its example's other scores", () => {
    const b = labelBaselines({ a: 0.9, b: 0.3, c: 0.6 });
    expect(Object.keys(b)).toEqual(["a", "b", "c"]);
    expect(b.a).toBeCloseTo(0.45, 12);
    expect(b.b).toBeCloseTo(0.75, 12);
    expect(b.c).toBeCloseTo(0.6, 12);
    // Alone on its example, a label has nothing to be read against.
    expect(labelBaselines({ a: 0.9 })).toEqual({});
  });

  it("reads an outcome against the ranking's predictions for the other targets", () => {
    expect(outcomeBaseline({ a: 0.8, b: 0.4, c: 0.6 }, "a")).toBeCloseTo(0.5, 12);
    expect(outcomeBaseline({ a: 0.8 }, "a")).toBeUndefined();
    expect(outcomeBaseline({ b: 0.4 }, "new")).toBe(0.4);
  });
});

describe("an outcome among the neighbours, read against its baseline", () => {
  it("counts as its advantage there on this query's baseline: hand-computed", () => {
    // Two labelled neighbours score `old`; one outcome scores `new` 0.7 where the router predicted 0.5
    // for the others. At this query `old`'s label estimate is (0.8·0.6 + 0.4·0.7) / 1.2, which is
    // `new`'s baseline here; the outcome counts 0.7 − 0.5 + that.
    const neighbours: ScoredNeighbour[] = [
      label("l1", 0.8, { old: 0.6 }),
      label("l2", 0.4, { old: 0.7 }),
      {
        id: "o1",
        similarity: 0.6,
        category: null,
        scores: { new: 0.7 },
        weights: { new: 0.5 },
        baselines: { new: 0.5 },
      },
    ];
    const oldEstimate = (0.8 * 0.6 + 0.4 * 0.7) / 1.2;
    const ranked = rankTargets(neighbours, enabled("old", "new"), { settings: plain });
    expect(ranked.find((r) => r.target === "old")?.score).toBeCloseTo(oldEstimate, 12);
    expect(ranked.find((r) => r.target === "new")?.score).toBeCloseTo(0.7 - 0.5 + oldEstimate, 12);
    // Read as it is (no baseline), the same outcome would be 0.7 whatever the query.
    const raw = rankTargets(
      neighbours.map((n) => ({ ...n, baselines: undefined })),
      enabled("old", "new"),
      { settings: plain },
    );
    expect(raw.find((r) => r.target === "new")?.score).toBeCloseTo(0.7, 12);
  });

  it("cancels a prompt's difficulty: two outcomes on prompts of different difficulty say the same", () => {
    // `new` scored 0.3 on a hard prompt (others predicted 0.1) and 0.9 on an easy one (others 0.7):
    // the same advantage, 0.2, whichever neighbour is nearer.
    const at = (hardSimilarity: number) =>
      rankTargets(
        [
          label("l", 0.9, { old: 0.5 }),
          {
            id: "hard",
            similarity: hardSimilarity,
            category: null,
            scores: { new: 0.3 },
            baselines: { new: 0.1 },
          },
          {
            id: "easy",
            similarity: 1 - hardSimilarity,
            category: null,
            scores: { new: 0.9 },
            baselines: { new: 0.7 },
          },
        ],
        enabled("old", "new"),
        { settings: plain },
      ).find((r) => r.target === "new")?.score;
    expect(at(0.9)).toBeCloseTo(0.7, 12);
    expect(at(0.1)).toBeCloseTo(0.7, 12);
  });
});

describe("a new target's prior: its advantage over the others, not pseudo-outcomes", () => {
  const residual = (sum: number, n: number, sq = sum * sum) => ({ sum, weight: n, n, sq });
  const stats = (residuals: TargetStats["residuals"]): TargetStats => ({
    overall: { old: 0.6 },
    byCategory: new Map([
      ["code", { old: 0.7 }],
      ["poetry", { old: 0.5 }],
    ]),
    counts: {
      overall: { old: 100 },
      byCategory: new Map([
        ["code", { old: 50 }],
        ["poetry", { old: 50 }],
      ]),
    },
    ...(residuals && { residuals }),
  });

  it("starts at the query's baseline, with no weight of evidence: its posterior is as wide as it gets", () => {
    const s = stats(undefined);
    const q = new QueryPriors(
      [label("l", 0.9, { old: 0.7 })],
      s,
      { ...plain, shrinkage: 2 },
      new Set(["old", "new"]),
      undefined,
    );
    // Its baseline is `old`'s label estimate here: (0.9·0.7 + 2·0.6) / 2.9.
    const base = (0.9 * 0.7 + 2 * 0.6) / 2.9;
    expect(q.prior("new")).toEqual({ mean: base, weight: 0 });
    const [added] = withUnsupported(
      [],
      [],
      enabled("old", "new").map((t) => ({ ...t, priorScore: 0.6 })),
      s,
      {
        all: false,
        priors: q,
      },
    ).filter((r) => r.target === "new");
    expect(added?.priorOutcomes).toBe(0);
  });

  it("moves with its first outcomes, per category, shrunk by how noisy they are", () => {
    // Three outcomes in code, each 0.3 above the others, perfectly quiet: noise (0 + 1·0.1) / (3 + 1).
    const s = stats({
      overall: { new: residual(0.9, 3, 0.27) },
      byCategory: new Map([["code", { new: residual(0.9, 3, 0.27) }]]),
    });
    const noise = (0 + NOISE_PRIOR_WEIGHT * NOISE_PRIOR) / (3 + NOISE_PRIOR_WEIGHT);
    expect(residualNoise(s, "new")).toBeCloseTo(noise, 12);
    const k0 = noise / ADVANTAGE_PRIOR_SD ** 2;
    const kc = noise / CATEGORY_ADVANTAGE_SD ** 2;
    const overall = 0.9 / (3 + k0);
    expect(overallAdvantage(s, "new")).toBeCloseTo(overall, 12);
    expect(categoryAdvantage(s, "new", "code", overall)).toBeCloseTo((0.9 + kc * overall) / (3 + kc), 12);
    // Where it has no outcomes, its overall advantage.
    expect(categoryAdvantage(s, "new", "poetry", overall)).toBeCloseTo(overall, 12);
    // At a code query (the caller's category): code's baseline plus code's advantage.
    const q = new QueryPriors([], s, plain, new Set(["old", "new"]), "code");
    expect(q.prior("new")?.mean).toBeCloseTo(0.7 + (0.9 + kc * overall) / (3 + kc), 12);
    // Three quiet outcomes put it clearly above the target it beat, where a prior of 10
    // pseudo-outcomes at the field mean would have held it at (3·1 + 10·0.6) / 13.
    expect(q.prior("new")?.mean as number).toBeGreaterThan(0.9);
  });

  it("starts from an operator's prior score over the field, held loosely", () => {
    const s = stats(undefined);
    const q = new QueryPriors([], s, plain, new Set(["old", "new"]), "code", (t) => (t === "new" ? 0.2 : 0));
    // No outcomes: the prior advantage itself, on code's baseline.
    expect(q.prior("new")?.mean).toBeCloseTo(0.7 + 0.2, 12);
  });
});
