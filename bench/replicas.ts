/**
 * One primary and two replicas as separate processes around the Qdrant stand-in (loopback), the
 * hash embedder: how fast what the primary acknowledges reaches the replicas, and what a replica's
 * /rank costs beside the primary's on the same data.
 *
 *   npx tsx bench/replicas.ts [--writes 50] [--changes 10] [--ranks 400] [--poll-ms 2000]
 *
 * Prints: write acknowledged → ranked from on every replica (p50/p99), document change (a target's
 * price) acknowledged → in force on every replica (p50/p99, against the poll interval), /rank
 * latency on the primary and on a replica, 8 requests at a time, same queries, same data; then,
 * under 32 connections of /rank across the two replicas, the non-2xx answers through a switch to
 * learned templates, a kill -9 of the primary and its restart.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ChildServer } from "../test/support/child-server.ts";
import { call as request, until } from "../test/support/http.ts";
import { QdrantStandIn } from "../tools/qdrant-stand-in/server.ts";
import { latencySummary } from "./stats.ts";

const { values } = parseArgs({
  options: {
    writes: { type: "string", default: "50" },
    changes: { type: "string", default: "10" },
    ranks: { type: "string", default: "400" },
    "poll-ms": { type: "string", default: "2000" },
  },
});
const TOKEN = "replicas-benchmark-admin-token";
const POLL_MS = Number(values["poll-ms"]);

/** A call with this benchmark's admin token (sent on every call; public routes ignore it). */
const call = (url: string, method: string, path: string, body?: unknown) =>
  request(url, method, path, body, TOKEN);

const qdrant = await new QdrantStandIn({ contract: false }).start();
const dir = mkdtempSync(join(tmpdir(), "bench-replicas-"));
// Prompts longer than the input limit with shared boilerplate: what learned templates strip.
const common = { EMBEDDER: "hash", VECTOR_STORE: "qdrant", QDRANT_URL: qdrant.url, EMBED_MAX_TOKENS: "32" };
const PREFIX =
  "You are an expert assistant. Read each example carefully before answering. Example one: the " +
  "capital of France is Paris. Example two: water boils at one hundred degrees. Now the question.\nQuestion: ";
