/**
 * What could lift RouterDC's average top-pick accuracy past 60? Each lever is scored on the test
 * labels themselves, so every number is an upper bound on what tuning on the train files could
 * pick (hindsight), with the service's own ranking code over the train files' vectors (texts
 * prepared and embedded as the service does, read from the evaluation's disk cache):
 *
 * - settings: every k × power × shrinkage × prior of a grid, on the model's vectors;
 * - language: the local model reads no Chinese (a run of Han characters is one unknown token), so
 *   a channel of hashed character unigrams and bigrams of the characters it cannot read is added
 *   to its vector, at a few weights;
 * - a learned linear head: ridge regression of every model's score on the vector, alone and blended
 *   with the best kNN prediction.
 *
 *   npx tsx tools/eval/routerdc-levers.ts [--data ../shared/data/routerdc] [--cache .cache/embeddings]
 *
 * 8.5 minutes on two cores once the cache holds the vectors (a first run embeds ~15,000 texts first).
 */
import { createHash } from "node:crypto";
import { parseArgs } from "node:util";
import { normalize, prepareText } from "../../service/embedding/embedder.ts";
import { type RankingSettings, rankTargets, type ScoredNeighbour } from "../../service/routing/aggregate.ts";
import { targetStats } from "../../service/routing/crossval.ts";
import { QuantizedScanIndex } from "../../service/vectors/embedded.ts";
import { type Item, loadRouterDc, TASKS, type Task } from "./routerdc.ts";
import { EvalService } from "./service.ts";

/**
 * Hashed character unigrams and bigrams (signed, `dimension` slots, unit length) of the runs of
 * letters outside the Latin script: what an English-only model's vocabulary turns into unknown
 * tokens. A text without such letters gets the zero vector.
 */
export function unreadableFeatures(text: string, dimension: number): Float32Array {
  const v = new Float32Array(dimension);
  const add = (feature: string) => {
    const h = createHash("sha1").update(feature).digest();
    const slot = h.readUInt32LE(0) % dimension;
    v[slot] = (v[slot] as number) + ((h[4] as number) & 1 ? 1 : -1);
  };
  const runs = text.normalize("NFKC").match(/[^\p{Script=Latin}\p{Script=Common}\p{Script=Inherited}\s]+/gu);
  for (const run of runs ?? []) {
    const chars = [...run];
    chars.forEach((c, i) => {
      add(`u:${c}`);
      if (i > 0) add(`b:${chars[i - 1]}${c}`);
    });
  }
  return normalize(v);
}

/**
 * Ridge regression with an unpenalised intercept: weights W ((d + 1) × m, the intercept last)
 * minimising ‖[X 1]W − Y‖² + λ‖W without its intercept row‖², by Cholesky on the normal equations.
 */
export function ridgeFit(X: readonly ArrayLike<number>[], Y: readonly ArrayLike<number>[], lambda: number) {
  const d = (X[0]?.length ?? 0) + 1;
  const m = Y[0]?.length ?? 0;
  const A = new Float64Array(d * d);
  const B = new Float64Array(d * m);
  X.forEach((row, n) => {
    const x = Float64Array.from({ length: d }, (_, i) => (i < d - 1 ? (row[i] as number) : 1));
    const y = Y[n] as ArrayLike<number>;
    for (let i = 0; i < d; i++) {
      const xi = x[i] as number;
      if (xi === 0) continue;
      for (let j = 0; j < d; j++) A[i * d + j] = (A[i * d + j] as number) + xi * (x[j] as number);
      for (let k = 0; k < m; k++) B[i * m + k] = (B[i * m + k] as number) + xi * (y[k] as number);
    }
  });
  for (let i = 0; i < d - 1; i++) A[i * d + i] = (A[i * d + i] as number) + lambda;
  const L = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) {
      let s = A[i * d + j] as number;
      for (let k = 0; k < j; k++) s -= (L[i * d + k] as number) * (L[j * d + k] as number);
      L[i * d + j] = i === j ? Math.sqrt(Math.max(s, 1e-12)) : s / (L[j * d + j] as number);
    }
  }
  const W = new Float64Array(d * m);
  for (let k = 0; k < m; k++) {
    const z = new Float64Array(d);
    for (let i = 0; i < d; i++) {
      let s = B[i * m + k] as number;
      for (let j = 0; j < i; j++) s -= (L[i * d + j] as number) * (z[j] as number);
      z[i] = s / (L[i * d + i] as number);
    }
    for (let i = d - 1; i >= 0; i--) {
      let s = z[i] as number;
      for (let j = i + 1; j < d; j++) s -= (L[j * d + i] as number) * (W[j * m + k] as number);
      W[i * m + k] = s / (L[i * d + i] as number);
    }
  }
  return {
    predict(x: ArrayLike<number>): number[] {
      return Array.from({ length: m }, (_, k) => {
        let s = W[(d - 1) * m + k] as number;
        for (let i = 0; i < d - 1; i++) s += (x[i] as number) * (W[i * m + k] as number);
        return s;
      });
    },
  };
}

/**
 * The `k` nearest train examples of each query, through the service's exact index (as the
 * evaluation's cross-validation finds them).
 */
async function nearest(
  train: readonly Float32Array[],
  items: readonly Item[],
  queries: readonly Float32Array[],
  k: number,
): Promise<ScoredNeighbour[][]> {
  const index = new QuantizedScanIndex(train[0]?.length ?? 0);
  await index.upsert(train.map((vector, i) => ({ id: String(i), vector })));
  const out: ScoredNeighbour[][] = [];
  for (const query of queries) {
    const found = await index.search(query, k);
    out.push(
      found.map((n) => {
        const item = items[Number(n.id)] as Item;
        return { id: n.id, similarity: n.similarity, category: item.category, scores: item.scores };
      }),
    );
  }
  return out;
}

