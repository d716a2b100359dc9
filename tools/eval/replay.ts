/**
 * Production replayed on labelled data: a new model arrives with no labels and has to earn its
 * place, from outcomes or from a quiz.
 *
 * One target is withheld. A seed share of the training prompts is imported with every score but the
 * withheld target's; the withheld target is then created (PUT /admin/targets/{name}, no examples)
 * and the next training prompts (at most `maxStream`) stream through POST /rank. The environment
 * reveals only the recommended target's score, through POST /feedback. Afterwards the test prompts
 * are ranked and the top pick's quality is the metric. The routers, on the same prompts:
 *
 * - seed only: the seed share imported, the new target never known;
 * - streamed, exploring: the stream with EXPLORATION_SHARE (and the new target's trials);
 * - streamed, greedy: the stream with exploration and trials off (the top score is what is called);
 * - quizzed: no stream; the new target's quiz (GET /admin/targets/{name}/quiz) scored with the
 *   truth and imported;
 * - full information: the seed and the stream with every score;
 * - and, to tell the new model's share of the gap from the data's, the seed share with every score.
 *
 * With --ceiling, the stream is replaced by fixed policies chosen with hindsight (`replayCeiling`):
 * what a stream revealing one score a prompt can teach at most.
 *
 *   npm run eval -- replay [--set routerdc|mmlu|gsm8k|synthetic] [--withhold <model>] [--share 0.2]
 *                          [--seed-share 0.2] [--max-stream 1000] [--quiz 30] [--seed 1 --seed 2 ...]
 *                          [--ceiling [--policy P ...]]
 */
import type { Embedder } from "../../service/embedding/embedder.ts";
import { rng } from "../../service/routing/crossval.ts";
import { type Dataset, shuffled } from "./datasets.ts";
import { type Item, TASKS, type Task } from "./routerdc.ts";
import { EvalService, type ImportLine } from "./service.ts";
import { NEW_MODEL_TRUTH, NEWCOMER, NEWCOMER_TOPIC, syntheticNewModel } from "./synthetic.ts";

/** A labelled prompt of a replay, with the group it is reported under (a task, a topic). */
export interface ReplayItem {
  text: string;
  category: string | null;
  scores: Record<string, number>;
  group: string;
}

/** A replay's data: training prompts (seed and stream), test prompts, and the groups reported. */
export interface ReplayData {
  name: string;
  groups: readonly string[];
  train: ReplayItem[];
  test: ReplayItem[];
}

/** RouterDC's five tasks: their train and test files, grouped by task. */
export function routerDcReplay(train: Record<Task, Item[]>, test: Record<Task, Item[]>): ReplayData {
  const tagged = (files: Record<Task, Item[]>) =>
    TASKS.flatMap((task) => files[task].map((i) => ({ ...i, group: task })));
  return { name: "routerdc", groups: TASKS, train: tagged(train), test: tagged(test) };
}

/** A two-model RouteLLM set: a seeded share held out for testing, the rest to train on. */
export function routeLlmReplay(dataset: Dataset, seed: number, testShare = 0.2): ReplayData {
  const items = shuffled(dataset.items, seed + 1000).map((i) => ({
    text: i.text,
    category: i.category,
    scores: i.scores,
    group: dataset.name,
  }));
  const cut = Math.round(items.length * testShare);
  return { name: dataset.name, groups: [dataset.name], test: items.slice(0, cut), train: items.slice(cut) };
}

/** The known-truth new-model set (`syntheticNewModel`), grouped by topic. */
export function syntheticReplay(seed: number, perTopic = 400, testPerTopic = 100): ReplayData {
  const items = syntheticNewModel(perTopic + testPerTopic, seed).map((i) => ({
    ...i,
    group: i.category as string,
  }));
  const groups = [...new Set(items.map((i) => i.group))];
  const test = groups.flatMap((g) => items.filter((i) => i.group === g).slice(0, testPerTopic));
  const held = new Set(test);
  return { name: "synthetic", groups, test, train: items.filter((i) => !held.has(i)) };
}

/** The target each set withholds by default: the one whose arrival the replay is about. */
export const REPLAY_WITHHELD: Readonly<Record<string, readonly string[]>> = {
  // The best on MMLU and CMMLU, and the best on ARC (train files' means).
  routerdc: ["meta-llama/Meta-Llama-3-8B", "HuggingFaceH4/zephyr-7b-beta"],
  mmlu: ["gpt-4-1106-preview"],
  gsm8k: ["gpt-4-1106-preview"],
  synthetic: [NEWCOMER],
};

