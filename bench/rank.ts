/**
 * Latency of POST /rank over real HTTP on loopback, at N stored examples.
 *
 *   npm run bench                          # N = 10,000 and 100,000
 *   npm run bench -- --n 10000 --queries 300
 *
 * "embedding excluded": query texts whose vectors were precomputed, so the number is the service
 * itself (HTTP, validation, exact index search, SQLite read, aggregation, JSON).
 * "embedding included": fresh texts embedded by the local model on every request.
 * Synthetic examples are clustered 512-d vectors (like text embeddings, which sit in topics) with
 * 8 targets' scores, written through the same write path as the admin API.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Worker } from "node:worker_threads";
import { serve } from "@hono/node-server";
import { createApp } from "../service/app.ts";
import { loadConfig } from "../service/config.ts";
import { buildDeps } from "../service/deps.ts";
import { type Embedder, type EmbedPriority, normalize } from "../service/embedding/embedder.ts";
import { LocalEmbedder } from "../service/embedding/local.ts";
import { createLogger } from "../service/logger.ts";
import { rng } from "../service/routing/crossval.ts";
import { QuantizedScanIndex } from "../service/vectors/embedded.ts";
import { profiled } from "./profile.ts";
import { latencySummary } from "./stats.ts";

const { values } = parseArgs({
  options: {
    n: { type: "string", default: "10000,100000" },
    queries: { type: "string", default: "500" },
    "embedded-queries": { type: "string", default: "100" },
    k: { type: "string", default: "20" },
    /** embedded (exact, the default) or hnsw (the graph alone: recall against exact is printed too). */
    index: { type: "string", default: "embedded" },
    /** Profile the load and the in-process /rank loop (bench/profile.ts), printing the top functions. */
    profile: { type: "boolean", default: false },
  },
});
const SIZES = values.n.split(",").map(Number);
const QUERIES = Number(values.queries);
const EMBEDDED_QUERIES = Number(values["embedded-queries"]);
const K = Number(values.k);
const DIM = 512;
const TOPICS = 500;
const TARGETS = ["t-large", "t-medium", "t-small", "t-code", "t-math", "t-chat", "t-local", "t-cheap"];

/** Looks up precomputed vectors by text; any other text goes to the real local model. */
class BenchEmbedder implements Embedder {
  readonly id = `bench:synthetic:${DIM}`;
  readonly dimension = DIM;
  readonly maxInputTokens = 256;
  readonly known = new Map<string, Float32Array>();
  constructor(private readonly model: LocalEmbedder) {}
  async embed(texts: readonly string[], priority?: EmbedPriority) {
    const missing = texts.filter((t) => !this.known.has(t));
    const fresh = missing.length ? await this.model.embed(missing, priority) : [];
    const byText = new Map(missing.map((t, i) => [t, fresh[i] as Float32Array]));
    return texts.map((t) => this.known.get(t) ?? (byText.get(t) as Float32Array));
  }
  tokenize(text: string) {
    return this.model.tokenize(text);
  }
  health() {
    return this.model.health();
  }
  /** The model is shared by every size's service, and closed once at the end. */
  async close() {}
}

/** Example i's id: the same in the service and in the exact reference index. */
const idOf = (i: number) => `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`;

/** Latency of each request, measured by a client in its own thread (the second core). */
function timeRequests(url: string, bodies: string[]): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL("./http-client.mjs", import.meta.url), { workerData: { url, bodies } });
    worker.once("message", resolve);
    worker.once("error", reject);
  });
}

