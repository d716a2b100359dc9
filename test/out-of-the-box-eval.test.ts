import { describe, expect, it } from "vitest";
import { HashEmbedder } from "../service/embedding/hash.ts";
import { evaluateOutOfTheBox, pricesPerMtok, split } from "../tools/eval/out-of-the-box.ts";
import { syntheticNModel } from "../tools/eval/synthetic.ts";
import { tempDir } from "./support/harness.ts";

describe("npm run eval -- <priced data> --out-of-the-box", () => {
  it("holds out a seeded share, the same for the same seed, and prices the targets from the training share", () => {
    const d = syntheticNModel(200, 3);
    const a = split(d.items, 0.25, 1);
    expect(a.test).toHaveLength(50);
    expect(a.train).toHaveLength(150);
    expect(new Set([...a.test, ...a.train]).size).toBe(200);
    expect(split(d.items, 0.25, 1).test).toEqual(a.test);
    expect(split(d.items, 0.25, 2).test).not.toEqual(a.test);
    // Price × the mean prompt's tokens = the mean cost of a call, per target.
    const prices = pricesPerMtok(d, a.train);
    const meanTokens = a.train.reduce((s, i) => s + Math.ceil(i.text.length / 4), 0) / a.train.length;
    for (const [t, price] of Object.entries(prices)) {
      const meanCost = a.train.reduce((s, i) => s + (i.costs?.[t] ?? 0), 0) / a.train.length;
      expect((price * meanTokens) / 1e6).toBeCloseTo(meanCost, 10);
    }
  });

  it("imports, prices, tunes and ranks through the API; after its tuning the router is above the best single model per budget", async () => {
    const d = syntheticNModel(600, 3);
    const tmp = tempDir();
    const result = await evaluateOutOfTheBox(d, {
      seed: 1,
      testShare: 0.25,
      cacheDir: tmp.dir,
      embedder: new HashEmbedder(128),
    });
    tmp.remove();
    expect(result.trained).toBe(450);
    expect(result.evaluation.items).toBe(150);
    const row = (name: string) => result.evaluation.rows.find((r) => r.name.startsWith(name));
    const tuned = row("this service, after its own tuning");
    const zero = row("zero router");
    expect(row("this service, safe defaults")?.aiq).toEqual(expect.any(Number));
    // On data built with a best router (cheap specialists per topic), the tuned service finds it.
    expect(tuned?.aiq).toBeGreaterThan(zero?.aiq as number);
    expect(row("oracle")?.aiq).toBeGreaterThanOrEqual(tuned?.aiq as number);
    expect(result.settings).toMatchObject({ k: expect.any(Number) });
  }, 60_000);
});
