/**
 * The embedded index's search at scale, in process: the exact int8 scan against the sign-code
 * first pass (INDEX_COMPACT_FROM), on two kinds of data, with recall@k against the exact answer.
 *
 *   npx tsx bench/compact-scan.ts --n 1000000 --data clustered   # 100 clusters, isotropic noise
 *   npx tsx bench/compact-scan.ts --n 1000000 --data real        # the routing data's prompts
 *
 * `clustered`: unit vectors around `--clusters` random centres (noise of norm `--spread` about the
 * centre's), so that at a million each cluster holds 10,000 near-ties and the neighbours inside it
 * are decided by the noise in every dimension: hard for a first pass that reads little of each
 * vector. `real`: the local model's embeddings of the evaluation's prompts (the embedding cache
 * `npm run eval -- routerdc` leaves in .cache/embeddings, 31,640 vectors), grown to N by
 * perturbation (each copy the original plus noise of norm `--spread`), queries from 500 held-out
 * prompts perturbed the same way.
 *
 * Prints, per configuration: search p50 / p99 (ms) over `--queries` queries and recall@k (the share
 * of the exact top k found).
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { QuantizedScanIndex, type ScanOptions } from "../service/vectors/embedded.ts";

const { values } = parseArgs({
  options: {
    n: { type: "string", default: "1000000" },
    data: { type: "string", default: "clustered" },
    clusters: { type: "string", default: "100" },
    spread: { type: "string" },
    queries: { type: "string", default: "200" },
    k: { type: "string", default: "20" },
    candidates: { type: "string", default: "2048,4096,8192" },
    threads: { type: "string", default: "1,2" },
    cache: { type: "string", default: ".cache/embeddings/local_universal-sentence-encoder-lite_512.bin" },
  },
});
const N = Number(values.n);
const DIM = 512;
const K = Number(values.k);
const QUERIES = Number(values.queries);

/** Deterministic pseudo-random numbers (mulberry32). */
let state = 7;
function next(): number {
  state = (state + 0x6d2b79f5) | 0;
  let t = Math.imul(state ^ (state >>> 15), 1 | state);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const gauss = () => Math.sqrt(-2 * Math.log(next() + 1e-12)) * Math.cos(2 * Math.PI * next());
function unit(v: Float32Array): Float32Array {
  let s = 0;
  for (const x of v) s += x * x;
  const k = 1 / Math.sqrt(s);
  for (let i = 0; i < v.length; i++) v[i] = (v[i] as number) * k;
  return v;
}
/** `base` plus Gaussian noise of expected norm `spread`, as a unit vector. */
function around(base: Float32Array, spread: number): Float32Array {
  const v = new Float32Array(DIM);
  for (let j = 0; j < DIM; j++) v[j] = (base[j] as number) + (spread * gauss()) / Math.sqrt(DIM);
  return unit(v);
}

function realEmbeddings(path: string): Float32Array[] {
  const data = readFileSync(path);
  const record = 20 + DIM * 4;
  const out: Float32Array[] = [];
  for (let at = 0; at + record <= data.length; at += record) {
    const v = new Float32Array(DIM);
    new Uint8Array(v.buffer).set(data.subarray(at + 20, at + record));
    out.push(v);
  }
  return out;
}

let bases: Float32Array[];
let queryBases: Float32Array[];
let spread: number;
if (values.data === "real") {
  const all = realEmbeddings(values.cache);
  queryBases = all.slice(0, 500);
  bases = all.slice(500);
  spread = Number(values.spread ?? 0.5);
} else {
  bases = Array.from({ length: Number(values.clusters) }, () =>
    unit(Float32Array.from({ length: DIM }, gauss)),
  );
  queryBases = bases;
  spread = Number(values.spread ?? 1);
}

const vectorOf = (i: number) =>
  values.data === "real" && i < bases.length
    ? (bases[i] as Float32Array)
    : around(bases[Math.floor(next() * bases.length)] as Float32Array, spread);

const configs: Array<{ name: string; options: ScanOptions }> = [];
for (const threads of values.threads.split(",").map(Number)) {
  configs.push({ name: `exact int8 scan, ${threads} thread(s)`, options: { threads } });
}
for (const c of values.candidates.split(",").map(Number)) {
  for (const threads of values.threads.split(",").map(Number)) {
    configs.push({
      name: `sign codes, ${c} candidates, ${threads} thread(s)`,
      options: { compactFrom: 1, compactCandidates: c, threads },
    });
  }
}

// The reference: the exact scan on one thread (also the first configuration, when it is listed).
const exact = new QuantizedScanIndex(DIM);
const indexes = configs.map((c) =>
  c.options.compactFrom === undefined && (c.options.threads ?? 1) === 1
    ? exact
    : new QuantizedScanIndex(DIM, c.options),
);
const distinct = [...new Set([exact, ...indexes])];
const started = performance.now();
const BATCH = 10_000;
for (let from = 0; from < N; from += BATCH) {
  const batch = Array.from({ length: Math.min(BATCH, N - from) }, (_, j) => ({
    id: `e${from + j}`,
    vector: vectorOf(from + j),
  }));
  for (const index of distinct) await index.upsert(batch);
}
const loadSeconds = (performance.now() - started) / 1000;
const queries = Array.from({ length: QUERIES }, () =>
  around(queryBases[Math.floor(next() * queryBases.length)] as Float32Array, spread),
);
const truth = await Promise.all(
  queries.map(async (q) => new Set((await exact.search(q, K)).map((h) => h.id))),
);

const similarity = await exact.search(queries[0] as Float32Array, K);
process.stdout.write(
  `${values.data}, N = ${N.toLocaleString("en")}, ${bases.length} bases, spread ${spread}, k = ${K}, ${QUERIES} queries ` +
    `(loaded in ${loadSeconds.toFixed(0)} s; first query's top and k-th similarity ${similarity[0]?.similarity.toFixed(3)}, ${similarity[K - 1]?.similarity.toFixed(3)})\n\n`,
);
process.stdout.write("| configuration | search p50 / p99 (ms) | recall@k |\n|---|---|---|\n");
const percentile = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.floor(p * (xs.length - 1))] as number;
for (const [i, config] of configs.entries()) {
  const index = indexes[i] as QuantizedScanIndex;
  for (const q of queries.slice(0, 10)) await index.search(q, K); // warm-up
  const times: number[] = [];
  let found = 0;
  for (const [j, q] of queries.entries()) {
    const t = performance.now();
    const hits = await index.search(q, K);
    times.push(performance.now() - t);
    found += hits.filter((h) => (truth[j] as Set<string>).has(h.id)).length;
  }
  process.stdout.write(
    `| ${config.name} | ${percentile(times, 0.5).toFixed(2)} / ${percentile(times, 0.99).toFixed(2)} | ${(found / (QUERIES * K)).toFixed(4)} |\n`,
  );
  if (index !== exact) await index.close();
}
await exact.close();
