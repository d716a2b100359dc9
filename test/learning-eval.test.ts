import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { HashEmbedder } from "../service/embedding/hash.ts";
import { shuffled } from "../tools/eval/datasets.ts";
import { battlesFromScores, evaluatePreferences, preferencesMarkdown } from "../tools/eval/preferences.ts";
import {
  ceilingMarkdown,
  type GroupQuality,
  gapInterval,
  gapRecovered,
  type ReplayResult,
  replay,
  replayCeiling,
  replayMarkdown,
  routerDcReplay,
} from "../tools/eval/replay.ts";
import { loadRouterDc, sample, TASKS } from "../tools/eval/routerdc.ts";
import { tempDir } from "./support/harness.ts";

const ROOT = "../shared/data/routerdc";
const here = existsSync(`${ROOT}/mmlu_train.jsonl`);

describe("battles generated from scores", () => {
  const item = { text: "q", category: "c", scores: { a: 1, b: 0, c: 1 } };
  it("gives every pair a battle, the higher score winning and equal scores tying", () => {
    expect(battlesFromScores([item], "all", 1).map((b) => [b.model_a, b.model_b, b.winner])).toEqual([
      ["a", "b", "model_a"],
      ["a", "c", "tie"],
      ["b", "c", "model_b"],
    ]);
  });
  it("gives N random pairs a prompt when asked", () => {
    const battles = battlesFromScores([item, { ...item, text: "r" }], 2, 7);
    expect(battles).toHaveLength(4);
    expect(new Set(battles.filter((b) => b.text === "q").map((b) => `${b.model_a}/${b.model_b}`)).size).toBe(
      2,
    );
  });
});

describe("the replay's paired interval for the share of the gap recovered", () => {
  const quality = (per: number[]): GroupQuality => {
    const perPrompt = Object.fromEntries(TASKS.map((t) => [t, per]));
    const mean = (100 * per.reduce((a, b) => a + b, 0)) / per.length;
    return {
      groups: Object.fromEntries(TASKS.map((t) => [t, mean])),
      average: mean,
      withheldTop: 0,
      withheldTopByGroup: {},
      perPrompt,
    };
  };
  it("is exactly 0 for a router that picks as seed-only does, and 1 for one that picks as full information does", () => {
    const seedOnly = quality([0, 0, 1, 0, 1, 0, 0, 1]);
    const full = quality([1, 0, 1, 1, 1, 0, 1, 1]);
    const r = { seedOnly: { ...seedOnly, servedOnStream: 0 }, full } as unknown as ReplayResult;
    expect(gapInterval(r, seedOnly)).toEqual([0, 0]);
    expect(gapInterval(r, full)).toEqual([1, 1]);
    // Half of full's gains: the interval holds the point estimate and is not a point.
    const half = quality([1, 0, 1, 0, 1, 0, 1, 1]);
    const [lo, hi] = gapInterval(r, half);
    expect(gapRecovered(r, half)).toBeCloseTo(2 / 3, 10);
    expect(lo).toBeLessThan(2 / 3);
    expect(hi).toBeGreaterThanOrEqual(2 / 3);
  });
});

