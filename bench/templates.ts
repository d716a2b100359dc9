/**
 * What learning templates costs at N stored examples: the re-embedding of every example without
 * the learned boilerplate, the switch to the new vectors, and /rank meanwhile.
 *
 *   npx tsx bench/templates.ts                    # N = 10,000, the local model
 *   npx tsx bench/templates.ts --n 100000
 *   npx tsx bench/templates.ts --embedder hash    # the service's own work, without the model
 *   npx tsx bench/templates.ts --quiet            # no /rank during the re-embedding: its own rate
 *
 * Stores N prompts that share a few-shot block and an instruction (their vectors supplied, so the
 * load does not embed), then does what a tuning run that tries templates does beyond tuning:
 * learns the boilerplate, embeds every example without it into the staging table (bulk priority),
 * and switches (fills the new index, catches up, promotes in one transaction, swaps). /rank is
 * sent one request at a time from a client thread over HTTP, with templated queries the model
 * embeds: idle first, then during the re-embedding and during the switch. The cross-validation a
 * trial adds is one more tuning run: see `npm run bench:tuning`.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
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
import { latencySummary, percentile } from "./stats.ts";

const { values } = parseArgs({
  options: {
    n: { type: "string", default: "10000" },
    embedder: { type: "string", default: "local" },
    // Re-embed with no /rank traffic: the re-embedding's own rate.
    quiet: { type: "boolean", default: false },
  },
});
const N = Number(values.n);
const EMBEDDER = values.embedder === "hash" ? "hash" : "local";

const FEW_SHOT =
  "The following are multiple choice questions, with answers, about general knowledge. " +
  "Question: Which planet is known as the red planet? A. Venus B. Mars C. Jupiter D. Saturn Answer: B. " +
  "Question: What is the boiling point of water at sea level in Celsius? A. 90 B. 100 C. 110 D. 120 Answer: B. " +
  "Question: Who wrote the play Romeo and Juliet? A. Dickens B. Austen C. Shakespeare D. Tolstoy Answer: C. " +
  "Question: ";
const INSTRUCTION = " Answer with the letter of the correct option only.";
const WORDS = (
  "river mountain protein contract voltage poem market enzyme treaty orbit fraction verdict " +
  "glacier algorithm sonnet tariff neuron canyon ledger mutation senate photon harvest clause " +
  "matrix ballad reef dividend virus empire magnet syntax drought lease quartz chorus pension " +
  "comet parliament isotope fresco mortgage lattice tundra statute melody bacteria inflation"
).split(" ");

const next = rng(N);
const pick = () => WORDS[Math.floor(next() * WORDS.length)] as string;
const question = () =>
  `What is the relation between the ${pick()} and the ${pick()} in ${pick()} ${pick()}? ` +
  `A. ${pick()} B. ${pick()} C. ${pick()} D. ${pick()}`;
const prompt = () => `${FEW_SHOT}${question()}${INSTRUCTION}`;

function timeRequests(url: string, bodies: string[]): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL("./http-client.mjs", import.meta.url), { workerData: { url, bodies } });
    worker.once("message", resolve);
    worker.once("error", reject);
  });
}

/** Sends /rank one at a time while `busy()` holds; returns every latency. */
async function whileBusy(url: string, busy: () => boolean): Promise<number[]> {
  const out: number[] = [];
  while (busy()) out.push(...(await timeRequests(url, bodies(20))));
  return out;
}

const bodies = (count: number) => Array.from({ length: count }, () => JSON.stringify({ query: prompt() }));

const dir = mkdtempSync(join(tmpdir(), "router-bench-templates-"));
const config = loadConfig({
  DATABASE_PATH: join(dir, "bench.db"),
  SEED_ON_EMPTY: "false",
  EMBEDDER,
  HASH_EMBEDDER_DIMENSION: "512",
  TUNING: "off",
  LOG_LEVEL: "warn",
});
const deps = await buildDeps(config, createLogger("warn"));
const dim = deps.embedder.dimension;

const loadStart = performance.now();
for (let start = 0; start < N; start += 1000) {
  const batch = [];
  for (let i = start; i < Math.min(N, start + 1000); i++) {
    const vector = normalize(Float32Array.from({ length: dim }, () => next() * 2 - 1));
    batch.push({ text: prompt(), scores: { a: next(), b: next(), c: next() }, vector });
  }
  await deps.examples.add(batch, "insert");
}
const loadS = (performance.now() - loadStart) / 1000;

const server = serve({ fetch: createApp(deps).fetch, port: 0, hostname: "127.0.0.1" });
await new Promise((r) => server.once("listening", r));
const address = server.address();
const url = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}/rank`;

await timeRequests(url, bodies(50));
const idle = await timeRequests(url, bodies(300));

const switcher = deps.templates;
const learnStart = performance.now();
const learned = await switcher.learn();
const learnMs = performance.now() - learnStart;
const candidate = switcher.embedderFor(learned);

const rssBefore = process.memoryUsage().rss;
let staging = true;
const stageStart = performance.now();
const stage = switcher.stage(candidate).finally(() => {
  staging = false;
});
const duringStage = values.quiet ? [] : await whileBusy(url, () => staging);
const embedded = await stage;
const stageS = (performance.now() - stageStart) / 1000;

let switching = true;
let rssPeak = process.memoryUsage().rss;
const sampler = setInterval(() => {
  rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
}, 100);
const switched = switcher
  .switchTo(candidate, learned, () => undefined)
  .finally(() => {
    switching = false;
  });
const duringSwitch = await whileBusy(url, () => switching);
const timing = await switched;
clearInterval(sampler);

const p99 = (xs: number[]) => percentile(xs, 99);
console.log(`node ${process.version}, ${cpus().length} cores, embedder ${deps.embedder.id}`);
console.log(`\nN = ${N.toLocaleString("en")} templated examples`);
console.log(`  load (vectors given):            ${loadS.toFixed(1)} s`);
console.log(
  `  learned: ${learned.prefixes.length} prefixes (${learned.prefixes.map((p) => p.length).join(", ")} chars), ` +
    `${learned.suffixes.length} suffixes (${learned.suffixes.map((p) => p.length).join(", ")} chars), in ${learnMs.toFixed(0)} ms`,
);
console.log(
  `  re-embed without them:           ${stageS.toFixed(1)} s for ${embedded.toLocaleString("en")} examples ` +
    `(${(embedded / stageS).toFixed(0)} a second; at 100,000: ${(((100_000 / embedded) * stageS) / 60).toFixed(1)} min at this rate)`,
);
console.log(
  `  switch:                          ${(timing.ms / 1000).toFixed(1)} s, write lock held ${timing.lockMs.toFixed(0)} ms, ` +
    `${timing.caughtUp} caught up; RSS ${(rssBefore / 2 ** 20).toFixed(0)} MiB before, peak ${(rssPeak / 2 ** 20).toFixed(0)} MiB`,
);
console.log(`  POST /rank idle:                 ${latencySummary(idle)}`);
console.log(`  POST /rank while re-embedding:   ${latencySummary(duringStage)}`);
console.log(`  POST /rank while switching:      ${latencySummary(duringSwitch)}`);
console.log(`  p99 while re-embedding / idle:   ${(p99(duringStage) / p99(idle)).toFixed(2)}x`);

server.close();
await deps.close();
rmSync(dir, { recursive: true, force: true });
