/**
 * The opt-in approximate index (`VECTOR_STORE=hnsw`) alone, against the exact index on the same
 * vectors: build time, memory, search latency and recall@k. The vectors are those of bench/rank.ts
 * (512-d, 500 topics, each example its topic's centre plus wide noise); the queries are drawn alike.
 *
 *   npx tsx bench/hnsw.ts --n 1000000
 *   npx tsx bench/hnsw.ts --n 100000 --expansion-search 64
 *
 * Prints: the build (upserts of 10,000, as a start-up fill gives them) and its rate, the process's
 * resident memory, p50/p99 of HnswIndex.search and of the exact QuantizedScanIndex.search, and
 * recall@k (the share of the exact top k the graph returns).
 */
import { parseArgs } from "node:util";
import { normalize } from "../service/embedding/embedder.ts";
import { rng } from "../service/routing/crossval.ts";
import { QuantizedScanIndex } from "../service/vectors/embedded.ts";
import { DEFAULT_HNSW, HnswIndex } from "../service/vectors/hnsw.ts";
import { latencySummary } from "./stats.ts";

const { values } = parseArgs({
  options: {
    n: { type: "string", default: "1000000" },
    queries: { type: "string", default: "500" },
    k: { type: "string", default: "20" },
    "expansion-search": { type: "string", default: String(DEFAULT_HNSW.expansionSearch) },
  },
});
const N = Number(values.n);
const QUERIES = Number(values.queries);
const K = Number(values.k);
const DIM = 512;
const TOPICS = 500;
const CHUNK = 10_000;

const next = rng(N);
const centres = Array.from({ length: TOPICS }, () =>
  Float32Array.from({ length: DIM }, () => next() * 2 - 1),
);
const near = (c: Float32Array) => normalize(c.map((x) => x + (next() * 2 - 1) * 1.5));
const idOf = (i: number) => `example-${i}`;

const rssGiB = () => (process.memoryUsage().rss / 2 ** 30).toFixed(2);

const hnsw = new HnswIndex(DIM, {
  ...DEFAULT_HNSW,
  exactBelow: 0,
  expansionSearch: Number(values["expansion-search"]),
});
const exact = new QuantizedScanIndex(DIM);
console.log(
  `${N.toLocaleString("en")} vectors, ${DIM}-d; HNSW connectivity ${DEFAULT_HNSW.connectivity}, ` +
    `expansion add ${DEFAULT_HNSW.expansionAdd}, search ${values["expansion-search"]}; k ${K}; node ${process.version}`,
);

let graphMs = 0;
const started = performance.now();
for (let from = 0; from < N; from += CHUNK) {
  const records = [];
  for (let i = from; i < Math.min(N, from + CHUNK); i++) {
    records.push({ id: idOf(i), vector: near(centres[i % TOPICS] as Float32Array) });
  }
  await exact.upsert(records);
  const t = performance.now();
  await hnsw.upsert(records);
  graphMs += performance.now() - t;
  if ((from / CHUNK) % 10 === 9) {
    console.log(
      `  ${(from + CHUNK).toLocaleString("en")} in the graph after ${(graphMs / 1000).toFixed(0)} s`,
    );
  }
}
console.log(
  `build: the graph's upserts took ${(graphMs / 1000).toFixed(1)} s (${Math.round(N / (graphMs / 1000)).toLocaleString("en")} a second); ` +
    `whole fill ${((performance.now() - started) / 1000).toFixed(1)} s; resident memory ${rssGiB()} GiB ` +
    "(both indexes: HnswIndex keeps an exact scan beside its graph)",
);

const queries = Array.from({ length: QUERIES }, () =>
  near(centres[Math.floor(next() * TOPICS)] as Float32Array),
);
// Warm up both.
for (const q of queries.slice(0, 20)) {
  await hnsw.search(q, K);
  await exact.search(q, K);
}
const graphTimes: number[] = [];
const exactTimes: number[] = [];
let found = 0;
for (const q of queries) {
  let t = performance.now();
  const approx = await hnsw.search(q, K);
  graphTimes.push(performance.now() - t);
  t = performance.now();
  const truth = await exact.search(q, K);
  exactTimes.push(performance.now() - t);
  const got = new Set(approx.map((n) => n.id));
  found += truth.filter((n) => got.has(n.id)).length;
}
console.log(`search, HNSW:  ${latencySummary(graphTimes)}`);
console.log(`search, exact: ${latencySummary(exactTimes)}`);
console.log(`recall@${K}: ${(found / (QUERIES * K)).toFixed(4)} over ${QUERIES} queries`);
await hnsw.close();
await exact.close();
