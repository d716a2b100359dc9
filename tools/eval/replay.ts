/**
 * Production replayed on labelled data (RouterDC's seven models): a new model arrives with no labels
 * and has to earn its place from outcomes alone.
 *
 * One target is withheld. A seed share of the training prompts is imported with every score but the
 * withheld target's; the withheld target is then created (PUT /admin/targets/{name}, no examples) and
 * the rest of the training prompts stream through POST /rank. The environment reveals only the
 * recommended target's score, through POST /feedback. Afterwards the test prompts are ranked and the
 * top pick's quality is the metric. Four routers on the same prompts:
 *
 * - seed only: the seed share imported, the new target never known;
 * - streamed, exploring: the stream with EXPLORATION_SHARE;
 * - streamed, greedy: the stream with exploration off (the top score is what is called);
 * - full information: every training prompt with every score;
 * - and, to tell the new model's share of the gap from the data's, the seed share with every score
 *   (the withheld target's too).
 *
 * With --ceiling, the stream is replaced by fixed policies chosen with hindsight (`replayCeiling`):
 * what a stream revealing one score a prompt can teach at most.
 *
 *   npm run eval -- replay [--data ../shared/data/routerdc] [--withhold <model>] [--share 0.1]
 *                          [--seed-share 0.2] [--sample N] [--seed 1] [--ceiling [--policy P ...]]
 */
import type { Embedder } from "../../service/embedding/embedder.ts";
import { rng } from "../../service/routing/crossval.ts";
import { shuffled } from "./datasets.ts";
import { type Item, TASKS, type Task, topPick } from "./routerdc.ts";
import { EvalService, type ImportLine } from "./service.ts";

/** The models withheld by default: the best on MMLU and CMMLU, and the best on ARC (train files' means). */
export const REPLAY_WITHHELD = ["meta-llama/Meta-Llama-3-8B", "HuggingFaceH4/zephyr-7b-beta"];

/**
 * Settings pinned for every router of a replay: k = 100, shrinkage 64 toward the category means
 * (the best average of the settings compared on RouterDC's test files in EVALUATION.md). Shrinkage
 * matters here: an outcome's example scores one target, and without it a target two such
 * neighbours scored 1 would outrank one a hundred neighbours scored.
 */
export const REPLAY_SETTINGS = {
  k: 100,
  power: 1,
  shrinkage: 64,
  prior: "category",
  min_similarity: 0,
  min_support: 1,
} as const;

export interface ReplayOptions {
  train: Record<Task, Item[]>;
  test: Record<Task, Item[]>;
  /** The target that arrives without labels. */
  withheld: string;
  /** Share of the training prompts imported before the stream. */
  seedShare: number;
  /** EXPLORATION_SHARE of the exploring stream. */
  share: number;
  /** Ranking settings pinned for every router (the API's names); REPLAY_SETTINGS by default. */
  settings?: Record<string, unknown>;
  seed: number;
  cacheDir: string;
  embedder?: Embedder;
  onProgress?: (phase: string, done: number, total: number) => void;
}

/** Top-pick quality (%) per task and their average. */
export interface TaskQuality {
  tasks: Record<Task, number>;
  average: number;
  /** Share of test prompts whose top pick is the withheld target (%). */
  withheldTop: number;
  /** The top pick's quality on each test prompt (for paired intervals). */
  perPrompt: Record<Task, number[]>;
}

/** What happened during a stream. */
export interface StreamReport {
  prompts: number;
  /** Mean quality of the targets called during the stream (%). */
  served: number;
  /** Times the withheld target was called, and of those, as an exploration. */
  withheldCalled: number;
  withheldExplored: number;
  /** Answers that explored (any target). */
  explored: number;
}

export interface ReplayResult {
  withheld: string;
  seedPrompts: number;
  streamPrompts: number;
  testPrompts: number;
  seedOnly: TaskQuality & { servedOnStream: number };
  exploring: TaskQuality & { stream: StreamReport };
  greedy: TaskQuality & { stream: StreamReport };
  full: TaskQuality;
  /** The seed share with every score, the withheld target's included. */
  seedLabelled: TaskQuality;
  settings: Record<string, unknown>;
  seconds: number;
}

type Tagged = Item & { task: Task };

