/**
 * RouterDC's 7-model data (../shared/data/routerdc, see its SOURCE.md) through the service as an
 * operator would use it: the five train files imported through POST /admin/import, the service's
 * own tuning (POST /admin/settings/tune), then every test prompt sent to POST /rank; the metric is
 * the mean quality of the model ranked first, per task, and their average.
 *
 *   npm run eval -- routerdc [--data ../shared/data/routerdc] [--sample 300] [--cache .cache/embeddings]
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Embedder } from "../../service/embedding/embedder.ts";
import { shuffled } from "./datasets.ts";
import { EvalService } from "./service.ts";

export const TASKS = ["mmlu", "gsm8k", "cmmlu", "arc_challenge", "humaneval"] as const;
export type Task = (typeof TASKS)[number];

/** The reference rows of SOURCE.md (accuracy %, per task and average), as published there. */
export const REFERENCE: Array<{ name: string; tasks?: Record<Task, number>; average: number }> = [
  {
    name: "best single model (dolphin-2.9-llama3-8b)",
    tasks: { mmlu: 59.46, gsm8k: 69.81, cmmlu: 44.72, arc_challenge: 49.43, humaneval: 49.39 },
    average: 54.56,
  },
  {
    name: "best model per task, chosen on test labels",
    tasks: { mmlu: 64.59, gsm8k: 69.81, cmmlu: 51.77, arc_challenge: 57.95, humaneval: 49.39 },
    average: 58.7,
  },
  { name: "RouterDC, published (trained mDeBERTa encoder)", average: 58.54 },
  {
    name: "per-query oracle",
    tasks: { mmlu: 85.26, gsm8k: 83.32, cmmlu: 79.63, arc_challenge: 72.44, humaneval: 66.94 },
    average: 77.52,
  },
];

export interface Item {
  text: string;
  category: string;
  scores: Record<string, number>;
}

/** The train or test file of each task. */
export function loadRouterDc(root: string, split: "train" | "test"): Record<Task, Item[]> {
  const out = {} as Record<Task, Item[]>;
  for (const task of TASKS) {
    const path = join(root, `${task}_${split}.jsonl`);
    if (!existsSync(path)) throw new Error(`${path} is missing: give --data, the folder of RouterDC's files`);
    out[task] = readFileSync(path, "utf8")
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((l) => JSON.parse(l) as Item);
  }
  return out;
}

/** A seeded sample of at most `n` items (all of them when there are fewer). */
export function sample<T>(items: readonly T[], n: number, seed: number): T[] {
  if (items.length <= n) return [...items];
  return shuffled(items, seed).slice(0, n);
}

export interface RouterDcResult {
  rows: Array<{ name: string; tasks: Record<Task, number>; average: number }>;
  settings: unknown;
  evaluation: unknown;
  trained: number;
  tested: Record<Task, number>;
}

/** Top-pick quality (%) of a router per task, their average, and how often `watched` came first (%). */
export interface TopPick {
  tasks: Record<Task, number>;
  average: number;
  watchedFirst: number;
  /** The quality of the top pick on each test prompt, in the test files' order (paired comparisons). */
  perPrompt: Record<Task, number[]>;
}

/**
 * Every test prompt sent to the service's POST /rank: the mean quality of the target ranked first
 * (the top score: what a greedy caller calls), per task and averaged over the tasks.
 */
export async function topPick(
  service: EvalService,
  test: Record<Task, Item[]>,
  phase: string,
  onProgress?: (phase: string, done: number, total: number) => void,
  watched?: string,
): Promise<TopPick> {
  const tasks = {} as Record<Task, number>;
  const perPrompt = {} as Record<Task, number[]>;
  let first = 0;
  let total = 0;
  for (const task of TASKS) {
    const items = test[task];
    await service.embedder.embed(items.map((i) => i.text));
    const qualities: number[] = [];
    for (const [n, item] of items.entries()) {
      const top = (await service.rank(item.text))[0]?.target;
      qualities.push(top === undefined ? 0 : (item.scores[top] ?? 0));
      if (top !== undefined && top === watched) first++;
      onProgress?.(`${phase}: ${task}`, n + 1, items.length);
    }
    perPrompt[task] = qualities;
    tasks[task] = (100 * qualities.reduce((a, b) => a + b, 0)) / items.length;
    total += items.length;
  }
  const average = TASKS.reduce((s, t) => s + tasks[t], 0) / TASKS.length;
  return { tasks, average, watchedFirst: total === 0 ? 0 : (100 * first) / total, perPrompt };
}

/** Top-pick accuracy (%) per task of the service on `test`, after importing `train`. */
export async function evaluateRouterDc(options: {
  train: Record<Task, Item[]>;
  test: Record<Task, Item[]>;
  cacheDir: string;
  embedder?: Embedder;
  onProgress?: (phase: string, done: number, total: number) => void;
}): Promise<RouterDcResult> {
  const service = await EvalService.start(options);
  try {
    const train = TASKS.flatMap((t) => options.train[t]);
    await service.import(train);

    const before = await topPick(service, options.test, "defaults", options.onProgress);
    const status = await service.tune();
    const after = await topPick(service, options.test, "tuned", options.onProgress);
    return {
      rows: [
        { name: "this service, safe defaults (before tuning)", tasks: before.tasks, average: before.average },
        { name: "this service, after its own tuning", tasks: after.tasks, average: after.average },
      ],
      settings: status.settings,
      evaluation: status.evaluation,
      trained: train.length,
      tested: Object.fromEntries(TASKS.map((t) => [t, options.test[t].length])) as Record<Task, number>,
    };
  } finally {
    await service.close();
  }
}

/** The report: measured rows beside SOURCE.md's reference rows. */
export function routerDcMarkdown(r: RouterDcResult, command: string): string {
  const head = `| router | ${TASKS.join(" | ")} | average |\n|---|${TASKS.map(() => "---|").join("")}---|`;
  const fmt = (x: number | undefined) => (x === undefined ? "" : x.toFixed(2));
  const lines = [
    ...r.rows.map(
      (row) =>
        `| ${row.name} | ${TASKS.map((t) => fmt(row.tasks[t])).join(" | ")} | **${fmt(row.average)}** |`,
    ),
    ...REFERENCE.map(
      (row) =>
        `| reference: ${row.name} | ${TASKS.map((t) => fmt(row.tasks?.[t])).join(" | ")} | ${fmt(row.average)} |`,
    ),
  ];
  return [
    `# RouterDC (7 models, 5 tasks): top-pick accuracy %`,
    "",
    `\`${command}\` — trained on ${r.trained} prompts (the five train files), tested on ${TASKS.map((t) => `${r.tested[t]} ${t}`).join(", ")}.`,
    "",
    head,
    ...lines,
    "",
    `Settings chosen by the service: \`${JSON.stringify(r.settings)}\``,
    "",
  ].join("\n");
}
