/**
 * What waits behind an import: the real server (`service/main.ts`) as a child process, the hash
 * embedder (512-d, on the server's main thread: the case where an import competes hardest), a store
 * of `--preload` examples; `GET /healthz` and `POST /rank` polled on connections of their own, idle
 * and then while a 20,000-line and a 100,000-line import run.
 *
 *   npx tsx bench/import-load.ts                   # --preload 10000 --sizes 20000,100000
 *
 * Prints, for each phase, the import's time and rate, and the latency of every request sent while
 * it ran (p50, p99, max); the bound is /healthz p99 under 100 ms and /rank p99 within 2x of idle.
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
    preload: { type: "string", default: "10000" },
    sizes: { type: "string", default: "20000,100000" },
    /** Milliseconds between one poll's answer and the next request. */
    gap: { type: "string", default: "10" },
    /** Run the server under --cpu-prof and print where its time went. */
    profile: { type: "boolean", default: false },
  },
});
const TOKEN = "import-load-bench-token";
const TARGETS = ["t-large", "t-medium", "t-small", "t-code", "t-math", "t-chat", "t-local", "t-cheap"];
const WORDS = Array.from({ length: 5000 }, (_, i) => `w${i.toString(36)}`);
let seed = 11;
const next = () => {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed / 2147483648;
};
const prompt = (topic: number) =>
  Array.from(
    { length: 12 },
    (_, j) =>
      WORDS[
        j % 2 === 0
          ? (topic * 20 + Math.floor(next() * 20)) % WORDS.length
          : Math.floor(next() * WORDS.length)
      ],
  ).join(" ");
const lines = (n: number, tag: string) =>
  Array.from({ length: n }, (_, i) => {
    const topic = i % 500;
    const scores = Object.fromEntries(TARGETS.map((t) => [t, Math.round(next() * 100) / 100]));
    return JSON.stringify({ text: `${prompt(topic)} ${tag}${i}`, category: `topic-${topic}`, scores });
  }).join("\n");

function call(
  agent: Agent,
  url: string,
  method: string,
  body?: string,
  headers: Record<string, string> = {},
) {
  return new Promise<{ status: number; ms: number; body: string }>((resolve, reject) => {
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
            ms: performance.now() - started,
            body: Buffer.concat(chunks).toString("utf8"),
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
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
};
const fmt = (xs: number[]) =>
  `p50 ${pct(xs, 50).toFixed(1)} / p99 ${pct(xs, 99).toFixed(1)} / max ${Math.max(...xs).toFixed(1)} ms (n=${xs.length})`;

/** Polls `path` until `stop()`; the latencies of the requests sent meanwhile. */
async function poll(url: string, path: "/healthz" | "/rank", stop: () => boolean): Promise<number[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const out: number[] = [];
  const gap = Number(values.gap);
  while (!stop()) {
    const r =
      path === "/rank"
        ? await call(
            agent,
            `${url}/rank`,
            "POST",
            JSON.stringify({ query: prompt(Math.floor(next() * 500)) }),
            {
              "content-type": "application/json",
            },
          )
        : await call(agent, `${url}/healthz`, "GET");
    if (r.status !== 200) throw new Error(`${path} answered ${r.status}: ${r.body.slice(0, 200)}`);
    out.push(r.ms);
    await new Promise((resolve) => setTimeout(resolve, gap));
  }
  agent.destroy();
  return out;
}

const tmp = tempDir();
const PROFILES = "bench/.cache/profiles";
const server = await ChildServer.start(
  {
    DATABASE_PATH: join(tmp.dir, "import-load.db"),
    ADMIN_TOKEN: TOKEN,
    EMBEDDER: "hash",
    HASH_EMBEDDER_DIMENSION: "512",
    SEED_ON_EMPTY: "false",
    TUNING: "off",
    LOG_LEVEL: "info",
    // The index's own settings pass through (INDEX_IMAGE=false: no image saves, no journal).
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith("INDEX_"))),
  } as Record<string, string>,
  30_000,
  values.profile ? ["--cpu-prof", `--cpu-prof-dir=${PROFILES}`] : [],
);
const admin = new Agent({ keepAlive: true, maxSockets: 1 });
const importBody = async (body: string) => {
  const r = await call(admin, `${server.url}/admin/import`, "POST", body, {
    authorization: `Bearer ${TOKEN}`,
    "content-type": "application/x-ndjson",
  });
  if (r.status !== 201) throw new Error(`import answered ${r.status}: ${r.body.slice(0, 300)}`);
  return r.ms;
};

try {
  console.log(`node ${process.version}; hash embedder 512-d; ${values.preload} examples stored first`);
  if (Number(values.preload) > 0) await importBody(lines(Number(values.preload), "p"));

  const phase = async (label: string, work: () => Promise<number | undefined>) => {
    let done = false;
    const pollers = [poll(server.url, "/healthz", () => done), poll(server.url, "/rank", () => done)];
    const ms = await work();
    done = true;
    const [health, rank] = await Promise.all(pollers);
    return { label, ms, health: health as number[], rank: rank as number[], n: 0 };
  };
  const idle = await phase("idle, 5 s", async () => {
    await new Promise((r) => setTimeout(r, 5000));
    return undefined;
  });
  const rows = [idle];
  for (const n of (values.sizes as string).split(",").map(Number)) {
    const body = lines(n, `i${n}-`);
    rows.push({
      ...(await phase(`during a ${n.toLocaleString("en")}-line import`, () => importBody(body))),
      n,
    });
  }
  console.log("\n| phase | import | GET /healthz | POST /rank | /rank p99 / idle |");
  console.log("|---|---|---|---|---|");
  for (const r of rows) {
    const rate =
      r.ms === undefined
        ? ""
        : `${(r.ms / 1000).toFixed(1)} s (${((r.n * 1000) / r.ms).toFixed(0)} a second)`;
    console.log(
      `| ${r.label} | ${rate} | ${fmt(r.health)} | ${fmt(r.rank)} | ${(pct(r.rank, 99) / pct(idle.rank, 99)).toFixed(2)}x |`,
    );
  }
} finally {
  server.kill("SIGTERM");
  await server.exit();
  tmp.remove();
}
if (values.profile) {
  const [latest] = readdirSync(PROFILES)
    .filter((f) => f.endsWith(".cpuprofile"))
    .map((f) => join(PROFILES, f))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  if (latest) summarise(`server (${latest})`, JSON.parse(readFileSync(latest, "utf8")), 30);
}
