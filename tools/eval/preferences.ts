/**
 * Preferences instead of scores, on RouterDC's files: the same training prompts imported once with
 * every model's score, once as arena battles only (`format=arena`), battles generated from the scores
 * (on a prompt, the model with the higher score wins; equal scores tie). Both routers rank the same
 * test prompts with the same settings; the metric is top-pick quality, per task and averaged.
 *
 *   npm run eval -- preferences [--data ../shared/data/routerdc] [--battles all|N] [--sample N]
 *
 * `--battles all` gives each prompt a battle for every pair of models (21 for seven); a number N
 * gives it N pairs drawn at random (arena data has about one battle a prompt).
 */
import type { Embedder } from "../../service/embedding/embedder.ts";
import { rng } from "../../service/routing/crossval.ts";
import { type Item, TASKS, type Task, topPick } from "./routerdc.ts";
import { EvalService } from "./service.ts";

/** Settings pinned for both routers: k = 50, shrinkage 16 toward the category means. */
export const PREFERENCE_SETTINGS = {
  k: 50,
  power: 1,
  shrinkage: 16,
  prior: "category",
  min_similarity: 0,
  min_support: 1,
} as const;

export interface Battle {
  text: string;
  category: string;
  model_a: string;
  model_b: string;
  winner: "model_a" | "model_b" | "tie";
}

/** Battles from scores: every pair of a prompt's models (`perPrompt` "all"), or `perPrompt` random pairs. */
export function battlesFromScores(items: readonly Item[], perPrompt: "all" | number, seed: number): Battle[] {
  const next = rng(seed);
  const out: Battle[] = [];
  for (const item of items) {
    const models = Object.keys(item.scores).sort();
    const pairs: Array<[string, string]> = [];
    for (let i = 0; i < models.length; i++) {
      for (let j = i + 1; j < models.length; j++) pairs.push([models[i] as string, models[j] as string]);
    }
    const chosen =
      perPrompt === "all"
        ? pairs
        : pairs
            .map((p) => ({ p, r: next() }))
            .sort((a, b) => a.r - b.r)
            .slice(0, perPrompt)
            .map((x) => x.p);
    for (const [a, b] of chosen) {
      const sa = item.scores[a] as number;
      const sb = item.scores[b] as number;
      out.push({
        text: item.text,
        category: item.category,
        model_a: a,
        model_b: b,
        winner: sa > sb ? "model_a" : sb > sa ? "model_b" : "tie",
      });
    }
  }
  return out;
}

export interface PreferenceResult {
  battles: number;
  trained: number;
  rows: Array<{
    name: string;
    tasks: Record<Task, number>;
    average: number;
    perPrompt: Record<Task, number[]>;
  }>;
}

/**
 * A 95% interval for `b`'s average minus `a`'s (points), by a paired bootstrap: each task's test
 * prompts resampled with replacement, the same draw for both, 1,000 times.
 */
export function differenceInterval(
  a: Record<Task, number[]>,
  b: Record<Task, number[]>,
  reps = 1000,
  seed = 1,
): [number, number] {
  const next = rng(seed);
  const diffs: number[] = [];
  for (let r = 0; r < reps; r++) {
    let d = 0;
    for (const task of TASKS) {
      const n = a[task].length;
      let s = 0;
      for (let i = 0; i < n; i++) {
        const j = Math.floor(next() * n);
        s += (b[task][j] as number) - (a[task][j] as number);
      }
      d += (100 * s) / n / TASKS.length;
    }
    diffs.push(d);
  }
  diffs.sort((x, y) => x - y);
  return [diffs[Math.floor(0.025 * reps)] as number, diffs[Math.floor(0.975 * reps)] as number];
}

/** The scores-fed router and the preferences-only router on the same prompts. */
export async function evaluatePreferences(options: {
  train: Record<Task, Item[]>;
  test: Record<Task, Item[]>;
  perPrompt: Array<"all" | number>;
  seed: number;
  cacheDir: string;
  embedder?: Embedder;
  onProgress?: (phase: string, done: number, total: number) => void;
}): Promise<PreferenceResult> {
  const train = TASKS.flatMap((t) => options.train[t]);
  const rows: PreferenceResult["rows"] = [];
  let battles = 0;
  const run = async (name: string, load: (s: EvalService) => Promise<void>) => {
    const service = await EvalService.start({ cacheDir: options.cacheDir, embedder: options.embedder });
    try {
      await service.pin(PREFERENCE_SETTINGS);
      await load(service);
      const { tasks, average, perPrompt } = await topPick(service, options.test, name, options.onProgress);
      rows.push({ name, tasks, average, perPrompt });
    } finally {
      await service.close();
    }
  };
  await run("scores (every model's score on every prompt)", (s) =>
    s.import(train.map((i) => ({ text: i.text, category: i.category, scores: i.scores }))),
  );
  for (const per of options.perPrompt) {
    const generated = battlesFromScores(train, per, options.seed);
    battles += generated.length;
    await run(
      `preferences only (${per === "all" ? "every pair" : `${per} random pair${per === 1 ? "" : "s"}`} a prompt: ${generated.length} battles)`,
      (s) => s.importBattles(generated),
    );
  }
  return { battles, trained: train.length, rows };
}

export function preferencesMarkdown(r: PreferenceResult, command: string): string {
  const fmt = (x: number) => x.toFixed(2);
  const base = r.rows[0];
  const signed = (x: number) => `${x >= 0 ? "+" : ""}${fmt(x)}`;
  const against = (a: PreferenceResult["rows"][number], b: PreferenceResult["rows"][number]) => {
    const [lo, hi] = differenceInterval(a.perPrompt, b.perPrompt);
    return `${signed(b.average - a.average)} (${signed(lo)} to ${signed(hi)})`;
  };
  return [
    "# Preferences only against scores (RouterDC's files, top-pick quality %)",
    "",
    `\`${command}\` — ${r.trained} training prompts.`,
    "",
    `| router | ${TASKS.join(" | ")} | average | against scores (95% interval) |`,
    `|---|${TASKS.map(() => "---|").join("")}---|---|`,
    ...r.rows.map(
      (row) =>
        `| ${row.name} | ${TASKS.map((t) => fmt(row.tasks[t])).join(" | ")} | **${fmt(row.average)}** | ${
          base && row !== base ? against(base, row) : ""
        } |`,
    ),
    "",
    `Settings pinned for both: \`${JSON.stringify(PREFERENCE_SETTINGS)}\``,
    "",
  ].join("\n");
}
