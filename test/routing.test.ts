import { describe, expect, it } from "vitest";
import { truncateForModel, wordSpans } from "../service/embedding/truncate.ts";
import {
  DEFAULT_MAX_OUTCOME_WEIGHT,
  DEFAULT_OUTCOME_WEIGHT,
  outcomeWeight,
} from "../service/learning/weighting.ts";
import {
  DEFAULT_SETTINGS,
  fallbackReason,
  knnRouterScores,
  rankByPriors,
  rankTargets,
  type ScoredNeighbour,
  type TargetStats,
} from "../service/routing/aggregate.ts";
import { choose } from "../service/routing/objective.ts";

const n = (id: string, similarity: number, scores: Record<string, number>): ScoredNeighbour => ({
  id,
  similarity,
  category: null,
  scores,
});
const enabled = (...names: string[]) => names.map((name) => ({ name, enabled: true }));

describe("knnRouterScores", () => {
  it("divides by every hit's similarity, counting a hit that does not score a target as 0", () => {
    const scores = knnRouterScores(
      [n("a", 0.6, { politics: 1 }), n("b", 0.5, { politics: 1 }), n("c", 0.4, { chitchat: 1 })],
      enabled("politics", "chitchat"),
    );
    expect(scores).toEqual([
      { target: "politics", score: Math.round((1.1 / 1.5) * 100) / 100 },
      { target: "chitchat", score: Math.round((0.4 / 1.5) * 100) / 100 },
    ]);
  });

  it("weighs by raw similarity, negative ones too, and leaves disabled targets out", () => {
    const scores = knnRouterScores(
      [n("a", 0.8, { x: 1, off: 1 }), n("b", -0.2, { x: 0.5, y: 1 })],
      [...enabled("x", "y"), { name: "off", enabled: false }],
    );
    expect(scores).toEqual([
      { target: "x", score: Math.round(((0.8 - 0.1) / 0.6) * 100) / 100 },
      { target: "y", score: Math.round((-0.2 / 0.6) * 100) / 100 },
    ]);
  });

  it("answers no scores when there are no hits or their similarities sum to 0", () => {
    expect(knnRouterScores([], enabled("x"))).toEqual([]);
    expect(knnRouterScores([n("a", 0.5, { x: 1 }), n("b", -0.5, { x: 1 })], enabled("x"))).toEqual([]);
  });
});

describe("rankTargets", () => {
  it("takes the similarity-weighted mean over the neighbours that scored each target", () => {
    const ranked = rankTargets(
      [n("a", 0.9, { x: 1, y: 0 }), n("b", 0.3, { x: 0 }), n("c", 0.6, { y: 1 })],
      enabled("x", "y"),
    );
    expect(ranked).toEqual([
      { target: "x", score: 0.9 / 1.2, support: 2, confidence: 1 },
      { target: "y", score: 0.6 / 1.5, support: 2, confidence: 1 },
    ]);
  });

  it("gives negative similarities no weight, and falls back to the plain mean when no weight is left", () => {
    const ranked = rankTargets([n("a", -0.5, { x: 1, y: 0.2 }), n("b", 0.5, { x: 0 })], enabled("x", "y"));
    expect(ranked).toEqual([
      { target: "y", score: 0.2, support: 1, confidence: 0 },
      { target: "x", score: 0, support: 2, confidence: 1 },
    ]);
  });

  it("leaves out disabled targets, targets outside `only`, and targets nobody scored", () => {
    const targets = [...enabled("x", "y"), { name: "z", enabled: false }, ...enabled("w")];
    const neighbours = [n("a", 1, { x: 0.5, y: 0.6, z: 1 })];
    expect(rankTargets(neighbours, targets).map((r) => r.target)).toEqual(["y", "x"]);
    expect(rankTargets(neighbours, targets, { only: ["x", "z"] }).map((r) => r.target)).toEqual(["x"]);
  });

  it("breaks ties on support, then on name", () => {
    const ranked = rankTargets(
      [n("a", 1, { b: 0.5, a: 0.5, c: 0.5 }), n("b", 1, { c: 0.5 })],
      enabled("a", "b", "c"),
    );
    expect(ranked.map((r) => r.target)).toEqual(["c", "a", "b"]);
  });

  it("returns an empty list for no neighbours", () => {
    expect(rankTargets([], enabled("x"))).toEqual([]);
  });

  it("counts a score with its weight: an outcome on an explored recommendation stands for 1 / propensity prompts", () => {
    // a: a label for x (weight 1); b: an outcome for x on a recommendation made with probability 0.25.
    const neighbours = [n("a", 0.5, { x: 1, y: 0.5 }), { ...n("b", 0.5, { x: 0 }), weights: { x: 4 } }];
    const [y, x] = rankTargets(neighbours, enabled("x", "y"));
    expect(x).toEqual({
      target: "x",
      score: (0.5 * 1 + 0.5 * 4 * 0) / (0.5 + 0.5 * 4),
      support: 2,
      confidence: 1,
    });
    expect(y).toEqual({ target: "y", score: 0.5, support: 1, confidence: 1 });
    // With shrinkage, the weight also counts against the prior: (Σ w s + λ p) / (Σ w + λ).
    const stats: TargetStats = { overall: { x: 0.5, y: 0.5 }, byCategory: new Map() };
    const settings = { power: 1, shrinkage: 1, prior: "overall" as const, minSimilarity: 0, minSupport: 1 };
    const shrunk = rankTargets(neighbours, enabled("x", "y"), { settings, stats });
    expect(shrunk.find((r) => r.target === "x")).toEqual({
      target: "x",
      score: (0.5 + 0.5) / (2.5 + 1),
      support: 2,
      confidence: 2.5 / 3.5,
    });
  });
});

