/**
 * Evaluates the router on labelled data by k-fold cross-validation, through the service's own
 * index and ranking code.
 *
 *   npm run eval -- mmlu|gsm8k|mt-bench [--data ../shared/data/routellm]
 *   npm run eval -- examples.jsonl | points.jsonl --targets targets.jsonl | wide.csv
 *   npm run eval -- synthetic      # 4 models with costs and a known best router
 *   npm run eval -- mmlu --out-of-the-box [--test-share 0.2]   # priced data through the service's API
 *   options: --folds 5 --seed 1 --k 20 --out eval-report --tune [--settings-out data/routing.json]
 *            --seeds 10   # also: each router's metric over 10 split seeds (mean, sd, min, max)
 *            --ceiling    # also: the grid's best on the reported split itself (hindsight; not a router)
 *
 * Prints a table and writes `<out>/<dataset>.md` and `<out>/<dataset>.svg`. `--tune` picks k,
 * weighting and shrinkage on a differently seeded split and writes them where the service reads them.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { progressBar } from "../../service/cli/progress.ts";
import { loadConfig } from "../../service/config.ts";
import { createEmbedder } from "../../service/embedding/factory.ts";
import { type EmbeddingFeatures, NO_FEATURES } from "../../service/embedding/features.ts";
import { withLengthFeature } from "../../service/embedding/length-feature.ts";
import { stripTemplates } from "../../service/embedding/templates.ts";
import { DEFAULT_SETTINGS, type RankingSettings } from "../../service/routing/aggregate.ts";
import { type FoldedNeighbours, foldNeighbours } from "../../service/routing/crossval.ts";
import { learnTemplates } from "../../service/templates/learner.ts";
import { readSettingsFile, writeSettingsFile } from "../../service/tuning/settings-file.ts";
import { loadDataset, loadGsm8k, loadMmlu } from "./datasets.ts";
import { DiskEmbeddingCache } from "./embedding-cache.ts";
import { evaluate, type Row } from "./evaluate.ts";
import { evaluateOutOfTheBox } from "./out-of-the-box.ts";
import { evaluatePreferences, preferencesMarkdown } from "./preferences.ts";
import {
  CEILING_POLICIES,
  type CeilingPolicy,
  type CeilingResult,
  ceilingMarkdown,
  REPLAY_SETTINGS,
  REPLAY_WITHHELD,
  type ReplayData,
  type ReplayResult,
  replay,
  replayCeiling,
  replayMarkdown,
  routeLlmReplay,
  routerDcReplay,
  syntheticReplay,
} from "./replay.ts";
import { markdown, spreadMarkdown, svg } from "./report.ts";
import { evaluateRouterDc, loadRouterDc, routerDcMarkdown, sample, TASKS } from "./routerdc.ts";
import { syntheticNModel } from "./synthetic.ts";

const GRID = {
  lengthWeight: [0, 0.1, 0.3],
  k: [10, 20, 50, 100, 200],
  power: [1, 2, 4, 8, 16],
  shrinkage: [0, 1, 2, 4, 8, 16],
  prior: ["category", "overall"] as const,
};

function metricName(r: Row): string {
  return r.apgr !== undefined ? "APGR" : r.aiq !== undefined ? "AIQ" : "top-pick quality";
}

/** Settings a grid search chose, with the objective they reached. */
interface Chosen {
  k: number;
  features: EmbeddingFeatures;
  settings: RankingSettings;
  value: number;
}

/** Chosen settings as a table row names them. */
function describe(c: Chosen): string {
  const s = c.settings;
  const f = c.features;
  const stripped =
    f.templates.prefixes.length + f.templates.suffixes.length > 0 ? ", templates stripped" : "";
  return `k=${c.k}, power ${s.power}, shrinkage ${s.shrinkage} to ${s.prior} means, length weight ${f.lengthWeight}${stripped}`;
}

/** A router configuration as the table names it. */
interface Router {
  name: string;
  features: EmbeddingFeatures;
  k: number;
  settings: RankingSettings;
  categoryHint?: boolean;
}