/** Runs the routers of one replay. */
export async function replay(options: ReplayOptions): Promise<ReplayResult> {
  const started = performance.now();
  const { all, seed, stream, without } = split(options);

  // Seed only: the new target is never known. Also what it serves on the stream's prompts.
  const seedOnly = await (async () => {
    const { quality, tops } = await routerOn(options, seed.map(without), "seed only", stream);
    const served = stream.reduce((sum, item, n) => {
      const top = tops[n];
      return sum + (top === undefined ? 0 : (item.scores[top] ?? 0));
    }, 0);
    return { ...quality, servedOnStream: (100 * served) / stream.length };
  })();

  const streamed = async (share: number, label: string) => {
    const service = await openPinned(options, {
      EXPLORATION_SHARE: String(share),
      FEEDBACK_TOKEN: EvalService.FEEDBACK_TOKEN,
    });
    try {
      await service.import(seed.map(without));
      await service.putTarget(options.withheld, { enabled: true });
      const report: StreamReport = {
        prompts: stream.length,
        served: 0,
        withheldCalled: 0,
        withheldExplored: 0,
        explored: 0,
      };
      for (const [n, item] of stream.entries()) {
        const answer = await service.rankAnswer(item.text);
        const called = answer.recommended ?? answer.scores[0]?.target;
        if (called === undefined) continue;
        const score = item.scores[called] ?? 0;
        report.served += score;
        const explored = answer.exploration?.explored === true;
        if (explored) report.explored++;
        if (called === options.withheld) {
          report.withheldCalled++;
          if (explored) report.withheldExplored++;
        }
        await service.feedback({ ranking_id: answer.ranking_id, target: called, score });
        options.onProgress?.(`${label}: stream`, n + 1, stream.length);
      }
      report.served = (100 * report.served) / stream.length;
      return { ...(await testQuality(service, options, label)), stream: report };
    } finally {
      await service.close();
    }
  };
  const exploring = await streamed(options.share, "exploring");
  const greedy = await streamed(0, "greedy");

  const full = (await routerOn(options, all.map(asLabel), "full information")).quality;
  const seedLabelled = (await routerOn(options, seed.map(asLabel), "seed, every score")).quality;

  return {
    withheld: options.withheld,
    seedPrompts: seed.length,
    streamPrompts: stream.length,
    testPrompts: TASKS.reduce((s, t) => s + options.test[t].length, 0),
    seedOnly,
    exploring,
    greedy,
    full,
    seedLabelled,
    settings: options.settings ?? REPLAY_SETTINGS,
    seconds: (performance.now() - started) / 1000,
  };
}

/** What a stream revealing one score a prompt, chosen without the router, teaches at most. */
export type CeilingPolicy = "withheld" | "uniform" | "uniform-uncategorised" | "seed-top" | "hindsight";

export const CEILING_POLICIES: Readonly<Record<CeilingPolicy, string>> = {
  withheld: "the new target's score on every streamed prompt",
  uniform: "a target drawn uniformly a prompt",
  "uniform-uncategorised": "a target drawn uniformly a prompt, filed under no category",
  "seed-top": "the seed-only router's top pick a prompt (greedy, never updated)",
  hindsight: "the best target with hindsight a prompt",
};

export interface CeilingResult {
  withheld: string;
  seedOnly: TaskQuality;
  full: TaskQuality;
  policies: Array<TaskQuality & { policy: CeilingPolicy; served: number }>;
  settings: Record<string, unknown>;
  seconds: number;
}

/**
 * The ceiling of a replay: the same seed and stream prompts, but the one score each streamed prompt
 * reveals is chosen by a fixed policy, with hindsight where it says so, and imported as a label with
 * the prompt's own category (more than an outcome gets: its example's category is the neighbours').
 * The policies bound by example, not by proof: the new target's score on every prompt is the most a
 * stream can say about it, the best target with hindsight the most it can serve, a uniform draw the
 * least biased. What the best of them recovers of the gap is what a router learning from outcomes
 * can hope for, on this data, with these settings.
 */
export async function replayCeiling(
  options: Omit<ReplayOptions, "share"> & { policies?: readonly CeilingPolicy[] },
): Promise<CeilingResult> {
  const started = performance.now();
  const { all, seed, stream, without } = split(options);
  const targets = [...new Set(all.flatMap((i) => Object.keys(i.scores)))].sort();
  const chosen = options.policies ?? (Object.keys(CEILING_POLICIES) as CeilingPolicy[]);
  const { quality: seedOnly, tops: seedTops } = await routerOn(
    options,
    seed.map(without),
    "seed only",
    chosen.includes("seed-top") ? stream : [],
  );
  const full = (await routerOn(options, all.map(asLabel), "full information")).quality;
  const policies: CeilingResult["policies"] = [];
  for (const policy of chosen) {
    const next = rng(options.seed + 7);
    const choose = (i: Tagged, n: number): string => {
      if (policy === "withheld") return options.withheld;
      if (policy === "uniform" || policy === "uniform-uncategorised") {
        return targets[Math.floor(next() * targets.length)] as string;
      }
      if (policy === "seed-top") return seedTops[n] as string;
      const best = Math.max(...targets.map((t) => i.scores[t] ?? 0));
      const tied = targets.filter((t) => (i.scores[t] ?? 0) === best);
      return tied[Math.floor(next() * tied.length)] as string;
    };
    let served = 0;
    const revealed = stream.map((i, n) => {
      const target = choose(i, n);
      const score = i.scores[target] ?? 0;
      served += score;
      const category = policy === "uniform-uncategorised" ? null : i.category;
      return { text: i.text, category, scores: { [target]: score } };
    });
    const { quality } = await routerOn(options, [...seed.map(without), ...revealed], `ceiling: ${policy}`);
    policies.push({ ...quality, policy, served: (100 * served) / stream.length });
  }
  return {
    withheld: options.withheld,
    seedOnly,
    full,
    policies,
    settings: options.settings ?? REPLAY_SETTINGS,
    seconds: (performance.now() - started) / 1000,
  };
}

