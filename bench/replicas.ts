/**
 * One primary and two replicas as separate processes around the Qdrant stand-in (loopback), the
 * hash embedder: how fast what the primary acknowledges reaches the replicas, and what a replica's
 * /rank costs beside the primary's on the same data.
 *
 *   npx tsx bench/replicas.ts [--writes 50] [--changes 10] [--ranks 400] [--poll-ms 2000]
 *
 * Prints: write acknowledged → ranked from on every replica (p50/p99), document change (a target's
 * price) acknowledged → in force on every replica (p50/p99, against the poll interval), and /rank
 * latency on the primary and on a replica, 8 requests at a time, same queries, same data.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ChildServer } from "../test/support/child-server.ts";
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

async function call(
  url: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: any }> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { "content-type": "application/json", authorization: `Bearer ${TOKEN}` },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  return { status: res.status, json: await res.json() };
}

async function until(check: () => Promise<boolean>): Promise<number> {
  const t0 = performance.now();
  while (!(await check())) await new Promise((r) => setTimeout(r, 5));
  return performance.now() - t0;
}

const qdrant = await new QdrantStandIn({ contract: false }).start();
const dir = mkdtempSync(join(tmpdir(), "bench-replicas-"));
const common = { EMBEDDER: "hash", VECTOR_STORE: "qdrant", QDRANT_URL: qdrant.url };
const primary = await ChildServer.start({
  ...common,
  DATABASE_PATH: join(dir, "router.db"),
  ADMIN_TOKEN: TOKEN,
  SEED_ON_EMPTY: "true",
  TUNING: "off",
});
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
          async () => (await call(r.url, "POST", "/rank", { query: text, k: 1 })).json.hits?.[0]?.id === id,
        ),
      ),
    );
    visible.push(Math.max(...times));
  }

  const changed: number[] = [];
  for (let i = 0; i < Number(values.changes); i++) {
    const before = await Promise.all(
      replicas.map(async (r) => (await call(r.url, "GET", "/readyz")).json.document.version),
    );
    const put = await call(primary.url, "PUT", "/admin/targets/gpt-4o", { input_price_per_mtok: 1 + i });
    if (put.status !== 200) throw new Error(`change ${i}: ${put.status}`);
    const times = await Promise.all(
      replicas.map((r, j) =>
        until(
          async () => (await call(r.url, "GET", "/readyz")).json.document.version > (before[j] as number),
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

  console.log(`write acknowledged -> ranked from on both replicas:  ${latencySummary(visible)}`);
  console.log(
    `document change -> in force on both replicas:        ${latencySummary(changed)}  (REPLICA_POLL_MS=${POLL_MS})`,
  );
  console.log(`/rank on the primary (8 at a time):                  ${latencySummary(onPrimary)}`);
  console.log(`/rank on a replica (8 at a time):                    ${latencySummary(onReplica)}`);
} finally {
  primary.kill("SIGTERM");
  for (const r of replicas) r.kill("SIGTERM");
  await Promise.all([primary.exit(), ...replicas.map((r) => r.exit())]);
  await qdrant.stop();
  rmSync(dir, { recursive: true, force: true });
}