/** The metric a tuning run maximises: APGR on two-model data, AIQ with costs, else top-pick quality. */
function objective(r: Row): number {
  return r.apgr ?? r.aiq ?? r.topQuality;
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      data: { type: "string", default: "../shared/data/routellm" },
      targets: { type: "string" },
      folds: { type: "string", default: "5" },
      seed: { type: "string", multiple: true },
      k: { type: "string", default: "20" },
      out: { type: "string", default: "eval-report" },
      tune: { type: "boolean", default: false },
      ceiling: { type: "boolean", default: false },
      seeds: { type: "string", default: "1" },
      "settings-out": { type: "string" },
      cache: { type: "string", default: ".cache/embeddings" },
      sample: { type: "string" },
      "out-of-the-box": { type: "boolean", default: false },
      "test-share": { type: "string", default: "0.2" },
      withhold: { type: "string", multiple: true },
      set: { type: "string" },
      "max-stream": { type: "string" },
      quiz: { type: "string", multiple: true },
      checkpoints: { type: "string" },
      policy: { type: "string", multiple: true },
      share: { type: "string", default: "0.1" },
      "seed-share": { type: "string", default: "0.2" },
      battles: { type: "string", multiple: true },
      settings: { type: "string" },
    },
  });
  const arg = positionals[0];
  if (!arg)
    throw new Error("give a dataset: mmlu, gsm8k, mt-bench, routerdc, synthetic, a .jsonl or a .csv file");
  if (arg === "routerdc") return routerDc(values);
  if (arg === "replay") return replaySets(values);
  // Every command but the replay takes one seed (the replay runs once per --seed given).
  const one = { ...values, seed: values.seed?.[0] ?? "1" };
  if (arg === "preferences") return preferencesRouterDc(one);
  if (values["out-of-the-box"]) return outOfTheBox(arg, one);
  const config = loadConfig();
  const folds = Number(values.folds);
  const seed = Number(one.seed);
  const k = Number(values.k);
  const seeds = Number(values.seeds);
  if (!Number.isInteger(seeds) || seeds < 1) throw new Error("--seeds must be a whole number of at least 1");
  const dataset =
    arg === "synthetic" ? syntheticNModel() : await loadDataset(arg, values.data, values.targets);
  process.stderr.write(`${dataset.name}: ${dataset.items.length} prompts\n`);

  const embedder = await createEmbedder(config.embedder);
  const cache = new DiskEmbeddingCache(values.cache, embedder);
  const texts = dataset.items.map((i) => i.text);
  const templates = learnTemplates(texts);
  const strippable = templates.prefixes.length + templates.suffixes.length > 0;
  if (strippable) {
    process.stderr.write(
      `learned ${templates.prefixes.length} shared prefixes and ${templates.suffixes.length} suffixes\n`,
    );
  }
  const prepared = {
    plain: texts,
    stripped: strippable ? texts.map((t) => stripTemplates(t, templates)) : texts,
  };
  const base = {
    plain: await cache.embed(prepared.plain, progressBar(`embedding with ${embedder.id}`)),
    stripped: strippable
      ? await cache.embed(prepared.stripped, progressBar("embedding without templates"))
      : [],
  };
  await embedder.close();
  const maxK = Math.max(k, ...(values.tune ? GRID.k : []));
  // Neighbours per (features, split seed), found once, from the vectors the service would store.
  const neighbourCache = new Map<string, FoldedNeighbours>();
  const neighbours = async (features: EmbeddingFeatures, splitSeed: number) => {
    const strip = features.templates.prefixes.length + features.templates.suffixes.length > 0;
    const key = `${features.lengthWeight}|${strip}|${splitSeed}`;
    let found = neighbourCache.get(key);
    if (!found) {
      const source = strip ? prepared.stripped : prepared.plain;
      const vectors = (strip ? base.stripped : base.plain).map((v, i) =>
        features.lengthWeight > 0 ? withLengthFeature(v, source[i] as string, features.lengthWeight) : v,
      );
      found = await foldNeighbours(
        dataset.items,
        vectors,
        { folds, seed: splitSeed, maxK },
        progressBar(`neighbours (${key})`),
      );
      neighbourCache.set(key, found);
    }
    return found;
  };
  /** Drops the neighbours of one split (MMLU's take hundreds of MB). */
  const forget = (splitSeed: number) => {
    for (const key of neighbourCache.keys()) if (key.endsWith(`|${splitSeed}`)) neighbourCache.delete(key);
  };
  const folded = await neighbours(NO_FEATURES, seed);

  const plain: Router = { name: `kNN, plain (k=${k})`, features: NO_FEATURES, k, settings: DEFAULT_SETTINGS };
  const configs = [plain];
  const extra: Row[] = [];
  // Every router in the table, with what it takes to evaluate it again on another split.
  const routers: Router[] = [plain];
  const row = async (
    name: string,
    features: EmbeddingFeatures,
    kk: number,
    settings: RankingSettings,
    categoryHint = false,
  ) => {
    routers.push({ name, features, k: kk, settings, categoryHint });
    return evaluate(
      dataset,
      await neighbours(features, seed),
      [{ name, k: kk, settings, categoryHint }],
      seed,
    ).rows[0] as Row;
  };
  if (strippable) {
    extra.push(
      await row(
        `kNN, plain (k=${k}), learned templates stripped`,
        { ...NO_FEATURES, templates },
        k,
        DEFAULT_SETTINGS,
      ),
    );
  }
  const current = readSettingsFile(config.rank.settingsPath);
  if (current) {
    extra.push(
      await row(
        `service settings (${config.rank.settingsPath})`,
        current.features,
        current.k,
        current.settings,
      ),
    );
  }

  const twoModelData = dataset.strong !== undefined && dataset.weak !== undefined;
  /** The grid's best settings on one split, by the objective. */
  const searchGrid = async (splitSeed: number): Promise<Chosen | undefined> => {
    let best: Chosen | undefined;
    const variants = GRID.lengthWeight.flatMap((lengthWeight) => [
      { lengthWeight, templates: NO_FEATURES.templates },
      ...(strippable ? [{ lengthWeight, templates }] : []),
    ]);
    for (const features of variants) {
      const split = await neighbours(features, splitSeed);
      for (const kk of GRID.k) {
        for (const power of GRID.power) {
          for (const shrinkage of GRID.shrinkage) {
            for (const prior of GRID.prior) {
              if (shrinkage === 0 && prior === "overall") continue;
              const settings = { ...DEFAULT_SETTINGS, power, shrinkage, prior };
              const value = objective(
                evaluate(dataset, split, [{ name: "", k: kk, settings }], splitSeed, !twoModelData)
                  .rows[0] as Row,
              );
              if (!best || value > best.value) best = { k: kk, features, settings, value };
            }
          }
        }
      }
    }
    return best;
  };

  let tuned: Chosen | undefined;
  if (values.tune) {
    // Choose on a differently seeded split, report on this one, so the choice does not grade itself.
    tuned = await searchGrid(seed + 1);
    if (tuned) {
      const name = `kNN, tuned (${describe(tuned)})`;
      extra.push(await row(name, tuned.features, tuned.k, tuned.settings));
      // Callers that know a query's category can send it; the prior is then that category's means.
      if (tuned.settings.shrinkage > 0 && dataset.items.some((i) => i.category !== null)) {
        extra.push(
          await row(`${name}, caller sends the category`, tuned.features, tuned.k, tuned.settings, true),
        );
      }
    }
  }
  if (values.ceiling) {
    // The grid searched on the reported split itself: how far any setting could go, not a router.
    const best = await searchGrid(seed);
    if (best) {
      const name = `grid best on this very split, chosen with hindsight (${describe(best)}): a ceiling, not a router`;
      const config = [{ name, k: best.k, settings: best.settings }];
      extra.push(evaluate(dataset, await neighbours(best.features, seed), config, seed).rows[0] as Row);
    }
  }

  const result = evaluate(dataset, folded, configs, seed);
  result.rows.splice(configs.length, 0, ...extra);
  const command = `npm run eval -- ${process.argv.slice(2).join(" ")}`;
  let md = markdown(result, command);
  if (seeds > 1) {
    // The same routers on other splits, skipping the one tuning chose on.
    const splitSeeds: number[] = [];
    for (let s = seed; splitSeeds.length < seeds; s++)
      if (!(values.tune && s === seed + 1)) splitSeeds.push(s);
    const bySplit = routers.map((r) => ({ name: r.name, values: [] as number[] }));
    for (const s of splitSeeds) {
      for (const [i, r] of routers.entries()) {
        const one = evaluate(dataset, await neighbours(r.features, s), [r], s, !twoModelData).rows[0] as Row;
        bySplit[i]?.values.push(objective(one));
      }
      if (s !== seed) forget(s);
    }
    md += `\n\n${spreadMarkdown(metricName(result.rows[0] as Row), splitSeeds, bySplit)}`;
  }
  console.log(md);
  mkdirSync(values.out, { recursive: true });
  writeFileSync(join(values.out, `${dataset.name}.md`), `${md}\n`);
  const plot = svg(result);
  if (plot) writeFileSync(join(values.out, `${dataset.name}.svg`), plot);
  process.stderr.write(`report: ${join(values.out, `${dataset.name}.md`)}${plot ? " and .svg" : ""}\n`);

  const settingsOut = values["settings-out"] ?? config.rank.settingsPath;
  if (tuned && settingsOut === undefined) {
    process.stderr.write("tuned settings not written: give --settings-out (or set ROUTING_SETTINGS)\n");
  } else if (tuned && settingsOut !== undefined) {
    const path = settingsOut;
    const tunedRow = result.rows.find((r) => r.name.startsWith("kNN, tuned")) as Row;
    writeSettingsFile(path, {
      k: tuned.k,
      ...tuned.features,
      ...tuned.settings,
      tuned: {
        dataset: dataset.name,
        metric: metricName(tunedRow),
        value: objective(tunedRow),
        at: new Date().toISOString(),
      },
    });
    process.stderr.write(`settings written to ${path}; the service reads them at start\n`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});

