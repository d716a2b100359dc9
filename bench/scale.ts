/**
 * The service at scale, measured from outside: the real server (`service/main.ts`) as a child
 * process with the hash embedder (512-d), so that its own work shows and not a model's.
 *
 *   npx tsx bench/scale.ts --n 1000000        # about 10 minutes at a million
 *   npx tsx bench/scale.ts --n 200000 --index hnsw
 *   INDEX_COMPACT_FROM=0 npx tsx bench/scale.ts --n 1000000   # INDEX_* settings reach the server
 *   INDEX_IMAGE=false npx tsx bench/scale.ts --db DB          # a kept database (--keep), no image
 *
 * Prints: the import rate through POST /admin/import (100,000 examples a call, JSONL), the
 * server's memory and the database's size per example, POST /rank latency beside GET /healthz on
 * the same keep-alive connection, and the time a restart takes to be ready: after kill -9 at the end
 * of the import, after a clean stop, and after kill -9 following 5% more examples.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { Agent, request } from "node:http";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ChildServer } from "../test/support/child-server.ts";
import { tempDir } from "../test/support/harness.ts";
import { summarise } from "./profile.ts";

const { values } = parseArgs({
  options: {
    n: { type: "string", default: "1000000" },
    queries: { type: "string", default: "500" },
    index: { type: "string", default: "embedded" },
    /** An existing database to start from (the import is skipped and the file kept). */
    db: { type: "string" },
    /** Keep the database and its index files at the end (their path is printed). */
    keep: { type: "boolean", default: false },
    /** Run the first server under --cpu-prof and print where its time went (import and queries). */
    profile: { type: "boolean", default: false },
  },
});
const N = Number(values.n);
const QUERIES = Number(values.queries);
const CHUNK = 100_000;
const TOKEN = "scale-bench-admin-token";
const TARGETS = ["t-large", "t-medium", "t-small", "t-code", "t-math", "t-chat", "t-local", "t-cheap"];
const WORDS = Array.from({ length: 5000 }, (_, i) => `w${i.toString(36)}`);

