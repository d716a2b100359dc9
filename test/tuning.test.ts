import { describe, expect, it } from "vitest";
import { normalize } from "../service/embedding/embedder.ts";
import { rng } from "../service/routing/crossval.ts";
import { labelBaselines } from "../service/routing/priors.ts";
import {
  crossValidate,
  fallbackShare,
  MAX_FALLBACK_SHARE,
  SAFE_CHOICE,
  tune,
} from "../service/routing/tuning.ts";

const DIM = 32;
const TARGETS = { large: 10, medium: 3, small: 0.5, tiny: 0.1 };

/**
 * Items around `topics` centres. With `signal`, which target answers well depends on the topic
 * (each topic has a target it favours); without, every score is drawn independently of the vector.
 */
function items(n: number, topics: number, signal: boolean, seed: number) {
  const next = rng(seed);
  const centres = Array.from({ length: topics }, () =>
    Float32Array.from({ length: DIM }, () => next() * 2 - 1),
  );
  const names = Object.keys(TARGETS);
  const base: Record<string, number> = { large: 0.8, medium: 0.65, small: 0.5, tiny: 0.35 };
  const out = [];
  const vectors = [];
  for (let i = 0; i < n; i++) {
    const topic = i % topics;
    const centre = centres[topic] as Float32Array;
    vectors.push(normalize(centre.map((x) => x + (next() * 2 - 1) * 0.3)));
    const scores: Record<string, number> = {};
    for (const t of names) {
      const favoured = signal && names[topic % names.length] === t;
      const p = favoured ? 0.95 : signal ? (base[t] as number) * 0.6 : (base[t] as number);
      scores[t] = next() < p ? 1 : 0;
    }
    out.push({ category: null, scores });
  }
  return { items: out, vectors, tokens: out.map(() => 200 + Math.floor(next() * 400)) };
}

describe("self-tuning's search over settings (cross-validated)", () => {
  it.each([
    [300, 3],
    [300, 11],
    [600, 13],
  ])(
    "on %i examples whose neighbours carry no signal (seed %i), never routes below the best single model",
    async (n, seed) => {
      const data = items(n, 8, false, seed);
      const result = await tune({ ...data, prices: TARGETS });
      expect(result.metric).toBe("aiq");
      expect(result.baselines.oracle).toBeGreaterThan(result.baselines.bestSingle as number);
      expect(result.curves?.router.length).toBeGreaterThan(1);
      // Judged on folds it was not chosen on: whatever was chosen is no worse than the best single
      // model per budget, nor than the safe settings (to the resolution of the sweep).
      const fresh = await crossValidate({ ...data, prices: TARGETS, seed: 99 }, [result.best, SAFE_CHOICE]);
      const [chosen, safe] = fresh.values as [number, number];
      expect(chosen).toBeGreaterThanOrEqual((fresh.bestSingle as number) - 0.005);
      expect(chosen).toBeGreaterThanOrEqual(safe - 0.01);
    },
  );

  it("keeps the safe settings themselves when no candidate beats them on a second split", async () => {
    const result = await tune({ ...items(400, 8, false, 3), prices: TARGETS });
    expect(result.neighboursHelp).toBe(false);
    expect(result.best.settings).toEqual(SAFE_CHOICE.settings);
  });

  it("uses the neighbours when they carry signal, and beats the best single model per budget", async () => {
    const data = items(300, 8, true, 4);
    const result = await tune({ ...data, prices: TARGETS });
    expect(result.neighboursHelp).toBe(true);
    expect(result.best.value).toBeGreaterThan((result.baselines.bestSingle as number) + 0.02);
    expect(result.best.value).toBeGreaterThan(result.baselines.priorOnly);
    expect(result.evaluated).toBeGreaterThan(100);
  });

  it("without prices, fits every target's score: 1 - RMSE, better than the prior where there is signal", async () => {
    const signal = await tune(items(300, 6, true, 5));
    expect(signal.metric).toBe("score_fit");
    expect(signal.best.value).toBeGreaterThan(signal.baselines.priorOnly + 0.02);
    expect(signal.baselines.bestSingle).toBeUndefined();
    const none = await tune(items(300, 6, false, 6));
    expect(none.best.value).toBeLessThan(none.baselines.priorOnly + 0.01);
  });

  it("judges the settings in force on the same folds, and refuses too few examples", async () => {
    const data = items(200, 4, true, 7);
    const result = await tune({ ...data, prices: TARGETS, current: SAFE_CHOICE });
    expect(result.current).toBeDefined();
    expect(result.best.value).toBeGreaterThanOrEqual(result.current as number);
    await expect(tune(items(8, 2, true, 8))).rejects.toThrow(/at least 10 examples/);
  });
});