/** `npm run eval -- <priced dataset> --out-of-the-box`: the service end to end, nothing set but prices. */
async function outOfTheBox(
  arg: string,
  values: {
    data?: string;
    targets?: string;
    out?: string;
    cache?: string;
    seed?: string;
    "test-share"?: string;
  },
): Promise<void> {
  const seed = Number(values.seed ?? 1);
  const testShare = Number(values["test-share"] ?? 0.2);
  if (!Number.isInteger(seed)) throw new Error("--seed must be a whole number");
  if (!(testShare > 0 && testShare < 1)) throw new Error("--test-share must be between 0 and 1");
  const dataset =
    arg === "synthetic" ? syntheticNModel() : await loadDataset(arg, values.data ?? "", values.targets);
  const result = await evaluateOutOfTheBox(dataset, {
    seed,
    testShare,
    cacheDir: values.cache ?? ".cache/embeddings",
    onProgress: phaseBars(),
  });
  const e = result.evaluation;
  const md = [
    markdown(e, `npm run eval -- ${process.argv.slice(2).join(" ")}`),
    "",
    `Trained on ${result.trained} prompts imported through the API, tested on ${e.items} held out; ` +
      `prices set (USD per 1M tokens): ${Object.entries(result.prices)
        .map(([t, p]) => `${t} ${p.toPrecision(3)}`)
        .join(", ")}.`,
    `Settings after tuning: ${JSON.stringify(result.settings)}`,
    `The service's own cross-validation (curves left out): ${JSON.stringify(withoutCurves(result.tuned))}`,
    "",
  ].join("\n");
  const out = values.out ?? "eval-report";
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, `${dataset.name}-out-of-the-box.md`), md);
  process.stdout.write(md);
}