describe("outcomeWeight", () => {
  const ranking = { recommended: "x", propensity: 0.2 };
  it("counts an outcome half a label by default, with no propensity weighting", () => {
    expect(DEFAULT_OUTCOME_WEIGHT).toBe(0.5);
    expect(DEFAULT_MAX_OUTCOME_WEIGHT).toBe(1);
    expect(outcomeWeight(ranking, "x")).toBe(0.5);
    expect(outcomeWeight(ranking, "y")).toBe(0.5);
  });
  it("with a cap above 1, multiplies the recommended target's by 1 / the policy's probability, capped", () => {
    expect(outcomeWeight(ranking, "x", 10, 1)).toBeCloseTo(5, 12);
    expect(outcomeWeight(ranking, "x", 3, 1)).toBe(3);
    expect(outcomeWeight(ranking, "x", 10, 0.5)).toBeCloseTo(2.5, 12);
    expect(outcomeWeight({ recommended: "x", propensity: 0.8 }, "x", 10, 1)).toBeCloseTo(1.25, 12);
  });
  it("leaves a target the caller chose instead, a sure recommendation, or none at the base weight", () => {
    expect(outcomeWeight(ranking, "y", 10, 0.3)).toBe(0.3);
    expect(outcomeWeight({ recommended: "x", propensity: 1 }, "x", 10, 0.3)).toBe(0.3);
    expect(outcomeWeight({ recommended: null, propensity: null }, "x", 10, 0.3)).toBe(0.3);
    expect(outcomeWeight({ recommended: "x", propensity: 0 }, "x", 10, 1)).toBe(1);
  });
});

describe("shrinkage toward priors", () => {
  const stats: TargetStats = {
    overall: { x: 0.5, y: 0.5 },
    byCategory: new Map([["maths", { x: 0.9, y: 0.2 }]]),
  };
  const base = { power: 1, minSimilarity: 0, minSupport: 1 };

  it("pulls thin evidence toward the neighbours' category means, and says how much", () => {
    const near = [{ ...n("a", 1, { x: 0, y: 1 }), category: "maths" }];
    const [y, x] = rankTargets(near, enabled("x", "y"), {
      settings: { ...base, shrinkage: 1, prior: "category" },
      stats,
    });
    expect(y).toEqual({ target: "y", score: (1 + 0.2) / 2, support: 1, confidence: 0.5 });
    expect(x).toEqual({ target: "x", score: (0 + 0.9) / 2, support: 1, confidence: 0.5 });
    const overall = rankTargets(near, enabled("x", "y"), {
      settings: { ...base, shrinkage: 1, prior: "overall" },
      stats,
    });
    expect(overall.map((r) => r.score)).toEqual([0.75, 0.25]);
  });

  it("lets strong evidence win: more weight, less pull", () => {
    const many = Array.from({ length: 20 }, (_, i) => ({ ...n(`a${i}`, 1, { x: 0 }), category: "maths" }));
    const [x] = rankTargets(many, enabled("x"), {
      settings: { ...base, shrinkage: 1, prior: "category" },
      stats,
    });
    expect(x?.score).toBeCloseTo(0.9 / 21, 10);
    expect(x?.confidence).toBeCloseTo(20 / 21, 10);
  });

  it("sharpens toward the nearest with a higher power", () => {
    const near = [n("a", 0.9, { x: 1 }), n("b", 0.3, { x: 0 })];
    const p1 = rankTargets(near, enabled("x"), { settings: { ...base, shrinkage: 0, prior: "overall" } });
    const p4 = rankTargets(near, enabled("x"), {
      settings: { ...base, power: 4, shrinkage: 0, prior: "overall" },
    });
    expect(p4[0]?.score).toBeGreaterThan(p1[0]?.score as number);
  });

  it("ranks by overall means when falling back", () => {
    expect(rankByPriors(enabled("x", "y"), { overall: { x: 0.3, y: 0.6 }, byCategory: new Map() })).toEqual([
      { target: "y", score: 0.6, support: 0, confidence: 0 },
      { target: "x", score: 0.3, support: 0, confidence: 0 },
    ]);
  });
});

