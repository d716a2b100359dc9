/**
 * Evaluates the router on labelled data by k-fold cross-validation, through the service's own
 * index and ranking code.
 *
 *   npm run eval -- mmlu|gsm8k|mt-bench [--data ../shared/data/routellm]
 *   npm run eval -- examples.jsonl | points.jsonl --targets targets.jsonl | wide.csv
 *   npm run eval -- synthetic      # 4 models with costs and a known best router
 *   options: --folds 5 --seed 1 --k 20 --out eval-report --tune [--settings-out data/routing.json]
 *
 * Prints a table and writes `<out>/<dataset>.md` and `<out>/<dataset>.svg`. `--tune` picks k,
 * weighting and shrinkage on a differently seeded split and writes them where the service reads them.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { loadConfig } from "../config.ts";
import { createEmbedder } from "../embedding/factory.ts";
import { withLengthFeature } from "../embedding/length-feature.ts";
import { type FoldedNeighbours, foldNeighbours } from "../eval/crossval.ts";
import { loadDataset } from "../eval/datasets.ts";
import { DiskEmbeddingCache } from "../eval/embedding-cache.ts";
import { evaluate, type Row } from "../eval/evaluate.ts";
import { markdown, svg } from "../eval/report.ts";
import { syntheticNModel } from "../eval/synthetic.ts";
import { DEFAULT_SETTINGS, type RankingSettings } from "../routing/aggregate.ts";
import { readSettingsFile, writeSettingsFile } from "../routing/settings-file.ts";

const GRID = {
  lengthWeight: [0, 0.1, 0.3],
  k: [5, 10, 20, 50, 100, 200],
  power: [1, 2, 4],
  shrinkage: [0, 1, 4, 16],
  prior: ["category", "overall"] as const,
};

function progress(label: string): (done: number, total: number) => void {
  let last = 0;
  return (done, total) => {
    const now = Date.now();
    if (done < total && now - last < 500) return;
    last = now;
    const line = `${label}: ${done}/${total} (${((done / Math.max(total, 1)) * 100).toFixed(0)}%)`;
    process.stderr.write(process.stderr.isTTY ? `\r${line}${done >= total ? "\n" : ""}` : `${line}\n`);
  };
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
      seed: { type: "string", default: "1" },
      k: { type: "string", default: "20" },
      out: { type: "string", default: "eval-report" },
      tune: { type: "boolean", default: false },
      "settings-out": { type: "string" },
      cache: { type: "string", default: ".cache/embeddings" },
    },
  });
  const arg = positionals[0];
  if (!arg) throw new Error("give a dataset: mmlu, gsm8k, mt-bench, synthetic, a .jsonl or a .csv file");
  const config = loadConfig();
  const folds = Number(values.folds);
  const seed = Number(values.seed);
  const k = Number(values.k);
  const dataset = arg === "synthetic" ? syntheticNModel() : loadDataset(arg, values.data, values.targets);
  process.stderr.write(`${dataset.name}: ${dataset.items.length} prompts\n`);

  const embedder = await createEmbedder(config.embedder);
  const texts = dataset.items.map((i) => i.text);
  const vectors = await new DiskEmbeddingCache(values.cache, embedder).embed(
    texts,
    progress(`embedding with ${embedder.id}`),
  );
  await embedder.close();
  const maxK = Math.max(k, ...(values.tune ? GRID.k : []));
  // Neighbours per (length weight, split seed), found once: the same vectors the service would store.
  const neighbourCache = new Map<string, FoldedNeighbours>();
  const neighbours = async (lengthWeight: number, splitSeed: number) => {
    const key = `${lengthWeight}|${splitSeed}`;
    let found = neighbourCache.get(key);
    if (!found) {
      const v =
        lengthWeight > 0
          ? vectors.map((x, i) => withLengthFeature(x, texts[i] as string, lengthWeight))
          : vectors;
      found = await foldNeighbours(
        dataset.items,
        v,
        { folds, seed: splitSeed, maxK },
        progress(`neighbours (length weight ${lengthWeight})`),
      );
      neighbourCache.set(key, found);
    }
    return found;
  };
  const folded = await neighbours(0, seed);

  const configs: Array<{ name: string; k: number; settings: RankingSettings }> = [
    { name: `kNN, plain (k=${k})`, k, settings: DEFAULT_SETTINGS },
  ];
  const extra: Row[] = [];
  const current = readSettingsFile(config.rank.settingsPath);
  if (current) {
    const name = `service settings (${config.rank.settingsPath})`;
    extra.push(
      evaluate(dataset, await neighbours(current.lengthWeight, seed), [{ name, ...current }], seed)
        .rows[0] as Row,
    );
  }

  let tuned: { k: number; lengthWeight: number; settings: RankingSettings; value: number } | undefined;
  if (values.tune) {
    // Choose on a differently seeded split, report on this one, so the choice does not grade itself.
    for (const lengthWeight of GRID.lengthWeight) {
      const tuneFolds = await neighbours(lengthWeight, seed + 1);
      for (const kk of GRID.k) {
        for (const power of GRID.power) {
          for (const shrinkage of GRID.shrinkage) {
            for (const prior of GRID.prior) {
              if (shrinkage === 0 && prior === "overall") continue;
              const settings = { power, shrinkage, prior, minSimilarity: 0 };
              const value = objective(
                evaluate(dataset, tuneFolds, [{ name: "", k: kk, settings }], seed).rows[0] as Row,
              );
              if (!tuned || value > tuned.value) tuned = { k: kk, lengthWeight, settings, value };
            }
          }
        }
      }
    }
    if (tuned) {
      const s = tuned.settings;
      const name = `kNN, tuned (k=${tuned.k}, power ${s.power}, shrinkage ${s.shrinkage} to ${s.prior} means, length weight ${tuned.lengthWeight})`;
      extra.push(
        evaluate(
          dataset,
          await neighbours(tuned.lengthWeight, seed),
          [{ name, k: tuned.k, settings: s }],
          seed,
        ).rows[0] as Row,
      );
    }
  }

  const result = evaluate(dataset, folded, configs, seed);
  result.rows.splice(configs.length, 0, ...extra);
  const command = `npm run eval -- ${process.argv.slice(2).join(" ")}`;
  const md = markdown(result, command);
  console.log(md);
  mkdirSync(values.out, { recursive: true });
  writeFileSync(join(values.out, `${dataset.name}.md`), `${md}\n`);
  const plot = svg(result);
  if (plot) writeFileSync(join(values.out, `${dataset.name}.svg`), plot);
  process.stderr.write(`report: ${join(values.out, `${dataset.name}.md`)}${plot ? " and .svg" : ""}\n`);

  if (tuned) {
    const path = values["settings-out"] ?? config.rank.settingsPath;
    const row = result.rows.find((r) => r.name.startsWith("kNN, tuned")) as Row;
    writeSettingsFile(path, {
      k: tuned.k,
      lengthWeight: tuned.lengthWeight,
      ...tuned.settings,
      tuned: {
        dataset: dataset.name,
        metric: row.apgr !== undefined ? "APGR" : row.aiq !== undefined ? "AIQ" : "top-pick quality",
        value: objective(row),
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