async function run(n: number, model: LocalEmbedder) {
  const dir = mkdtempSync(join(tmpdir(), "router-bench-"));
  const config = loadConfig({
    DATABASE_PATH: join(dir, "bench.db"),
    SEED_ON_EMPTY: "false",
    LOG_LEVEL: "warn",
    // Self-tuning would start on the loaded examples and take a core from the measurements.
    TUNING: "off",
    // Nothing to restart from: no index image written at the end.
    INDEX_IMAGE: "false",
    VECTOR_STORE: values.index as string,
    HNSW_EXACT_BELOW: "0",
    // The index's own settings pass through (INDEX_COMPACT_FROM=0 measures the exact scan).
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith("INDEX_"))),
  });
  const { compactFrom } = config.vectors.scan;
  const approximate = values.index !== "embedded" || (compactFrom > 0 && n >= compactFrom);
  const embedder = new BenchEmbedder(model);
  const next = rng(n);
  const centres = Array.from({ length: TOPICS }, () =>
    Float32Array.from({ length: DIM }, () => next() * 2 - 1),
  );
  const near = (c: Float32Array, spread: number) => normalize(c.map((x) => x + (next() * 2 - 1) * spread));

  const deps = await buildDeps(config, createLogger("warn"), { embedder });
  const loadStart = performance.now();
  const load = async () => {
    for (let start = 0; start < n; start += 1000) {
      const batch = [];
      for (let i = start; i < Math.min(n, start + 1000); i++) {
        const text = `synthetic example ${i}`;
        embedder.known.set(text, near(centres[i % TOPICS] as Float32Array, 1.5));
        const scores = Object.fromEntries(TARGETS.map((t) => [t, Math.round(next() * 100) / 100]));
        batch.push({ id: idOf(i), text, category: `topic-${i % TOPICS}`, scores });
      }
      await deps.examples.add(batch, "insert");
    }
  };
  await (values.profile ? profiled(`load-${n}`, load) : load());
  const loadMs = performance.now() - loadStart;

  const server = serve({ fetch: createApp(deps).fetch, port: 0, hostname: "127.0.0.1" });
  await new Promise((r) => server.once("listening", r));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  const url = `http://127.0.0.1:${port}/rank`;

  const excluded = Array.from({ length: QUERIES + 50 }, (_, q) => {
    const text = `synthetic query ${q}`;
    embedder.known.set(text, near(centres[Math.floor(next() * TOPICS)] as Float32Array, 1.5));
    return JSON.stringify({ query: text, k: K });
  });
  await timeRequests(url, excluded.slice(0, 50));
  const ex = await timeRequests(url, excluded.slice(50));

  const searchTimes: number[] = [];
  const probes: Float32Array[] = [];
  for (let q = 0; q < 200; q++) {
    const v = near(centres[Math.floor(next() * TOPICS)] as Float32Array, 1.5);
    probes.push(v);
    const t = performance.now();
    await deps.index.search(v, K);
    searchTimes.push(performance.now() - t);
  }
  let recall: string | undefined;
  if (approximate) {
    // The exact index over the same vectors is the reference: the share of its top k found.
    const exact = new QuantizedScanIndex(DIM);
    for (let start = 0; start < n; start += 5000) {
      const batch = [];
      for (let i = start; i < Math.min(n, start + 5000); i++) {
        batch.push({ id: idOf(i), vector: embedder.known.get(`synthetic example ${i}`) as Float32Array });
      }
      await exact.upsert(batch);
    }
    let hit = 0;
    for (const v of probes) {
      const want = new Set((await exact.search(v, K)).map((h) => h.id));
      for (const h of await deps.index.search(v, K)) if (want.has(h.id)) hit++;
    }
    recall = (hit / (probes.length * K)).toFixed(4);
  }

  const app = createApp(deps);
  const inProcess: number[] = [];
  const ranks = async () => {
    for (const body of excluded.slice(50, 250)) {
      const t = performance.now();
      const res = await app.request("/rank", {
        method: "POST",
        body,
        headers: { "content-type": "application/json" },
      });
      await res.json();
      inProcess.push(performance.now() - t);
    }
  };
  await (values.profile ? profiled(`rank-${n}`, ranks) : ranks());

  const included = Array.from({ length: EMBEDDED_QUERIES + 10 }, (_, q) =>
    JSON.stringify({
      query: `please help me with question ${q} about ${TARGETS[q % TARGETS.length]} and topic ${q * 7}`,
      k: K,
    }),
  );
  await timeRequests(url, included.slice(0, 10));
  const inc = await timeRequests(url, included.slice(10));

  console.log(`\nN = ${n.toLocaleString("en")} examples (${DIM}-d, ${TARGETS.length} targets, k = ${K})`);
  console.log(`  load through the write path:      ${(loadMs / 1000).toFixed(1)} s`);
  console.log(`  index.search alone (${values.index}):`.padEnd(36) + latencySummary(searchTimes));
  if (recall !== undefined) console.log(`  recall@${K} against the exact index: ${recall}`);
  console.log(`  /rank in-process (no socket):     ${latencySummary(inProcess)}`);
  console.log(`  POST /rank, embedding excluded:   ${latencySummary(ex)}`);
  console.log(`  POST /rank, embedding included:   ${latencySummary(inc)}`);

  if ("closeAllConnections" in server) server.closeAllConnections();
  server.close();
  // Everything the service started (its sync loop, feedback writer, checkpoint thread) stops.
  await deps.close();
  rmSync(dir, { recursive: true, force: true });
}

const model = await LocalEmbedder.create({ batchSize: 32, maxInputTokens: 256 });
console.log(`node ${process.version}, ${(await import("node:os")).cpus().length} cores`);
for (const n of SIZES) await run(n, model);
await model.close();
