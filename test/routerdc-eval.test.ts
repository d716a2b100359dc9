import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { HashEmbedder } from "../service/embedding/hash.ts";
import {
  evaluateRouterDc,
  loadRouterDc,
  REFERENCE,
  routerDcMarkdown,
  sample,
  TASKS,
} from "../tools/eval/routerdc.ts";
import { ridgeFit, unreadableFeatures } from "../tools/eval/routerdc-levers.ts";
import { tempDir } from "./support/harness.ts";

const ROOT = "../shared/data/routerdc";
const here = existsSync(`${ROOT}/mmlu_train.jsonl`);

describe.skipIf(!here)(`npm run eval -- routerdc${here ? "" : ` (skipped: ${ROOT} is absent)`}`, () => {
  it("reads the five tasks' train and test files", () => {
    const train = loadRouterDc(ROOT, "train");
    const test = loadRouterDc(ROOT, "test");
    expect(TASKS.map((t) => train[t].length)).toEqual([2000, 1000, 2000, 820, 115]);
    expect(TASKS.map((t) => test[t].length)).toEqual([4213, 1319, 3475, 352, 49]);
    expect(Object.keys(train.mmlu[0]?.scores ?? {})).toHaveLength(7);
  });

  it("imports, tunes and ranks through the API, and reports beside the reference rows", async () => {
    const train = loadRouterDc(ROOT, "train");
    const test = loadRouterDc(ROOT, "test");
    const tmp = tempDir();
    const small = (items: typeof train, n: number) =>
      Object.fromEntries(TASKS.map((t) => [t, sample(items[t], n, 3)])) as typeof train;
    const result = await evaluateRouterDc({
      train: small(train, 14),
      test: small(test, 6),
      cacheDir: tmp.dir,
      embedder: new HashEmbedder(64),
    });
    tmp.remove();
    expect(result.trained).toBe(70);
    expect(result.rows.map((r) => r.name)).toEqual([
      "this service, safe defaults (before tuning)",
      "this service, after its own tuning",
    ]);
    for (const row of result.rows) {
      for (const t of TASKS) expect(row.tasks[t]).toBeGreaterThanOrEqual(0);
      const mean = TASKS.reduce((s, t) => s + row.tasks[t], 0) / TASKS.length;
      expect(row.average).toBeCloseTo(mean, 10);
    }
    expect(result.settings).toMatchObject({ k: expect.any(Number) });
    const md = routerDcMarkdown(result, "npm run eval -- routerdc");
    for (const ref of REFERENCE) expect(md).toContain(ref.name);
    expect(md).toContain("| reference: per-query oracle | 85.26 | 83.32 | 79.63 | 72.44 | 66.94 | 77.52 |");
  }, 60_000);
});

describe("the RouterDC levers' helpers (tools/eval/routerdc-levers.ts)", () => {
  it("ridgeFit recovers an exact linear map with its intercept, and shrinks its slopes as lambda grows", () => {
    // y0 = 2a - b + 0.5, y1 = -a + 3 on six points.
    const X = [
      [0, 0],
      [1, 0],
      [0, 1],
      [1, 1],
      [2, 1],
      [1, 3],
    ];
    const Y = X.map(([a, b]) => [2 * (a as number) - (b as number) + 0.5, -(a as number) + 3]);
    const exact = ridgeFit(X, Y, 1e-9);
    for (const [i, x] of X.entries()) {
      const [p0, p1] = exact.predict(x);
      expect(p0).toBeCloseTo(Y[i]?.[0] as number, 6);
      expect(p1).toBeCloseTo(Y[i]?.[1] as number, 6);
    }
    expect(exact.predict([10, -4])[0]).toBeCloseTo(24.5, 5);
    // A huge penalty leaves only the intercept: every prediction is the mean of y.
    const flat = ridgeFit(X, Y, 1e9);
    const mean0 = Y.reduce((s, y) => s + (y[0] as number), 0) / Y.length;
    expect(flat.predict([10, -4])[0]).toBeCloseTo(mean0, 3);
  });

  it("unreadableFeatures hashes only letters outside the Latin script", () => {
    const none = unreadableFeatures("The quick brown fox, 42 times! café", 64);
    expect(none.every((x) => x === 0)).toBe(true);
    const a = unreadableFeatures("秦始皇统一六国 in which year?", 64);
    const b = unreadableFeatures("秦始皇统一六国", 64);
    const c = unreadableFeatures("中华人民共和国最高人民法院", 64);
    const norm = Math.hypot(...a);
    expect(norm).toBeCloseTo(1, 6);
    // The English words add nothing; different characters give a different vector.
    expect([...a]).toEqual([...b]);
    const dot = (x: Float32Array, y: Float32Array) => x.reduce((s, v, i) => s + v * (y[i] as number), 0);
    expect(dot(a, c)).toBeLessThan(0.5);
  });
});
