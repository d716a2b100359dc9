import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { prepareText } from "../service/embedding/embedder.ts";
import { HashEmbedder } from "../service/embedding/hash.ts";
import { TemplateStrippingEmbedder } from "../service/embedding/templates.ts";
import { DEFAULT_SETTINGS } from "../service/routing/aggregate.ts";
import { assignFolds, foldNeighbours, predict, rng } from "../service/routing/crossval.ts";
import { aiq, costFor, hull, qualityAt, twoModel } from "../service/routing/metrics.ts";
import { learnTemplates } from "../service/templates/learner.ts";
import { loadGsm8k, loadGsm8kFewShot, loadMmlu, loadMtBench, parseCsv } from "../tools/eval/datasets.ts";
import { evaluate } from "../tools/eval/evaluate.ts";
import { spread } from "../tools/eval/report.ts";
import { syntheticNModel } from "../tools/eval/synthetic.ts";

describe("two-model metrics (RouteLLM's definitions)", () => {
  it("computes APGR and CPT on a hand-checked example, tied preferences switching together", () => {
    const strong = [1, 1, 0, 1];
    const weak = [0, 1, 0, 0];
    const r = twoModel([1, 0, 0, 1], strong, weak);
    expect(r.curve).toEqual([
      { x: 0, y: 0 },
      { x: 0.5, y: 1 },
      { x: 1, y: 1 },
    ]);
    expect(r.apgr).toBeCloseTo(0.75, 10);
    expect(r.cpt50).toBeCloseTo(0.25, 10);
    expect(r.cpt80).toBeCloseTo(0.4, 10);
  });

  it("gives a random router about 0.5 and a reversed one less", () => {
    const n = 4000;
    const rand = rng(11);
    const strong = Array.from({ length: n }, () => (rand() < 0.8 ? 1 : 0));
    const weak = strong.map((x) => (x && rand() < 0.8 ? 1 : 0));
    expect(
      twoModel(
        strong.map(() => rand()),
        strong,
        weak,
      ).apgr,
    ).toBeCloseTo(0.5, 1);
    const oracle = strong.map((x, i) => x - (weak[i] as number));
    expect(twoModel(oracle, strong, weak).apgr).toBeGreaterThan(0.9);
    expect(
      twoModel(
        oracle.map((x) => -x),
        strong,
        weak,
      ).apgr,
    ).toBeLessThan(0.2);
  });
});

describe("spread over splits", () => {
  it("gives the mean, the sample standard deviation, and the range", () => {
    const s = spread([1, 2, 3, 4]);
    expect(s).toMatchObject({ mean: 2.5, min: 1, max: 4 });
    expect(s.sd).toBeCloseTo(Math.sqrt(5 / 3), 12);
    expect(spread([0.7])).toEqual({ mean: 0.7, sd: 0, min: 0.7, max: 0.7 });
  });
});

describe("cost-quality metrics", () => {
  const points = [
    { x: 1, y: 0.5 },
    { x: 2, y: 0.6 },
    { x: 3, y: 0.9 },
    { x: 4, y: 0.85 },
  ];
  it("keeps the non-decreasing upper convex hull", () => {
    expect(hull(points)).toEqual([
      { x: 1, y: 0.5 },
      { x: 3, y: 0.9 },
    ]);
  });
  it("reads quality at a cost, cost for a quality, and AIQ over a range", () => {
    const h = hull(points);
    expect(qualityAt(h, 2)).toBeCloseTo(0.7, 10);
    expect(qualityAt(h, 4)).toBeCloseTo(0.9, 10);
    expect(costFor(h, 0.8)).toBeCloseTo(2.5, 10);
    expect(costFor(h, 0.95)).toBeUndefined();
    expect(aiq(h, 1, 4)).toBeCloseTo((1.4 + 0.9) / 3, 4);
  });
});

