import { LocalEmbedder } from "./service/embedding/local.ts";
import { foldNeighbours, predict } from "./service/eval/crossval.ts";
import { loadDataset } from "./service/eval/datasets.ts";
import { DiskEmbeddingCache } from "./service/eval/embedding-cache.ts";
import { twoModel } from "./service/eval/metrics.ts";

const root = "/work/shared/data/routellm";
const embedder = await LocalEmbedder.create({ batchSize: 64, maxInputTokens: 256 });
for (const name of (process.argv[2] ?? "mt-bench,gsm8k,mmlu").split(",")) {
  const d = loadDataset(name, root);
  const cache = new DiskEmbeddingCache(".cache/embeddings", embedder);
  const t = performance.now();
  const vectors = await cache.embed(
    d.items.map((i) => i.text),
    (a, b) => {
      if (a % 2048 < 256) process.stderr.write(`${name} ${a}/${b}\n`);
    },
  );
  console.log(name, "embedded in", ((performance.now() - t) / 1000).toFixed(1), "s");
  const folded = await foldNeighbours(d.items, vectors, { folds: 5, seed: 1, maxK: 200 });
  const S = d.items.map((i) => i.scores[d.strong!]!),
    W = d.items.map((i) => i.scores[d.weak!]!);
  for (const k of [10, 20, 50, 100])
    for (const power of [1, 4])
      for (const shrinkage of [0, 1, 4])
        for (const prior of ["category", "overall"] as const) {
          if (shrinkage === 0 && prior === "overall") continue;
          const preds = predict(d.items, folded, k, { power, shrinkage, prior, minSimilarity: 0 });
          const r = twoModel(
            preds.map((p) => p[d.strong!]! - p[d.weak!]!),
            S,
            W,
          );
          console.log(
            name,
            `k=${k} p=${power} λ=${shrinkage} ${prior}`,
            r.apgr.toFixed(4),
            r.cpt50.toFixed(3),
            r.cpt80.toFixed(3),
          );
        }
}
await embedder.close();