/** A progress reporter that draws one bar per phase it is told of. */
function phaseBars(): (phase: string, done: number, total: number) => void {
  const bars = new Map<string, (done: number, total: number) => void>();
  return (phase, done, total) => {
    if (!bars.has(phase)) bars.set(phase, progressBar(phase));
    bars.get(phase)?.(done, total);
  };
}

/** A tuning run's report without its curves (a few hundred numbers that a table does not need). */
function withoutCurves(tuned: unknown): unknown {
  if (typeof tuned !== "object" || tuned === null) return tuned;
  const { curves: _curves, ...rest } = tuned as Record<string, unknown>;
  return rest;
}

/** RouterDC's train files and test files (`--sample N`: a seeded N of each test file). */
function routerDcFiles(values: { data?: string; sample?: string }) {
  const root =
    values.data === "../shared/data/routellm" || !values.data ? "../shared/data/routerdc" : values.data;
  const train = loadRouterDc(root, "train");
  let test = loadRouterDc(root, "test");
  if (values.sample !== undefined) {
    const n = Number(values.sample);
    test = Object.fromEntries(TASKS.map((t) => [t, sample(test[t], n, 1)])) as typeof test;
  }
  return { train, test };
}

/** `npm run eval -- routerdc`: the service end to end on RouterDC's train and test files. */
async function routerDc(values: {
  data?: string;
  out?: string;
  cache?: string;
  sample?: string;
}): Promise<void> {
  const { train, test } = routerDcFiles(values);
  const result = await evaluateRouterDc({
    train,
    test,
    cacheDir: values.cache ?? ".cache/embeddings",
    onProgress: phaseBars(),
  });
  const md = routerDcMarkdown(result, `npm run eval -- ${process.argv.slice(2).join(" ")}`);
  const out = values.out ?? "eval-report";
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, "routerdc.md"), md);
  process.stdout.write(md);
  process.stderr.write(`evaluation of the tuned settings: ${JSON.stringify(result.evaluation)}\n`);
}