/**
 * Settings pinned for every router of a replay: k = 100, shrinkage 64 toward the category means
 * (the best average of the settings compared on RouterDC's test files in EVALUATION.md), so that a
 * replay measures learning, not tuning.
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
  data: ReplayData;
  /** The target that arrives without labels. */
  withheld: string;
  /** Share of the training prompts imported before the stream. */
  seedShare: number;
  /** Most prompts streamed after the seed (the rest of the training prompts when absent). */
  maxStream?: number;
  /** EXPLORATION_SHARE of the exploring stream. */
  share: number;
  /** Sizes of the quizzes to replay beside the streams (none when absent). */
  quiz?: readonly number[];
  /** Outcome counts of the exploring stream at which the test prompts are ranked too. */
  checkpoints?: readonly number[];
  /** Ranking settings pinned for every router (the API's names); REPLAY_SETTINGS by default. */
  settings?: Record<string, unknown>;
  seed: number;
  cacheDir: string;
  embedder?: Embedder;
  onProgress?: (phase: string, done: number, total: number) => void;
}

/** Top-pick quality (%) per group and their average. */
export interface GroupQuality {
  groups: Record<string, number>;
  average: number;
  /** Share of test prompts whose top pick is the withheld target (%), overall and per group. */
  withheldTop: number;
  withheldTopByGroup: Record<string, number>;
  /** The top pick's quality on each test prompt (for paired intervals), per group. */
  perPrompt: Record<string, number[]>;
}

/** What happened during a stream. */
export interface StreamReport {
  prompts: number;
  /** Mean quality of the targets called during the stream (%). */
  served: number;
  /** Times the withheld target was called, and of those, as an exploration, and on a trial. */
  withheldCalled: number;
  withheldExplored: number;
  withheldTrials: number;
  /** Answers that explored (any target). */
  explored: number;
  /** The test prompts ranked at each checkpoint (outcomes reported so far). */
  curve: Array<{ outcomes: number; quality: GroupQuality }>;
}

export interface ReplayResult {
  set: string;
  withheld: string;
  seed: number;
  seedPrompts: number;
  streamPrompts: number;
  testPrompts: number;
  seedOnly: GroupQuality & { servedOnStream: number };
  exploring: GroupQuality & { stream: StreamReport };
  greedy: GroupQuality & { stream: StreamReport };
  quizzed: Array<GroupQuality & { n: number }>;
  full: GroupQuality;
  /** The seed share with every score, the withheld target's included. */
  seedLabelled: GroupQuality;
  settings: Record<string, unknown>;
  seconds: number;
}

/** Runs the routers of one replay. */
export async function replay(options: ReplayOptions): Promise<ReplayResult> {
  const started = performance.now();
  const { seed, stream, without } = split(options);

  // Seed only: the new target is never known. Also what it serves on the stream's prompts.
  const seedOnly = await (async () => {
    const { quality, tops } = await routerOn(options, seed.map(without), "seed only", stream);
    const served = stream.reduce((sum, item, n) => {
      const top = tops[n];
      return sum + (top === undefined ? 0 : (item.scores[top] ?? 0));
    }, 0);
    return { ...quality, servedOnStream: (100 * served) / stream.length };
  })();

  const streamed = async (share: number, label: string, checkpoints: readonly number[] = []) => {
    const service = await openPinned(options, {
      EXPLORATION_SHARE: String(share),
      // The greedy stream is greedy: no exploration, and no new target's trials either.
      ...(share === 0 && { TRIAL_SHARE: "0" }),
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
        withheldTrials: 0,
        explored: 0,
        curve: [],
      };
      const due = new Set(checkpoints);
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
          if (answer.exploration?.trial) report.withheldTrials++;
        }
        await service.feedback({ ranking_id: answer.ranking_id, target: called, score });
        options.onProgress?.(`${label}: stream`, n + 1, stream.length);
        if (due.has(n + 1)) {
          report.curve.push({
            outcomes: n + 1,
            quality: await testQuality(service, options, `${label}: at ${n + 1}`),
          });
        }
      }
      report.served = (100 * report.served) / stream.length;
      return { ...(await testQuality(service, options, label)), stream: report };
    } finally {
      await service.close();
    }
  };
  const exploring = await streamed(options.share, "exploring", options.checkpoints);
  const greedy = await streamed(0, "greedy");

  const quizzed: ReplayResult["quizzed"] = [];
  for (const n of options.quiz ?? [])
    quizzed.push({ ...(await quizzedRouter(options, seed, without, n)), n });

  const full = (await routerOn(options, [...seed, ...stream].map(asLabel), "full information")).quality;
  const seedLabelled = (await routerOn(options, seed.map(asLabel), "seed, every score")).quality;

  return {
    set: options.data.name,
    withheld: options.withheld,
    seed: options.seed,
    seedPrompts: seed.length,
    streamPrompts: stream.length,
    testPrompts: options.data.test.length,
    seedOnly,
    exploring,
    greedy,
    quizzed,
    full,
    seedLabelled,
    settings: options.settings ?? REPLAY_SETTINGS,
    seconds: (performance.now() - started) / 1000,
  };
}