function mix(a: Float32Array, b: Float32Array, weight: number): Float32Array {
  return normalize(a.map((x, i) => x + weight * (b[i] as number)));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      data: { type: "string", default: "../shared/data/routerdc" },
      cache: { type: "string", default: ".cache/embeddings" },
    },
  });
  const train = loadRouterDc(values.data as string, "train");
  const test = loadRouterDc(values.data as string, "test");
  const trainItems = TASKS.flatMap((t) => train[t]);
  const service = await EvalService.start({ cacheDir: values.cache as string });
  const prepared = async (items: readonly Item[]) =>
    Promise.all(items.map(async (i) => (await prepareText(service.embedder, i.text)).text));
  const trainTexts = await prepared(trainItems);
  const trainVectors = await service.embedder.embed(trainTexts);
  const testTexts = {} as Record<Task, string[]>;
  const testVectors = {} as Record<Task, Float32Array[]>;
  for (const t of TASKS) {
    testTexts[t] = await prepared(test[t]);
    testVectors[t] = await service.embedder.embed(testTexts[t]);
  }
  await service.close();

  const models = Object.keys(trainItems[0]?.scores ?? {});
  const targets = models.map((name) => ({ name, enabled: true }));
  const stats = targetStats(trainItems);
  const report = (name: string, pick: (t: Task, n: number) => string | undefined) => {
    const acc = TASKS.map((t) => {
      const q = test[t].reduce((s, item, n) => s + (item.scores[pick(t, n) ?? ""] ?? 0), 0);
      return (100 * q) / test[t].length;
    });
    const average = acc.reduce((s, a) => s + a, 0) / acc.length;
    return {
      name,
      average,
      line: `${name}: ${acc.map((a, i) => `${TASKS[i]} ${a.toFixed(2)}`).join("  ")}  average ${average.toFixed(2)}`,
    };
  };
  const knnScores = (nbs: readonly ScoredNeighbour[][], k: number, settings: RankingSettings) =>
    nbs.map((list) => rankTargets(list.slice(0, k), targets, { settings, stats }));

  // Settings: a grid on the model's own vectors.
  const K = 300;
  const nbs = {} as Record<Task, ScoredNeighbour[][]>;
  for (const t of TASKS) nbs[t] = await nearest(trainVectors, trainItems, testVectors[t], K);
  const grid: Array<ReturnType<typeof report> & { k: number; settings: RankingSettings }> = [];
  for (const k of [10, 20, 50, 100, 200, 300])
    for (const power of [0, 1, 4, 8, 16])
      for (const shrinkage of [0, 4, 16, 64, 256, 1000])
        for (const prior of ["category", "overall"] as const) {
          if (shrinkage === 0 && prior === "overall") continue;
          const settings = { power, shrinkage, prior, minSimilarity: 0, minSupport: 1 };
          const ranked = Object.fromEntries(TASKS.map((t) => [t, knnScores(nbs[t], k, settings)]));
          grid.push({
            k,
            settings,
            ...report(
              `k=${k} power=${power} shrinkage=${shrinkage} prior=${prior}`,
              (t, n) => ranked[t]?.[n]?.[0]?.target,
            ),
          });
        }
  grid.sort((a, b) => b.average - a.average);
  console.log(`settings, ${grid.length} on a grid, the best five:`);
  for (const r of grid.slice(0, 5)) console.log(`  ${r.line}`);

  // Language: the unreadable characters' channel added to the model's vector, at the grid's best.
  const top = grid[0] as (typeof grid)[number];
  console.log(`language channel, at ${top.name}:`);
  for (const weight of [0, 0.5, 1, 2]) {
    const dim = trainVectors[0]?.length ?? 0;
    const tv = trainVectors.map((v, i) => mix(v, unreadableFeatures(trainTexts[i] as string, dim), weight));
    const ranked = {} as Record<Task, ReturnType<typeof knnScores>>;
    for (const t of TASKS) {
      const qv = testVectors[t].map((v, i) =>
        mix(v, unreadableFeatures(testTexts[t][i] as string, dim), weight),
      );
      ranked[t] = knnScores(await nearest(tv, trainItems, qv, top.k), top.k, top.settings);
    }
    console.log(`  ${report(`weight ${weight}`, (t, n) => ranked[t][n]?.[0]?.target).line}`);
  }

  // A learned linear head, alone and blended with the grid's best kNN prediction.
  const Y = trainItems.map((i) => models.map((m) => i.scores[m] ?? 0));
  const knn = Object.fromEntries(TASKS.map((t) => [t, knnScores(nbs[t], top.k, top.settings)])) as Record<
    Task,
    ReturnType<typeof knnScores>
  >;
  console.log(
    "linear head (ridge regression of the seven scores on the vector), alone (blend 1) and blended with that kNN:",
  );
  for (const lambda of [1, 3, 10, 30, 100]) {
    const head = ridgeFit(trainVectors, Y, lambda);
    const linear = Object.fromEntries(
      TASKS.map((t) => [t, testVectors[t].map((v) => head.predict(v))]),
    ) as Record<Task, number[][]>;
    for (const blend of [1, 0.5, 0.25, 0.1]) {
      const pick = (t: Task, n: number) => {
        const fromKnn = new Map(knn[t][n]?.map((r) => [r.target, r.score]));
        const scored = models.map(
          (m, k) => blend * (linear[t][n]?.[k] ?? 0) + (1 - blend) * (fromKnn.get(m) ?? 0),
        );
        return models[scored.indexOf(Math.max(...scored))];
      };
      console.log(`  ${report(`lambda ${lambda} blend ${blend}`, pick).line}`);
    }
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