describe.skipIf(!here)(
  `npm run eval -- replay | preferences${here ? "" : ` (skipped: ${ROOT} is absent)`}`,
  () => {
    const small = (n: number, split: "train" | "test") => {
      const all = loadRouterDc(ROOT, split);
      return Object.fromEntries(TASKS.map((t) => [t, sample(all[t], n, 3)])) as typeof all;
    };

    it("replays a stream with a withheld model through the API and reports every router", async () => {
      const tmp = tempDir();
      try {
        const r = await replay({
          data: routerDcReplay(small(20, "train"), small(5, "test")),
          withheld: "meta-llama/Meta-Llama-3-8B",
          seedShare: 0.2,
          share: 0.5,
          seed: 1,
          cacheDir: tmp.dir,
          embedder: new HashEmbedder(64),
          quiz: [5],
          checkpoints: [40],
        });
        expect([r.seedPrompts, r.streamPrompts, r.testPrompts]).toEqual([20, 80, 25]);
        expect(r.exploring.stream.curve.map((c) => c.outcomes)).toEqual([40]);
        expect(r.quizzed.map((q) => q.n)).toEqual([5]);
        // The seed-only router never knew the withheld model; the streams called it, the exploring one explored.
        expect(r.seedOnly.withheldTop).toBe(0);
        expect(r.exploring.stream.explored).toBeGreaterThan(0);
        expect(r.greedy.stream.explored).toBe(0);
        expect(r.exploring.stream.withheldCalled + r.greedy.stream.withheldCalled).toBeGreaterThan(0);
        for (const q of [r.seedOnly, r.exploring, r.greedy, r.full, r.seedLabelled, ...r.quizzed]) {
          expect(q.average).toBeCloseTo(
            TASKS.reduce((s, t) => s + (q.groups[t] as number), 0) / TASKS.length,
            10,
          );
        }
        const gap = r.full.average - r.seedOnly.average;
        if (gap !== 0) expect(gapRecovered(r, r.full)).toBeCloseTo(1, 10);
        const md = replayMarkdown([r], "npm run eval -- replay", 0.5);
        expect(md).toContain("| meta-llama/Meta-Llama-3-8B | 1 | streamed, exploring (share 0.5) |");
      } finally {
        tmp.remove();
      }
    }, 120_000);

    it("bounds a stream by fixed policies: what each reveals, and the hindsight best serves the oracle", async () => {
      const tmp = tempDir();
      try {
        const train = small(20, "train");
        const withheld = "meta-llama/Meta-Llama-3-8B";
        const r = await replayCeiling({
          data: routerDcReplay(train, small(5, "test")),
          withheld,
          seedShare: 0.2,
          seed: 1,
          cacheDir: tmp.dir,
          embedder: new HashEmbedder(64),
          policies: ["withheld", "hindsight", "seed-top"],
        });
        expect(r.policies.map((p) => p.policy)).toEqual(["withheld", "hindsight", "seed-top"]);
        const [withheldOnly, hindsight, seedTop] = r.policies;
        // Seed only never knew the withheld target, nor does a stream of its top picks.
        expect(r.seedOnly.withheldTop).toBe(0);
        expect(seedTop?.withheldTop).toBe(0);
        // The hindsight policy reveals the best score of each streamed prompt: no policy serves more.
        for (const p of [withheldOnly, seedTop])
          expect(hindsight?.served).toBeGreaterThanOrEqual(p?.served as number);
        // Exactly the mean of each streamed prompt's best score (the replay's split: seeded shuffle, 20% seed).
        const all = shuffled(
          TASKS.flatMap((t) => train[t].map((i) => ({ ...i, group: t }))),
          1,
        );
        const stream = all.slice(Math.round(all.length * 0.2));
        const oracle = stream.reduce((sum, i) => sum + Math.max(...Object.values(i.scores)), 0);
        expect(hindsight?.served).toBeCloseTo((100 * oracle) / stream.length, 10);
        // And the withheld-target stream reveals its score on every streamed prompt.
        const its = stream.reduce((sum, i) => sum + (i.scores[withheld] ?? 0), 0);
        expect(withheldOnly?.served).toBeCloseTo((100 * its) / stream.length, 10);
        const md = ceilingMarkdown([r], "npm run eval -- replay --ceiling");
        expect(md).toContain(
          "| meta-llama/Meta-Llama-3-8B | stream revealing the best target with hindsight a prompt |",
        );
      } finally {
        tmp.remove();
      }
    }, 120_000);

    it("ranks the same test prompts from scores and from battles only", async () => {
      const tmp = tempDir();
      try {
        const r = await evaluatePreferences({
          train: small(10, "train"),
          test: small(4, "test"),
          perPrompt: ["all", 1],
          seed: 1,
          cacheDir: tmp.dir,
          embedder: new HashEmbedder(64),
        });
        expect(r.rows.map((row) => row.name)).toEqual([
          "scores (every model's score on every prompt)",
          "preferences only (every pair a prompt: 1050 battles)",
          "preferences only (1 random pair a prompt: 50 battles)",
        ]);
        expect(preferencesMarkdown(r, "npm run eval -- preferences")).toContain(
          "| against scores (95% interval) |",
        );
      } finally {
        tmp.remove();
      }
    }, 120_000);
  },
);