/** The data a replay runs on: `--set routerdc` (default), `mmlu`, `gsm8k` (RouteLLM's) or `synthetic`. */
function replayData(values: { set?: string; data?: string; sample?: string }, seed: number): ReplayData {
  const set = values.set ?? "routerdc";
  if (set === "routerdc") {
    const { train, test } = routerDcFiles(values);
    return routerDcReplay(train, test);
  }
  if (set === "mmlu" || set === "gsm8k") {
    const root =
      values.data && values.data !== "../shared/data/routerdc" ? values.data : "../shared/data/routellm";
    return routeLlmReplay(set === "mmlu" ? loadMmlu(root) : loadGsm8k(root), seed);
  }
  if (set === "synthetic") return syntheticReplay(seed);
  throw new Error(`--set takes routerdc, mmlu, gsm8k or synthetic, not ${set}`);
}

/**
 * `npm run eval -- replay`: a new model learned from outcomes alone (or from a quiz), on RouterDC's
 * files, RouteLLM's MMLU or GSM8K, or the known-truth synthetic set; one replay per withheld target
 * and seed (`--seed` again for more).
 */
async function replaySets(values: {
  set?: string;
  data?: string;
  out?: string;
  cache?: string;
  sample?: string;
  seed?: string[];
  withhold?: string[];
  share?: string;
  "seed-share"?: string;
  "max-stream"?: string;
  quiz?: string[];
  checkpoints?: string;
  settings?: string;
  ceiling?: boolean;
  policy?: string[];
}): Promise<void> {
  const share = Number(values.share ?? 0.1);
  const seedShare = Number(values["seed-share"] ?? 0.2);
  const seeds = (values.seed ?? ["1"]).map(Number);
  const maxStream = values["max-stream"] === undefined ? undefined : Number(values["max-stream"]);
  if (!(share > 0 && share <= 1)) throw new Error("--share must be in (0, 1]");
  if (!(seedShare > 0 && seedShare < 1)) throw new Error("--seed-share must be between 0 and 1");
  if (seeds.some((s) => !Number.isInteger(s))) throw new Error("--seed takes whole numbers");
  for (const p of values.policy ?? []) {
    if (!(p in CEILING_POLICIES))
      throw new Error(`--policy takes ${Object.keys(CEILING_POLICIES).join(", ")}`);
  }
  const quiz = (values.quiz ?? []).map(Number);
  const checkpoints = values.checkpoints?.split(",").map(Number);
  const command = `npm run eval -- ${process.argv.slice(2).join(" ")}`;
  const set = values.set ?? "routerdc";
  const withheld = values.withhold ?? [...(REPLAY_WITHHELD[set] ?? [])];
  const common = (w: string, seed: number) => ({
    data: replayData(values, seed),
    withheld: w,
    seedShare,
    seed,
    ...(maxStream !== undefined && { maxStream }),
    ...(values.settings && { settings: JSON.parse(values.settings) as Record<string, unknown> }),
    cacheDir: values.cache ?? ".cache/embeddings",
    onProgress: phaseBars(),
  });
  if (values.ceiling) {
    const results: CeilingResult[] = [];
    for (const w of withheld) {
      for (const seed of seeds) {
        const policies = values.policy as CeilingPolicy[] | undefined;
        results.push(await replayCeiling({ ...common(w, seed), ...(policies && { policies }) }));
      }
    }
    const title = "# Replay ceiling: streams revealing one score a prompt, chosen with hindsight";
    return writeReplayReport(
      values.out,
      `replay-ceiling-${set}.md`,
      title,
      ceilingMarkdown(results, command),
      results,
    );
  }
  const results: ReplayResult[] = [];
  for (const w of withheld) {
    for (const seed of seeds) {
      results.push(await replay({ ...common(w, seed), share, quiz, ...(checkpoints && { checkpoints }) }));
    }
  }
  const title = `# Replay (${set}): a withheld model learned from outcomes`;
  writeReplayReport(values.out, `replay-${set}.md`, title, replayMarkdown(results, command, share), results);
}

