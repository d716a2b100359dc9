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