/** Deterministic pseudo-random numbers (mulberry32). */
function random(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const next = random(7);
const word = () => WORDS[Math.floor(next() * WORDS.length)] as string;
/** A prompt of 12 words around one of 500 topics (each topic has its own 20 words). */
const prompt = (topic: number) =>
  Array.from({ length: 12 }, (_, j) =>
    j % 2 === 0 ? (WORDS[(topic * 20 + Math.floor(next() * 20)) % WORDS.length] as string) : word(),
  ).join(" ");

function chunk(from: number, to: number): string {
  const lines: string[] = [];
  for (let i = from; i < to; i++) {
    const topic = i % 500;
    const scores = Object.fromEntries(TARGETS.map((t) => [t, Math.round(next() * 100) / 100]));
    lines.push(JSON.stringify({ text: `${prompt(topic)} #${i}`, category: `topic-${topic}`, scores }));
  }
  return lines.join("\n");
}

const agent = new Agent({ keepAlive: true, maxSockets: 1 });
function call(url: string, method: string, body?: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; body: string; ms: number }>((resolve, reject) => {
    const started = performance.now();
    const req = request(
      url,
      {
        method,
        agent,
        headers: body === undefined ? headers : { ...headers, "content-length": Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString("utf8"),
            ms: performance.now() - started,
          }),
        );
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number;
};
const fmt = (xs: number[]) => `p50 ${pct(xs, 50).toFixed(2)} ms  p99 ${pct(xs, 99).toFixed(2)} ms`;

async function metric(url: string, name: string): Promise<number> {
  const text = (await call(`${url}/metrics`, "GET")).body;
  const line = text.split("\n").find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return Number(line?.split(" ").at(-1));
}

async function ready(url: string): Promise<void> {
  for (;;) {
    try {
      if ((await call(`${url}/readyz`, "GET")).status === 200) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

const tmp = tempDir();
const dbPath = values.db ?? join(tmp.dir, "scale.db");
const env = {
  DATABASE_PATH: dbPath,
  ADMIN_TOKEN: TOKEN,
  EMBEDDER: "hash",
  HASH_EMBEDDER_DIMENSION: "512",
  SEED_ON_EMPTY: "false",
  TUNING: "off",
  VECTOR_STORE: values.index as string,
  LOG_LEVEL: "info",
  // The index's own settings pass through (INDEX_COMPACT_FROM=0 measures the exact scan).
  ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith("INDEX_"))),
} as Record<string, string>;
const PROFILES = "bench/.cache/profiles";
const firstStart = performance.now();
let server = await ChildServer.start(
  env,
  1_800_000,
  values.profile ? ["--cpu-prof", `--cpu-prof-dir=${PROFILES}`] : [],
);
await ready(server.url);
const firstReady = (performance.now() - firstStart) / 1000;
console.log(
  `node ${process.version}; ${N.toLocaleString("en")} examples, index ${values.index}, hash embedder 512-d`,
);

const importMs: number[] = [];
for (let from = 0; !values.db && from < N; from += CHUNK) {
  const body = chunk(from, Math.min(N, from + CHUNK));
  const res = await call(`${server.url}/admin/import`, "POST", body, {
    authorization: `Bearer ${TOKEN}`,
    "content-type": "application/x-ndjson",
  });
  if (res.status !== 201) throw new Error(`import failed: ${res.status} ${res.body.slice(0, 300)}`);
  importMs.push(res.ms);
}
const totalImport = importMs.reduce((a, b) => a + b, 0);
if (values.db)
  console.log(
    `start on ${values.db}: ready ${firstReady.toFixed(1)} s; ${said(server, "vector index loaded").join(" ")}`,
  );
if (!values.db)
  console.log(
    `import: ${(N / (totalImport / 1000)).toFixed(0)} examples/s (${(totalImport / 1000).toFixed(1)} s; ` +
      `calls of ${CHUNK.toLocaleString("en")}: ${importMs.map((m) => (m / 1000).toFixed(1)).join(", ")} s)`,
  );

const rss = await metric(server.url, "router_process_resident_memory_bytes");
const heap = await metric(server.url, "router_nodejs_heap_size_used_bytes");
const sizeOf = (suffix: string) => {
  try {
    return statSync(`${dbPath}${suffix}`).size;
  } catch {
    return 0;
  }
};
const wal = sizeOf("-wal");
const size = sizeOf("") + wal;
console.log(
  `memory: RSS ${(rss / 2 ** 20).toFixed(0)} MiB (${(rss / N).toFixed(0)} B an example), JS heap ${(heap / 2 ** 20).toFixed(0)} MiB; ` +
    `SQLite file ${(size / 2 ** 20).toFixed(0)} MiB (${(size / N).toFixed(0)} B an example; the WAL ${(wal / 2 ** 20).toFixed(0)} MiB of it)`,
);

const measure = async (label: string) => {
  const rank: number[] = [];
  const health: number[] = [];
  for (let q = 0; q < QUERIES + 50; q++) {
    const body = JSON.stringify({ query: `${prompt(Math.floor(next() * 500))} q${q}`, k: 20 });
    const r = await call(`${server.url}/rank`, "POST", body, { "content-type": "application/json" });
    if (r.status !== 200) throw new Error(`rank failed: ${r.status} ${r.body.slice(0, 200)}`);
    const h = await call(`${server.url}/healthz`, "GET");
    if (q >= 50) {
      rank.push(r.ms);
      health.push(h.ms);
    }
  }
  const diff = rank.map((r, i) => r - (health[i] as number));
  console.log(`${label}: POST /rank ${fmt(rank)};  GET /healthz ${fmt(health)};  difference ${fmt(diff)}`);
};
await measure("latency");
const compactions = said(server, "index image saved; its journal starts again");
console.log(
  `images saved while importing (each under the write lock): ${compactions.length}; ` +
    `the longest ${Math.max(0, ...compactions.map((c) => (JSON.parse(c) as { ms: number }).ms))} ms`,
);

// Killed where the import left it: the index image the last compaction saved, and the journal since.
server.kill("SIGKILL");
await server.exit();
if (values.profile) {
  const [latest] = readdirSync(PROFILES)
    .filter((f) => f.endsWith(".cpuprofile"))
    .map((f) => join(PROFILES, f))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  if (latest) summarise(`server (${latest})`, JSON.parse(readFileSync(latest, "utf8")), 30);
}
/** The server's own account of its last start and stop: how the index was loaded, and saved. */
function said(s: ChildServer, message: string): string[] {
  return s.lines
    .filter((l) => l.includes(`"message":"${message}"`))
    .map((l) => {
      const { vectors, from, ms } = JSON.parse(l) as { vectors?: number; from?: string; ms?: number };
      return JSON.stringify({ vectors, from, ms });
    });
}

// Three restarts: after the kill above (image and journal), after a clean stop (the image alone),
// and after a kill that follows 5% more examples written (the image and those writes' journal).
for (const which of [
  "after kill -9 at the end of the import",
  "after a clean stop",
  "after kill -9 following 5% more",
]) {
  const restartAt = performance.now();
  const before = server;
  server = await ChildServer.start(env, 1_800_000);
  await ready(server.url);
  console.log(
    `restart ${which}: ready ${((performance.now() - restartAt) / 1000).toFixed(1)} s after the process started; ` +
      `${said(server, "vector index loaded").join(" ")} (the stop before: image saved ${said(before, "index image saved").join(" ") || "no"})`,
  );
  // Why a start did not read the image and journal, when it did not.
  for (const l of server.lines.filter((l) =>
    /"message":"index (journal|image) (not used|is stale|unreadable|replayed to)/.test(l),
  ))
    console.log(`  the start said: ${l}`);
  if (which === "after kill -9 at the end of the import") {
    server.kill("SIGTERM");
    await server.exit();
  } else if (which === "after a clean stop") {
    await measure("latency after the restart");
    const more = Math.ceil(N / 20);
    for (let from = N; from < N + more; from += CHUNK) {
      const res = await call(
        `${server.url}/admin/import`,
        "POST",
        chunk(from, Math.min(N + more, from + CHUNK)),
        {
          authorization: `Bearer ${TOKEN}`,
          "content-type": "application/x-ndjson",
        },
      );
      if (res.status !== 201) throw new Error(`import failed: ${res.status} ${res.body.slice(0, 300)}`);
    }
    server.kill("SIGKILL");
    await server.exit();
  }
}

server.kill("SIGTERM");
await server.exit();
if (values.keep) console.log(`database kept: ${dbPath}`);
else if (!values.db) tmp.remove();