/** A service with the replay's settings pinned, configured by `env` besides. */
async function openPinned(
  options: Pick<ReplayOptions, "cacheDir" | "embedder" | "settings">,
  env: Record<string, string> = {},
): Promise<EvalService> {
  const service = await EvalService.start({ cacheDir: options.cacheDir, embedder: options.embedder, env });
  await service.pin(options.settings ?? REPLAY_SETTINGS);
  return service;
}

/**
 * A router given `lines` (imported, nothing streamed): its top-pick quality on the test prompts, and
 * its top pick on each of `rank`.
 */
async function routerOn(
  options: Pick<ReplayOptions, "cacheDir" | "embedder" | "settings" | "test" | "onProgress" | "withheld">,
  lines: readonly ImportLine[],
  label: string,
  rank: readonly Item[] = [],
): Promise<{ quality: TaskQuality; tops: Array<string | undefined> }> {
  const service = await openPinned(options);
  try {
    await service.import(lines);
    const quality = await testQuality(service, options, label);
    const tops: Array<string | undefined> = [];
    for (const [n, item] of rank.entries()) {
      tops.push((await service.rank(item.text))[0]?.target);
      options.onProgress?.(`${label}: stream prompts`, n + 1, rank.length);
    }
    return { quality, tops };
  } finally {
    await service.close();
  }
}

/** A prompt with every score, as an import line. */
const asLabel = (i: Item): ImportLine => ({ text: i.text, category: i.category, scores: i.scores });

/** The replay's shuffle: the seed share and the stream, and a prompt without the withheld score. */
function split(options: Pick<ReplayOptions, "train" | "seed" | "seedShare" | "withheld">) {
  const all: Tagged[] = shuffled(
    TASKS.flatMap((task) => options.train[task].map((i) => ({ ...i, task }))),
    options.seed,
  );
  const cut = Math.round(all.length * options.seedShare);
  const without = (i: Item): ImportLine => ({
    text: i.text,
    category: i.category,
    scores: Object.fromEntries(Object.entries(i.scores).filter(([t]) => t !== options.withheld)),
  });
  return { all, seed: all.slice(0, cut), stream: all.slice(cut), without };
}

/** Top-pick quality on every test prompt, and how often the withheld target came first. */
async function testQuality(
  service: EvalService,
  options: Pick<ReplayOptions, "test" | "onProgress" | "withheld">,
  label: string,
): Promise<TaskQuality> {
  const r = await topPick(service, options.test, label, options.onProgress, options.withheld);
  return { tasks: r.tasks, average: r.average, withheldTop: r.watchedFirst, perPrompt: r.perPrompt };
}

/** The two ends of a replay's gap. */
type Gap = { seedOnly: TaskQuality; full: TaskQuality };

/** Share of the gap between seed only and full information that a router closes. */
export function gapRecovered(r: Gap, router: TaskQuality): number {
  const gap = r.full.average - r.seedOnly.average;
  return gap === 0 ? Number.NaN : (router.average - r.seedOnly.average) / gap;
}

/**
 * A 95% interval for the share of the gap `router` recovers, by a paired bootstrap: each task's test
 * prompts resampled with replacement (the same draw for every router), the task averages and the
 * share recomputed, 1,000 times; the 2.5th and 97.5th percentiles.
 */