const SUFFIX = "\nThink step by step, check the result twice, and end with the line 'The answer is'.";
const SUBJECTS = ["python code", "french poetry", "tax law", "baking bread", "chess openings", "jazz piano"];
const primaryEnv = {
  ...common,
  DATABASE_PATH: join(dir, "router.db"),
  ADMIN_TOKEN: TOKEN,
  SEED_ON_EMPTY: "true",
  TUNING: "off",
  TUNE_MIN_INTERVAL_MS: "0",
};
const primary = await ChildServer.start(primaryEnv);
const replicas = await Promise.all(
  [0, 1].map(() => ChildServer.start({ ...common, ROLE: "replica", REPLICA_POLL_MS: String(POLL_MS) })),
);
try {
  for (const r of replicas) await until(async () => (await call(r.url, "GET", "/readyz")).status === 200);

  const visible: number[] = [];
  for (let i = 0; i < Number(values.writes); i++) {
    const text = `benchmark prompt number ${i} about ${["sql", "poetry", "physics", "cooking"][i % 4]} ${i * 7919}`;
    const id = `bench-${i}`;
    const ack = await call(primary.url, "POST", "/admin/examples", {
      examples: [{ id, text, scores: { "gpt-4o": 0.5 } }],
    });
    if (ack.status !== 201) throw new Error(`write ${i}: ${ack.status}`);
    const times = await Promise.all(
      replicas.map((r) =>
        until(
          async () => (await call(r.url, "POST", "/rank", { query: text, k: 1 })).body.hits?.[0]?.id === id,
        ),
      ),
    );
    visible.push(Math.max(...times));
  }

  const changed: number[] = [];
  for (let i = 0; i < Number(values.changes); i++) {
    const before = await Promise.all(
      replicas.map(async (r) => (await call(r.url, "GET", "/readyz")).body.document.version),
    );
    const put = await call(primary.url, "PUT", "/admin/targets/gpt-4o", { input_price_per_mtok: 1 + i });
    if (put.status !== 200) throw new Error(`change ${i}: ${put.status}`);
    const times = await Promise.all(
      replicas.map((r, j) =>
        until(
          async () => (await call(r.url, "GET", "/readyz")).body.document.version > (before[j] as number),
        ),
      ),
    );
    changed.push(Math.max(...times));
  }

  const queries = Array.from(
    { length: Number(values.ranks) },
    (_, i) => `which model for question ${i % 50}`,
  );
  const latency = async (url: string) => {
    const ms: number[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < queries.length) {
          const q = queries[next++] as string;
          const t0 = performance.now();
          const res = await call(url, "POST", "/rank", { query: q });
          if (res.status !== 200) throw new Error(`rank: ${res.status}`);
          ms.push(performance.now() - t0);
        }
      }),
    );
    return ms;
  };
  await latency(primary.url); // warm-up, both sides
  await latency(replicas[0]?.url as string);
  const onPrimary = await latency(primary.url);
  const onReplica = await latency(replicas[0]?.url as string);

  // Under load: 16 connections on each replica while the primary switches templates, dies, restarts.
  let loading = true;
  const answers = new Map<number | string, number>();
  const load = replicas.flatMap((r) =>
    Array.from({ length: 16 }, async (_, c) => {
      for (let i = 0; loading; i++) {
        const status = await fetch(`${r.url}/rank`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            query: `${PREFIX}a question about ${SUBJECTS[(i + c) % SUBJECTS.length]}${SUFFIX}`,
          }),
        }).then(
          async (res) => {
            await res.arrayBuffer();
            return res.status;
          },
          (err: Error) => err.message,
        );
        answers.set(status, (answers.get(status) ?? 0) + 1);
      }
    }),
  );
  const templated = Array.from({ length: 90 }, (_, i) => ({
    text: `${PREFIX}a question about ${SUBJECTS[i % SUBJECTS.length]}, case ${i % 5}${SUFFIX}`,
    scores: { "gpt-4o": i % 3 === 0 ? 0.9 : 0.3, "gpt-4o-mini": i % 3 === 1 ? 0.9 : 0.3 },
  }));
  if ((await call(primary.url, "POST", "/admin/examples", { examples: templated })).status !== 201)
    throw new Error("templated");
  const tuning = await call(primary.url, "POST", "/admin/settings/tune");
  if (tuning.status !== 202) throw new Error(`tune: ${tuning.status} ${JSON.stringify(tuning.body)}`);
  let switched = false;
  for (let i = 0; i < 600; i++) {
    const s = (await call(primary.url, "GET", "/admin/settings")).body;
    if (s.tuning === "idle" && s.last_run?.outcome) {
      switched = s.evaluation?.templates?.switched === true;
      break;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  await new Promise((r) => setTimeout(r, 2 * POLL_MS));
  // Which embedder each replica ranks with now: the primary's, learned templates included.
  const primaryEmbedder = (await call(primary.url, "POST", "/rank", { query: "x" })).body.embedder;
  const followed = await Promise.all(
    replicas.map(
      async (r) => (await call(r.url, "POST", "/rank", { query: "x" })).body.embedder === primaryEmbedder,
    ),
  );
  primary.kill("SIGKILL");
  await primary.exit();
  await new Promise((r) => setTimeout(r, 2 * POLL_MS));
  const restarted = await ChildServer.start(primaryEnv);
  await new Promise((r) => setTimeout(r, 2 * POLL_MS));
  loading = false;
  await Promise.all(load);
  restarted.kill("SIGTERM");
  await restarted.exit();

  console.log(`write acknowledged -> ranked from on both replicas:  ${latencySummary(visible)}`);
  console.log(
    `document change -> in force on both replicas:        ${latencySummary(changed)}  (REPLICA_POLL_MS=${POLL_MS})`,
  );
  console.log(`/rank on the primary (8 at a time):                  ${latencySummary(onPrimary)}`);
  console.log(`/rank on a replica (8 at a time):                    ${latencySummary(onReplica)}`);
  const total = [...answers.values()].reduce((a, b) => a + b, 0);
  const non2xx = [...answers].filter(([s]) => typeof s !== "number" || s >= 300);
  console.log(
    `32 connections across both replicas through a template switch (switched: ${switched}, to ${primaryEmbedder}; ` +
      `replicas on it: ${followed.join(", ")}), ` +
      `a kill -9 of the primary and its restart: ${total} answers, non-2xx ${JSON.stringify(Object.fromEntries(non2xx))}`,
  );
} finally {
  primary.kill("SIGTERM");
  for (const r of replicas) r.kill("SIGTERM");
  await Promise.all([primary.exit(), ...replicas.map((r) => r.exit())]);
  await qdrant.stop();
  rmSync(dir, { recursive: true, force: true });
}
