/**
 * Self-tuning at N stored examples: how long a run takes, and what it costs /rank meanwhile.
 *
 *   npm run bench:tuning                 # N = 20,000
 *   npm run bench:tuning -- --n 5000
 *
 * Loads N synthetic examples (512-d vectors around 500 topics, 8 priced targets whose quality
 * depends on the topic) through the write path, with the hash embedder for queries so that the
 * service's own work shows. Then sends POST /rank one request at a time from a client in its own
 * thread: first idle, then while a tuning run (in its worker thread) goes on, and prints both
 * latency distributions and the run's duration and outcome.
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
import { normalize } from "../service/embedding/embedder.ts";
import { createLogger } from "../service/logger.ts";
import { rng } from "../service/routing/crossval.ts";
import { percentile } from "./stats.ts";

const { values } = parseArgs({ options: { n: { type: "string", default: "20000" } } });
const N = Number(values.n);
const DIM = 512;
const TOPICS = 500;
const PRICES: Record<string, number> = {
  "t-large": 15,
  "t-medium": 3,
  "t-small": 0.6,
  "t-code": 2,
  "t-math": 2,
  "t-chat": 0.5,
  "t-local": 0.1,
  "t-cheap": 0.2,
};
const TARGETS = Object.keys(PRICES);

function summary(samples: number[]) {
  return { p50: percentile(samples, 50), p99: percentile(samples, 99), n: samples.length };
}
const fmt = (x: { p50: number; p99: number; n: number }) =>
  `p50 ${x.p50.toFixed(2)} ms  p99 ${x.p99.toFixed(2)} ms  (n=${x.n})`;

function timeRequests(url: string, bodies: string[]): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL("./http-client.mjs", import.meta.url), { workerData: { url, bodies } });
    worker.once("message", resolve);
    worker.once("error", reject);
  });
}

const dir = mkdtempSync(join(tmpdir(), "router-bench-tuning-"));
const config = loadConfig({
  DATABASE_PATH: join(dir, "bench.db"),
  SEED_ON_EMPTY: "false",
  EMBEDDER: "hash",
  HASH_EMBEDDER_DIMENSION: String(DIM),
  TUNING: "off",
  LOG_LEVEL: "warn",
});
const deps = await buildDeps(config, createLogger("warn"));
const next = rng(N);
const centres = Array.from({ length: TOPICS }, () =>
  Float32Array.from({ length: DIM }, () => next() * 2 - 1),
);
const favoured = Array.from({ length: TOPICS }, () => TARGETS[Math.floor(next() * TARGETS.length)] as string);
const loadStart = performance.now();
// Vectors come with the examples (as a knn-router import with its embeddings does): the write path without the model.
for (let start = 0; start < N; start += 1000) {
  const batch = [];
  for (let i = start; i < Math.min(N, start + 1000); i++) {
    const topic = i % TOPICS;
    const vector = normalize((centres[topic] as Float32Array).map((x) => x + (next() * 2 - 1) * 1.5));
    const scores = Object.fromEntries(
      TARGETS.map((t) => {
        const base = Math.min(0.9, 0.3 + (PRICES[t] as number) / 30);
        return [t, next() < (t === favoured[topic] ? 0.9 : base) ? 1 : 0];
      }),
    );
    batch.push({
      text: `synthetic example ${i} ${"word ".repeat(i % 200)}`,
      category: `topic-${topic}`,
      scores,
      vector,
    });
  }
  await deps.examples.add(batch, "insert");
}
for (const [name, price] of Object.entries(PRICES)) {
  deps.targets.update(name, { inputPricePerMtok: price, outputPricePerMtok: price });
}
const loadS = (performance.now() - loadStart) / 1000;

const server = serve({ fetch: createApp(deps).fetch, port: 0, hostname: "127.0.0.1" });
await new Promise((r) => server.once("listening", r));
const address = server.address();
const url = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}/rank`;
const bodies = (count: number) =>
  Array.from({ length: count }, (_, q) =>
    JSON.stringify({ query: `synthetic example ${Math.floor(next() * N)} query ${q}` }),
  );

await timeRequests(url, bodies(100));
const idle = summary(await timeRequests(url, bodies(1000)));

const tuneStart = performance.now();
let tuning = true;
const run = deps.tuning.tuneNow().finally(() => {
  tuning = false;
});
const during: number[] = [];
while (tuning) during.push(...(await timeRequests(url, bodies(200))));
await run;
const tuneS = (performance.now() - tuneStart) / 1000;
const status = deps.tuning.status();
const busy = summary(during);

console.log(`node ${process.version}, ${(await import("node:os")).cpus().length} cores`);
console.log(`\nN = ${N.toLocaleString("en")} examples (${DIM}-d, ${TARGETS.length} priced targets)`);
console.log(`  load through the write path (vectors given): ${loadS.toFixed(1)} s`);
console.log(`  tuning run:                ${tuneS.toFixed(1)} s, outcome ${status.lastRun?.outcome}`);
console.log(`  POST /rank idle:           ${fmt(idle)}`);
console.log(`  POST /rank while tuning:   ${fmt(busy)}`);
console.log(`  p99 while tuning / idle:   ${(busy.p99 / idle.p99).toFixed(2)}x`);
console.log(`  chosen: ${JSON.stringify(status.choice)}`);
console.log(
  `  evaluation: ${JSON.stringify({ ...(status.stored?.evaluation as object), curves: undefined })}`,
);

server.close();
await deps.close();
rmSync(dir, { recursive: true, force: true });