describe("settings never bury evidence", () => {
  it("counts the queries that would fall back under a floor", () => {
    const floor = { minSimilarity: 0.5, minSupport: 2 };
    expect(fallbackShare([[0.9, 0.8], [0.9, 0.4], [0.3], []], floor)).toBeCloseTo(2 / 3);
    expect(fallbackShare([], floor)).toBe(0);
  });

  it("never chooses a similarity floor under which most recent queries would fall back", async () => {
    // Six topics with a favoured target each, and as many examples again far from every topic with
    // scores that follow no neighbour: for those the overall means beat any neighbour, so a floor pays.
    const topical = items(300, 6, true, 12);
    const scattered = items(300, 300, false, 13);
    const data = {
      items: [...topical.items, ...scattered.items],
      vectors: [...topical.vectors, ...scattered.vectors],
      tokens: [...topical.tokens, ...scattered.tokens],
    };
    const free = await tune({ ...data, prices: TARGETS });
    // Recent traffic whose neighbours sit just below the floor chosen without it.
    const floor = free.best.settings.minSimilarity;
    expect(floor, "the data must make a floor worth choosing, or this test shows nothing").toBeGreaterThan(0);
    const recent = Array.from({ length: 50 }, () => [floor - 0.01, floor - 0.02, floor - 0.03]);
    expect(fallbackShare(recent, free.best.settings)).toBe(1);
    const guarded = await tune({ ...data, prices: TARGETS, recent });
    expect(fallbackShare(recent, guarded.best.settings)).toBeLessThanOrEqual(MAX_FALLBACK_SHARE);
  });
});

describe("the dense cross-validation predictor", () => {
  it("predicts exactly what the service's ranking code predicts, for every kind of setting", async () => {
    const { DenseFolds } = await import("../service/routing/dense-folds.ts");
    const { foldNeighbours, predict } = await import("../service/routing/crossval.ts");
    const next = rng(21);
    const data = items(240, 6, true, 9);
    // Sparse scores, categories (some missing), so every branch of the ranking code is taken.
    // Some scores weigh other than 1 (outcomes' examples), as /rank weighs them. Some examples are
    // outcomes' (read against their baselines; one target, "new", is known by outcomes alone), and
    // labels carry their baselines as the store derives them.
    const labelled = data.items.map((item, i) => {
      const outcome = next() < 0.25;
      const kept = Object.entries(item.scores).filter(() => next() < (outcome ? 0.3 : 0.7));
      const scores = Object.fromEntries(outcome && next() < 0.5 ? [...kept, ["new", next()]] : kept);
      const weights = Object.fromEntries(
        Object.keys(scores)
          .filter(() => next() < 0.2)
          .map((t) => [t, 0.25 + 3 * next()]),
      );
      const baselines = outcome
        ? Object.fromEntries(Object.keys(scores).flatMap((t) => (next() < 0.8 ? [[t, next()]] : [])))
        : labelBaselines(scores);
      return {
        category: i % 7 === 0 ? null : `c${i % 4}`,
        scores,
        ...(Object.keys(weights).length > 0 && { weights }),
        baselines,
        outcome,
      };
    });
    const kept = labelled
      .map((item, i) => ({ item, v: data.vectors[i] as Float32Array }))
      .filter((x) => Object.keys(x.item.scores).length > 0);
    const folded = await foldNeighbours(
      kept.map((x) => x.item),
      kept.map((x) => x.v),
      { folds: 5, seed: 2, maxK: 30 },
    );
    const dense = new DenseFolds(
      kept.map((x) => x.item),
      folded,
    );
    const settings = [
      { k: 5, s: { power: 1, shrinkage: 0, prior: "category" as const, minSimilarity: 0, minSupport: 1 } },
      { k: 30, s: { power: 4, shrinkage: 8, prior: "category" as const, minSimilarity: 0, minSupport: 1 } },
      { k: 10, s: { power: 2, shrinkage: 3, prior: "overall" as const, minSimilarity: 0.8, minSupport: 3 } },
      { k: 20, s: { power: 0, shrinkage: 0, prior: "overall" as const, minSimilarity: -1, minSupport: 1 } },
      {
        k: 2,
        s: { power: 1, shrinkage: 1000, prior: "overall" as const, minSimilarity: 0.95, minSupport: 5 },
      },
    ];
    for (const { k, s } of settings) {
      const expected = predict(
        kept.map((x) => x.item),
        folded,
        k,
        s,
      );
      const got = dense.predict(k, s);
      expected.forEach((row, i) => {
        dense.targets.forEach((t, c) => {
          const g = got[i * dense.targets.length + c] as number;
          if (row[t] === undefined) expect(Number.isNaN(g)).toBe(true);
          else expect(g).toBeCloseTo(row[t] as number, 10);
        });
      });
    }
  });
});