/** Writes a replay's report (its table and pinned settings) to `out`, prints it, and its results as JSON to stderr. */
function writeReplayReport(
  out: string | undefined,
  file: string,
  title: string,
  table: string,
  results: ReadonlyArray<{ settings: Record<string, unknown> }>,
): void {
  const md = [
    title,
    "",
    table,
    `Settings pinned for every router: \`${JSON.stringify(results[0]?.settings ?? REPLAY_SETTINGS)}\``,
    "",
  ].join("\n");
  const dir = out ?? "eval-report";
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, file), md);
  process.stdout.write(md);
  process.stderr.write(`${JSON.stringify(results)}\n`);
}

/** `npm run eval -- preferences`: a router fed preferences only against one fed the scores. */
async function preferencesRouterDc(values: {
  data?: string;
  out?: string;
  cache?: string;
  sample?: string;
  seed?: string;
  battles?: string[];
}): Promise<void> {
  const { train, test } = routerDcFiles(values);
  const perPrompt = (values.battles ?? ["all"]).map((b) => {
    if (b === "all") return "all" as const;
    const n = Number(b);
    if (!Number.isInteger(n) || n < 1) throw new Error("--battles takes all or a whole number of at least 1");
    return n;
  });
  const result = await evaluatePreferences({
    train,
    test,
    perPrompt,
    seed: Number(values.seed ?? 1),
    cacheDir: values.cache ?? ".cache/embeddings",
    onProgress: phaseBars(),
  });
  const md = preferencesMarkdown(result, `npm run eval -- ${process.argv.slice(2).join(" ")}`);
  const out = values.out ?? "eval-report";
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, "preferences.md"), md);
  process.stdout.write(md);
}