/**
 * The quiz path: the seed imported, the new target created, its quiz of `n` prompts
 * (GET /admin/targets/{name}/quiz?format=jsonl) scored with the truth and imported as it is, and
 * nothing streamed.
 */
async function quizzedRouter(
  options: ReplayOptions,
  seed: readonly ReplayItem[],
  without: (i: ReplayItem) => ImportLine,
  n: number,
): Promise<GroupQuality> {
  const service = await openPinned(options);
  try {
    await service.import(seed.map(without));
    await service.putTarget(options.withheld, { enabled: true });
    const truth = new Map(seed.map((i) => [i.text, i.scores[options.withheld]]));
    const lines = (await service.quiz(options.withheld, n)).map((line) => {
      const score = truth.get(line.text);
      if (score === undefined)
        throw new Error(`the quiz named a prompt the seed does not hold: ${line.text}`);
      return { ...line, scores: { ...line.scores, [options.withheld]: score } };
    });
    await service.importLines(lines);
    return await testQuality(service, options, `quiz of ${n}`);
  } finally {
    await service.close();
  }
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
  set: string;
  withheld: string;
  seedOnly: GroupQuality;
  full: GroupQuality;
  policies: Array<GroupQuality & { policy: CeilingPolicy; served: number }>;
  settings: Record<string, unknown>;
  seconds: number;
}

/**
 * The ceiling of a replay: the same seed and stream prompts, but the one score each streamed prompt
 * reveals is chosen by a fixed policy, with hindsight where it says so, and imported as a label with
 * the prompt's own category (more than an outcome gets: it is read as a label, against no baseline).
 * The policies bound by example, not by proof: the new target's score on every prompt is the most a
 * stream can say about it, the best target with hindsight the most it can serve, a uniform draw the
 * least biased.
 */