describe("fallback", () => {
  const near = [n("a", 0.9, { x: 1 }), n("b", 0.6, { x: 0 }), n("c", 0.2, { x: 0 })];

  it("falls back when no neighbour reaches the similarity floor, or too few do", () => {
    expect(fallbackReason(near, DEFAULT_SETTINGS)).toBeUndefined();
    expect(fallbackReason(near, { ...DEFAULT_SETTINGS, minSimilarity: 0.95 })).toBe(
      "closest example has similarity 0.900, below the floor of 0.95",
    );
    expect(fallbackReason(near, { ...DEFAULT_SETTINGS, minSimilarity: 0.5, minSupport: 2 })).toBeUndefined();
    expect(fallbackReason(near, { ...DEFAULT_SETTINGS, minSimilarity: 0.5, minSupport: 3 })).toBe(
      "2 neighbours reach the similarity floor of 0.5, fewer than the 3 required",
    );
    // Asking for 2 neighbours asks for no more than 2 to reach the floor.
    expect(
      fallbackReason(near, { ...DEFAULT_SETTINGS, minSimilarity: 0.5, minSupport: 3 }, 2),
    ).toBeUndefined();
    // An empty store has nothing to fall back on.
    expect(fallbackReason([], { ...DEFAULT_SETTINGS, minSupport: 5 })).toBeUndefined();
  });

  it("puts the operator's default target first when it is eligible", () => {
    const stats: TargetStats = { overall: { x: 0.3, y: 0.6, z: 0.5 }, byCategory: new Map() };
    const order = (o: Parameters<typeof rankByPriors>[2]) =>
      rankByPriors(enabled("x", "y", "z"), stats, o).map((r) => r.target);
    expect(order({})).toEqual(["y", "z", "x"]);
    expect(order({ preferred: "x" })).toEqual(["x", "y", "z"]);
    expect(order({ preferred: "x", only: ["y", "z"] })).toEqual(["y", "z"]);
    expect(order({ preferred: "nobody" })).toEqual(["y", "z", "x"]);
    const [first] = rankByPriors(enabled("x", "y", "z"), stats, { preferred: "x" });
    expect(first).toEqual({ target: "x", score: 0.3, support: 0, confidence: 0 });
  });
});

describe("the caller's category", () => {
  const stats: TargetStats = {
    overall: { x: 0.5, y: 0.5, z: 0.4 },
    byCategory: new Map([
      ["maths", { x: 0.9, y: 0.2 }],
      ["poetry", { x: 0.1, y: 0.8 }],
    ]),
  };
  const settings = { power: 1, shrinkage: 1, minSimilarity: 0, minSupport: 1 };
  // One neighbour from poetry: without a hint its category is the prior.
  const near = [{ ...n("a", 1, { x: 0, y: 1, z: 1 }), category: "poetry" }];

  it("replaces the neighbours' categories as the prior, whatever the settings' prior", () => {
    for (const prior of ["category", "overall"] as const) {
      const ranked = rankTargets(near, enabled("x", "y", "z"), {
        settings: { ...settings, prior },
        stats,
        category: "maths",
      });
      // x: (0 + 0.9) / 2; y: (1 + 0.2) / 2; z has no maths mean, so its overall mean: (1 + 0.4) / 2.
      expect(Object.fromEntries(ranked.map((r) => [r.target, r.score]))).toEqual({
        x: 0.45,
        y: 0.6,
        z: 0.7,
      });
    }
    const unhinted = rankTargets(near, enabled("x", "y"), {
      settings: { ...settings, prior: "category" },
      stats,
    });
    expect(unhinted.map((r) => r.score)).toEqual([0.9, 0.05]);
  });

  it("changes nothing when no example has that category, or without shrinkage", () => {
    const opts = { settings: { ...settings, prior: "category" as const }, stats };
    expect(rankTargets(near, enabled("x", "y"), { ...opts, category: "law" })).toEqual(
      rankTargets(near, enabled("x", "y"), opts),
    );
    const plain = { ...settings, shrinkage: 0, prior: "category" as const };
    expect(rankTargets(near, enabled("x", "y"), { settings: plain, stats, category: "maths" })).toEqual(
      rankTargets(near, enabled("x", "y"), { settings: plain, stats }),
    );
  });

  it("ranks by that category's means when falling back, overall when it is unknown", () => {
    expect(rankByPriors(enabled("x", "y"), stats, { category: "maths" }).map((r) => r.target)).toEqual([
      "x",
      "y",
    ]);
    expect(rankByPriors(enabled("x", "y"), stats, { category: "poetry" }).map((r) => r.score)).toEqual([
      0.8, 0.1,
    ]);
    expect(rankByPriors(enabled("x", "y"), stats, { category: "law" }).map((r) => r.score)).toEqual([
      0.5, 0.5,
    ]);
  });
});