describe("cross-validation", () => {
  it("splits the same way for the same seed, into folds of near-equal size", () => {
    const a = assignFolds(103, 5, 1);
    expect(assignFolds(103, 5, 1)).toEqual(a);
    expect(assignFolds(103, 5, 2)).not.toEqual(a);
    const sizes = [0, 1, 2, 3, 4].map((f) => a.filter((x) => x === f).length);
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
  });

  it("on N-model data with costs and known structure, the router beats the best single model at every budget", async () => {
    const d = syntheticNModel(600, 3);
    const embedder = new HashEmbedder(128);
    const vectors = await embedder.embed(d.items.map((i) => i.text));
    const folded = await foldNeighbours(d.items, vectors, { folds: 5, seed: 1, maxK: 20 });
    // Never predicts a target from the item itself: every neighbour comes from another fold.
    for (const [i, near] of folded.neighbours.entries()) {
      for (const n of near) expect(folded.fold[Number(n.id)]).not.toBe(folded.fold[i]);
    }
    const result = evaluate(d, folded, [{ name: "kNN", k: 20, settings: DEFAULT_SETTINGS }], 1);
    const router = result.rows.find((r) => r.name === "kNN");
    const zero = result.rows.find((r) => r.name.startsWith("zero router"));
    const oracle = result.rows.find((r) => r.name === "oracle");
    expect(router?.aiq).toBeGreaterThan(zero?.aiq as number);
    expect(oracle?.aiq).toBeGreaterThan(router?.aiq as number);
    expect(router?.qualityAtBestCost).toBeGreaterThan(result.bestSingle.quality);
    expect(router?.costToMatchBest).toBeLessThan(result.bestSingle.cost);
    expect(predict(d.items, folded, 20)).toHaveLength(600);
  });

  it("passes each query's own category as the caller's hint when asked", async () => {
    // Texts carry no signal (random words), categories do: the strong model wins only in "hard".
    const rand = rng(5);
    const word = () => Math.floor(rand() * 1e6).toString(36);
    const items = Array.from({ length: 300 }, (_, i) => ({
      text: `${word()} ${word()} ${word()}`,
      category: i % 2 ? "hard" : "easy",
      scores: { strong: 1, weak: i % 2 ? 0 : 1 },
    }));
    const d = { name: "hinted", items, strong: "strong", weak: "weak" };
    const embedder = new HashEmbedder(64);
    const folded = await foldNeighbours(items, await embedder.embed(items.map((i) => i.text)), {
      folds: 5,
      seed: 1,
      maxK: 10,
    });
    const settings = { power: 1, shrinkage: 4, prior: "category" as const, minSimilarity: 0, minSupport: 1 };
    const rows = evaluate(
      d,
      folded,
      [
        { name: "neighbours' categories", k: 10, settings },
        { name: "caller's category", k: 10, settings, categoryHint: true },
      ],
      1,
    ).rows;
    const [unhinted, hinted] = rows.map((r) => r.apgr as number);
    const oracle = rows.find((r) => r.name === "oracle")?.apgr as number;
    expect(unhinted).toBeLessThan(0.6);
    expect(hinted).toBeCloseTo(oracle, 10);
    const p = predict(items, folded, 10, settings, true);
    expect(p.filter((x, i) => i % 2 === 1 && (x.strong as number) - (x.weak as number) > 0.5)).toHaveLength(
      150,
    );
  });
});

describe("dataset readers", () => {
  it("reads quoted CSV fields with commas, quotes and newlines", () => {
    expect(parseCsv('a,b\n"x, ""y""\nz",1\r\n')).toEqual([
      ["a", "b"],
      ['x, "y"\nz', "1"],
    ]);
  });

  const root = "../shared/data/routellm";
  const here = existsSync(root);
  it.skipIf(!here)(
    `reads RouteLLM's MMLU, GSM8K and MT-Bench without contaminated prompts${here ? "" : " (skipped: ../shared/data/routellm is absent)"}`,
    () => {
      const mmlu = loadMmlu(root);
      expect(mmlu.items).toHaveLength(14037);
      expect(new Set(mmlu.items.map((i) => i.category)).size).toBe(57);
      expect(loadGsm8k(root).items).toHaveLength(1307);
      const mt = loadMtBench(root);
      expect(mt.items).toHaveLength(72);
      expect(mt.items.every((i) => Object.values(i.scores).every((s) => s >= 0 && s <= 1))).toBe(true);
    },
  );

  it.skipIf(!here)(
    `wraps GSM8K in a few-shot block that truncation would keep instead of the problem, and learning finds it${here ? "" : " (skipped: ../shared/data/routellm is absent)"}`,
    async () => {
      const plain = loadGsm8k(root).items;
      const wrapped = loadGsm8kFewShot(root).items;
      expect(wrapped).toHaveLength(plain.length);
      const embedder = new HashEmbedder(64, 128);
      const first = wrapped[0]?.text as string;
      // Cut to 128 tokens with both ends kept: the problem is gone.
      expect((await prepareText(embedder, first)).text).not.toContain(plain[0]?.text.slice(0, 30));
      const templates = learnTemplates(wrapped.map((i) => i.text));
      expect(templates.prefixes).toHaveLength(1);
      expect(templates.suffixes).toHaveLength(1);
      const stripping = new TemplateStrippingEmbedder(embedder, templates);
      const stripped = wrapped.slice(0, 100).map((i) => stripping.strip(i.text));
      const bare = plain.slice(0, 100).map((i) => i.text);
      // Stripped, a prompt is its problem (the learned prefix may take the problems' shared first words).
      expect(
        stripped.every(
          (t, i) => (bare[i] as string).endsWith(t) && t.length > 0.5 * (bare[i] as string).length,
        ),
      ).toBe(true);
    },
  );
});