export async function replayCeiling(
  options: Omit<ReplayOptions, "share"> & { policies?: readonly CeilingPolicy[] },
): Promise<CeilingResult> {
  const started = performance.now();
  const { seed, stream, without } = split(options);
  const targets = [...new Set([...seed, ...stream].flatMap((i) => Object.keys(i.scores)))].sort();
  const chosen = options.policies ?? (Object.keys(CEILING_POLICIES) as CeilingPolicy[]);
  const { quality: seedOnly, tops: seedTops } = await routerOn(
    options,
    seed.map(without),
    "seed only",
    chosen.includes("seed-top") ? stream : [],
  );
  const full = (await routerOn(options, [...seed, ...stream].map(asLabel), "full information")).quality;
  const policies: CeilingResult["policies"] = [];
  for (const policy of chosen) {
    const next = rng(options.seed + 7);
    const choose = (i: ReplayItem, n: number): string => {
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
    set: options.data.name,
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
  options: Pick<ReplayOptions, "cacheDir" | "embedder" | "settings" | "seed">,
  env: Record<string, string> = {},
): Promise<EvalService> {
  const service = await EvalService.start({
    cacheDir: options.cacheDir,
    embedder: options.embedder,
    env,
    // Exploration and trials draw from the replay's seed: a replay is repeatable.
    seed: options.seed + 97,
  });
  await service.pin(options.settings ?? REPLAY_SETTINGS);
  return service;
}

/**
 * A router given `lines` (imported, nothing streamed): its top-pick quality on the test prompts, and
 * its top pick on each of `rank`.
 */
async function routerOn(
  options: Pick<
    ReplayOptions,
    "cacheDir" | "embedder" | "settings" | "data" | "onProgress" | "withheld" | "seed"
  >,
  lines: readonly ImportLine[],
  label: string,
  rank: readonly ReplayItem[] = [],
): Promise<{ quality: GroupQuality; tops: Array<string | undefined> }> {
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
const asLabel = (i: ReplayItem): ImportLine => ({ text: i.text, category: i.category, scores: i.scores });

/**
 * The replay's shuffle: the seed share of the training prompts and the stream after it (at most
 * `maxStream`), and a prompt without the withheld score.
 */
function split(options: Pick<ReplayOptions, "data" | "seed" | "seedShare" | "withheld" | "maxStream">) {
  const all = shuffled(options.data.train, options.seed);
  const cut = Math.round(all.length * options.seedShare);
  const end = options.maxStream === undefined ? all.length : Math.min(all.length, cut + options.maxStream);
  const without = (i: ReplayItem): ImportLine => ({
    text: i.text,
    category: i.category,
    scores: Object.fromEntries(Object.entries(i.scores).filter(([t]) => t !== options.withheld)),
  });
  return { seed: all.slice(0, cut), stream: all.slice(cut, end), without };
}

/**
 * Every test prompt sent to POST /rank: the quality of the target ranked first, per group and
 * averaged over the groups, and how often the withheld target came first.
 */
async function testQuality(
  service: EvalService,
  options: Pick<ReplayOptions, "data" | "onProgress" | "withheld">,
  label: string,
): Promise<GroupQuality> {
  const { data, withheld } = options;
  const groups: Record<string, number> = {};
  const perPrompt: Record<string, number[]> = {};
  const withheldTopByGroup: Record<string, number> = {};
  let first = 0;
  await service.embedder.embed(data.test.map((i) => i.text));
  for (const group of data.groups) {
    const items = data.test.filter((i) => i.group === group);
    const qualities: number[] = [];
    let firstHere = 0;
    for (const [n, item] of items.entries()) {
      const top = (await service.rank(item.text))[0]?.target;
      qualities.push(top === undefined ? 0 : (item.scores[top] ?? 0));
      if (top !== undefined && top === withheld) firstHere++;
      options.onProgress?.(`${label}: ${group}`, n + 1, items.length);
    }
    perPrompt[group] = qualities;
    groups[group] = (100 * qualities.reduce((a, b) => a + b, 0)) / Math.max(items.length, 1);
    withheldTopByGroup[group] = (100 * firstHere) / Math.max(items.length, 1);
    first += firstHere;
  }
  const average = data.groups.reduce((s, g) => s + (groups[g] as number), 0) / data.groups.length;
  return {
    groups,
    average,
    withheldTop: (100 * first) / Math.max(data.test.length, 1),
    withheldTopByGroup,
    perPrompt,
  };
}

/** The two ends of a replay's gap. */
type Gap = { seedOnly: GroupQuality; full: GroupQuality };

/** Share of the gap between seed only and full information that a router closes. */
export function gapRecovered(r: Gap, router: Pick<GroupQuality, "average">): number {
  const gap = r.full.average - r.seedOnly.average;
  return gap === 0 ? Number.NaN : (router.average - r.seedOnly.average) / gap;
}

/**
 * A 95% interval for the share of the gap `router` recovers, by a paired bootstrap: each group's test
 * prompts resampled with replacement (the same draw for every router), the group averages and the
 * share recomputed, 1,000 times; the 2.5th and 97.5th percentiles.
 */
export function gapInterval(r: Gap, router: GroupQuality, reps = 1000, seed = 1): [number, number] {
  const next = rng(seed);
  const shares: number[] = [];
  const groups = Object.keys(r.seedOnly.perPrompt);
  for (let b = 0; b < reps; b++) {
    let gained = 0;
    let gap = 0;
    for (const group of groups) {
      const base = r.seedOnly.perPrompt[group] as number[];
      const full = r.full.perPrompt[group] as number[];
      const mine = router.perPrompt[group] as number[];
      const n = base.length;
      let sBase = 0;
      let sFull = 0;
      let sRouter = 0;
      for (let i = 0; i < n; i++) {
        const j = Math.floor(next() * n);
        sBase += base[j] as number;
        sFull += full[j] as number;
        sRouter += mine[j] as number;
      }
      gained += (sRouter - sBase) / Math.max(n, 1);
      gap += (sFull - sBase) / Math.max(n, 1);
    }
    shares.push(gap === 0 ? Number.NaN : gained / gap);
  }
  const sorted = shares.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  return [at(0.025), at(0.975)];
}

const fmt = (x: number) => x.toFixed(2);
const pct = (x: number) => (Number.isNaN(x) ? "n/a" : `${(100 * x).toFixed(0)}%`);

/** The replay's table: one row per router, for each replay (withheld target and seed). */
export function replayMarkdown(results: readonly ReplayResult[], command: string, share: number): string {
  const groups = Object.keys(results[0]?.full.groups ?? {});
  const recovered = (r: ReplayResult, q: GroupQuality) => {
    const [lo, hi] = gapInterval(r, q);
    return `${pct(gapRecovered(r, q))} (${pct(lo)} to ${pct(hi)})`;
  };
  const out = [
    `\`${command}\``,
    "",
    `| withheld target | seed | router | ${groups.join(" | ")} | average | gap recovered (95% interval) | withheld ranked first (test) | served during the stream |`,
    `|---|---|---|${groups.map(() => "---|").join("")}---|---|---|---|`,
  ];
  for (const r of results) {
    const row = (name: string, q: GroupQuality, extra: string[]) =>
      `| ${r.withheld} | ${r.seed} | ${name} | ${groups.map((g) => fmt(q.groups[g] as number)).join(" | ")} | **${fmt(q.average)}** | ${extra.join(" | ")} |`;
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
      ...r.quizzed.map((q) =>
        row(`quiz of ${q.n} prompts, no stream`, q, [recovered(r, q), `${q.withheldTop.toFixed(1)}%`, ""]),
      ),
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
      `- ${r.withheld} withheld, seed ${r.seed}: ${r.seedPrompts} seed prompts, ${r.streamPrompts} streamed, ${r.testPrompts} tested; ` +
        `exploring stream called it ${e.withheldCalled} times (${e.withheldExplored} as explorations, ${e.withheldTrials} on trial; ${e.explored} explorations in all), ` +
        `greedy stream ${g.withheldCalled} times; ${r.seconds.toFixed(0)} s.`,
    );
    if (e.curve.length > 0) {
      out.push(
        `  - during the exploring stream, withheld ranked first by group (test) after ${e.curve
          .map(
            (c) =>
              `${c.outcomes} outcomes: ${Object.entries(c.quality.withheldTopByGroup)
                .map(([grp, v]) => `${grp} ${v.toFixed(0)}%`)
                .join(", ")} (gap ${pct(gapRecovered(r, c.quality))})`,
          )
          .join("; ")}`,
      );
    }
  }
  out.push("");
  return out.join("\n");
}

/** The ceiling's table. */
export function ceilingMarkdown(results: readonly CeilingResult[], command: string): string {
  const groups = Object.keys(results[0]?.full.groups ?? {});
  const out = [
    `\`${command}\``,
    "",
    `| withheld target | router | ${groups.join(" | ")} | average | gap recovered (95% interval) | withheld ranked first (test) | mean revealed score |`,
    `|---|---|${groups.map(() => "---|").join("")}---|---|---|---|`,
  ];
  for (const r of results) {
    const row = (name: string, q: GroupQuality, extra: string[]) =>
      `| ${r.withheld} | ${name} | ${groups.map((g) => fmt(q.groups[g] as number)).join(" | ")} | **${fmt(q.average)}** | ${extra.join(" | ")} |`;
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

/** The synthetic set's truth, for the report: each model's mean quality on each topic. */
export function syntheticTruth(): string {
  const topics = Object.keys(NEW_MODEL_TRUTH.generalist ?? {});
  return [
    `| model | ${topics.join(" | ")} |`,
    `|---|${topics.map(() => "---|").join("")}`,
    ...Object.entries(NEW_MODEL_TRUTH).map(
      ([m, q]) => `| ${m} | ${topics.map((t) => (q as Record<string, number>)[t]?.toFixed(2)).join(" | ")} |`,
    ),
    "",
    `The newcomer leads ${NEWCOMER_TOPIC} by 0.10 and trails the best by 0.15 everywhere else.`,
    "",
  ].join("\n");
}