describe("cost-aware choice", () => {
  const ranked = [
    { target: "big", score: 0.9, support: 5, confidence: 1 },
    { target: "mid", score: 0.85, support: 5, confidence: 1 },
    { target: "small", score: 0.6, support: 5, confidence: 1 },
    { target: "unpriced", score: 0.55, support: 5, confidence: 1 },
  ];
  const prices = new Map([
    ["big", { inputPricePerMtok: 10, outputPricePerMtok: 30 }],
    ["mid", { inputPricePerMtok: 1, outputPricePerMtok: 3 }],
    ["small", { inputPricePerMtok: 0.1, outputPricePerMtok: 0.1 }],
    ["unpriced", { inputPricePerMtok: null, outputPricePerMtok: null }],
  ]);

  it("prices each target with a blended price", () => {
    const { scores } = choose(ranked, prices, { maxPrice: 100 });
    expect(scores.map((s) => s.price)).toEqual([20, 2, 0.1, null]);
    expect(choose(ranked, prices, { maxPrice: 100, outputShare: 1 }).scores[0]?.price).toBe(30);
  });

  it("with a willingness to pay, recommends the best utility and can order by it", () => {
    const rich = choose(ranked, prices, { willingnessToPay: 1000 });
    expect(rich.recommended).toBe("big");
    const thrifty = choose(ranked, prices, { willingnessToPay: 10, order: "utility" });
    expect(thrifty.recommended).toBe("mid");
    expect(thrifty.scores.map((s) => s.target)).toEqual(["mid", "small", "big", "unpriced"]);
    expect(thrifty.scores[0]?.utility).toBeCloseTo(0.85 - 2 / 10, 10);
  });

  it("with a max price, recommends the best target at or under it; none when nothing fits", () => {
    expect(choose(ranked, prices, { maxPrice: 2 }).recommended).toBe("mid");
    expect(choose(ranked, prices, { maxPrice: 0.05 }).recommended).toBeNull();
  });

  it("with a quality tolerance, recommends the cheapest target close enough to the best", () => {
    expect(choose(ranked, prices, { qualityTolerance: 0.05 }).recommended).toBe("mid");
    expect(choose(ranked, prices, { qualityTolerance: 0.4 }).recommended).toBe("small");
    expect(choose(ranked, prices, { qualityTolerance: 0 }).recommended).toBe("big");
  });
});

describe("truncation on word-based tokens", () => {
  const truncate = (t: string, n: number, s: 1 | 2 | 3 | 4) => truncateForModel(t, n, s, wordSpans);
  const text = "one two three four five six seven eight";
  it("leaves a text within the limit alone", async () => {
    expect(await truncate(text, 8, 3)).toBe(text);
  });
  it("1 drops the head", async () => expect(await truncate(text, 3, 1)).toBe("six seven eight"));
  it("2 drops the tail", async () => expect(await truncate(text, 3, 2)).toBe("one two three"));
  it("3 drops the middle", async () => expect(await truncate(text, 4, 3)).toBe("one two seven eight"));
  it("4 drops both ends", async () => expect(await truncate(text, 4, 4)).toBe("three four five six"));
  it("keeps the original spacing inside a kept span", async () => {
    expect(await truncate("a  b\nc d e", 3, 2)).toBe("a  b\nc");
  });
});

describe("target statistics cache", () => {
  it("reads once between writes, again after a write, and again when the copy is older than its ttl", async () => {
    const { TargetStatsCache } = await import("../service/core/target-stats.ts");
    let calls = 0;
    const store = {
      targetStats: () => ({ overall: { x: ++calls }, byCategory: new Map() }),
    } as unknown as ConstructorParameters<typeof TargetStatsCache>[0];
    const cache = new TargetStatsCache(store, 50);
    expect(cache.get().overall).toEqual({ x: 1 });
    expect(cache.get().overall).toEqual({ x: 1 });
    cache.invalidate();
    expect(cache.get().overall).toEqual({ x: 2 });
    await new Promise((r) => setTimeout(r, 60));
    expect(cache.get().overall).toEqual({ x: 3 });
    expect(calls).toBe(3);
  });
});