export function gapInterval(r: Gap, router: TaskQuality, reps = 1000, seed = 1): [number, number] {
  const next = rng(seed);
  const shares: number[] = [];
  for (let b = 0; b < reps; b++) {
    let gained = 0;
    let gap = 0;
    for (const task of TASKS) {
      const base = r.seedOnly.perPrompt[task];
      const n = base.length;
      let sBase = 0;
      let sFull = 0;
      let sRouter = 0;
      for (let i = 0; i < n; i++) {
        const j = Math.floor(next() * n);
        sBase += base[j] as number;
        sFull += r.full.perPrompt[task][j] as number;
        sRouter += router.perPrompt[task][j] as number;
      }
      gained += (sRouter - sBase) / n;
      gap += (sFull - sBase) / n;
    }
    shares.push(gap === 0 ? Number.NaN : gained / gap);
  }
  const sorted = shares.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  return [at(0.025), at(0.975)];
}

/** The replay's table. */
export function replayMarkdown(results: readonly ReplayResult[], command: string, share: number): string {
  const fmt = (x: number) => x.toFixed(2);
  const pct = (x: number) => (Number.isNaN(x) ? "n/a" : `${(100 * x).toFixed(0)}%`);
  const recovered = (r: ReplayResult, q: TaskQuality) => {
    const [lo, hi] = gapInterval(r, q);
    return `${pct(gapRecovered(r, q))} (${pct(lo)} to ${pct(hi)})`;
  };
  const out = [
    `\`${command}\``,
    "",
    `| withheld target | router | ${TASKS.join(" | ")} | average | gap recovered (95% interval) | withheld ranked first (test) | served during the stream |`,
    `|---|---|${TASKS.map(() => "---|").join("")}---|---|---|---|`,
  ];
  for (const r of results) {
    const row = (name: string, q: TaskQuality, extra: string[]) =>
      `| ${r.withheld} | ${name} | ${TASKS.map((t) => fmt(q.tasks[t])).join(" | ")} | **${fmt(q.average)}** | ${extra.join(" | ")} |`;
    out.push(
      row("seed only", r.seedOnly, ["0%", "0.0%", `${fmt(r.seedOnly.servedOnStream)} (its top pick)`]),
      row(`streamed, exploring (share ${share})`, r.exploring, [
        recovered(r, r.exploring),
        `${r.exploring.withheldTop.toFixed(1)}%`,
        fmt(r.exploring.stream.served),
      ]),
      row("streamed, greedy", r.greedy, [
        recovered(r, r.greedy),
        `${r.greedy.withheldTop.toFixed(1)}%`,
        fmt(r.greedy.stream.served),
      ]),
      row("full information", r.full, ["100%", `${r.full.withheldTop.toFixed(1)}%`, ""]),
      row("(seed only, with the new target's scores too)", r.seedLabelled, [
        recovered(r, r.seedLabelled),
        `${r.seedLabelled.withheldTop.toFixed(1)}%`,
        "",
      ]),
    );
  }
  out.push("");
  for (const r of results) {
    const e = r.exploring.stream;
    const g = r.greedy.stream;
    out.push(
      `- ${r.withheld} withheld: ${r.seedPrompts} seed prompts, ${r.streamPrompts} streamed, ${r.testPrompts} tested; ` +
        `exploring stream called it ${e.withheldCalled} times (${e.withheldExplored} as explorations; ${e.explored} explorations in all), ` +
        `greedy stream ${g.withheldCalled} times; ${r.seconds.toFixed(0)} s.`,
    );
  }
  out.push("");
  return out.join("\n");
}

/** The ceiling's table. */
export function ceilingMarkdown(results: readonly CeilingResult[], command: string): string {
  const fmt = (x: number) => x.toFixed(2);
  const pct = (x: number) => (Number.isNaN(x) ? "n/a" : `${(100 * x).toFixed(0)}%`);
  const out = [
    `\`${command}\``,
    "",
    `| withheld target | router | ${TASKS.join(" | ")} | average | gap recovered (95% interval) | withheld ranked first (test) | mean revealed score |`,
    `|---|---|${TASKS.map(() => "---|").join("")}---|---|---|---|`,
  ];
  for (const r of results) {
    const row = (name: string, q: TaskQuality, extra: string[]) =>
      `| ${r.withheld} | ${name} | ${TASKS.map((t) => fmt(q.tasks[t])).join(" | ")} | **${fmt(q.average)}** | ${extra.join(" | ")} |`;
    out.push(row("seed only", r.seedOnly, ["0%", "0.0%", ""]));
    for (const p of r.policies) {
      const [lo, hi] = gapInterval(r, p);
      out.push(
        row(`stream revealing ${CEILING_POLICIES[p.policy]}`, p, [
          `${pct(gapRecovered(r, p))} (${pct(lo)} to ${pct(hi)})`,
          `${p.withheldTop.toFixed(1)}%`,
          fmt(p.served),
        ]),
      );
    }
    out.push(row("full information", r.full, ["100%", `${r.full.withheldTop.toFixed(1)}%`, ""]));
  }
  out.push("");
  return out.join("\n");
}
