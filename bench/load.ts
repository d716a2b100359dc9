/**
 * Sustained load on the real server (a child process, loopback only, bounded in time), the way
 * clients hit it: C connections sending unique queries to POST /rank with the local model, and
 * meanwhile single-example admin writes and 100,000-character queries, then SIGTERM under load.
 *
 *   npm run bench:load                                  # 32 connections, 60 s, local model
 *   npm run bench:load -- --connections 16 --seconds 20 --embedder hash --workers 1
 *
 * Prints: requests a second, latency percentiles and errors of each phase (the second phase adds a
 * long query every 2 s), the single writes' latencies, the long queries' latencies, and what
 * SIGTERM under load did (requests reset, exit code, time to exit).
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import { ChildServer } from "../test/support/child-server.ts";
import { tempDir } from "../test/support/harness.ts";

const { values } = parseArgs({
  options: {
    connections: { type: "string", default: "32" },
    seconds: { type: "string", default: "60" },
    embedder: { type: "string", default: "local" },
    workers: { type: "string", default: "2" },
  },
});
const CONNECTIONS = Number(values.connections);
const SECONDS = Number(values.seconds);
const TOKEN = "load-benchmark-admin-token";

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
}

let counter = 0;
/** A query nobody sent before, so the embedding cache never answers it. */
const uniqueQuery = () =>
  JSON.stringify({
    query: `please route question ${++counter} about topic ${counter % 97} and detail ${counter * 7919}`,
  });

/** C connections of unique queries for `seconds`, with `during` running alongside. */
async function phase(url: string, seconds: number, during: () => Promise<number[]>) {
  const load = autocannon({
    url: `${url}/rank`,
    connections: CONNECTIONS,
    duration: seconds,
    requests: [
      {
        method: "POST",
        headers: { "content-type": "application/json" },
        setupRequest: (req) => ({ ...req, body: uniqueQuery() }),
      },
    ],
  });
  const [result, side] = await Promise.all([load, during()]);
  return { result, side };
}

/** The server's own time for a /rank (the sum of its Server-Timing stages), in ms. */
const served: number[] = [];
function serverMs(res: Response): void {
  const header = res.headers.get("server-timing");
  if (!header) return;
  served.push([...header.matchAll(/dur=([0-9.]+)/g)].reduce((sum, m) => sum + Number(m[1]), 0));
}

/** Runs `make` every `everyMs` until `seconds` pass; returns each call's latency in ms. */
async function every(seconds: number, everyMs: number, make: () => Promise<Response>): Promise<number[]> {
  const times: number[] = [];
  const end = Date.now() + seconds * 1000 - everyMs;
  await new Promise((r) => setTimeout(r, everyMs));
  while (Date.now() < end) {
    const t = performance.now();
    const res = await make();
    await res.arrayBuffer();
    if (!res.ok) throw new Error(`side request failed: ${res.status}`);
    serverMs(res);
    times.push(performance.now() - t);
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return times;
}

const summary = (r: autocannon.Result) =>
  `${r.requests.average.toFixed(0)} req/s  p50 ${r.latency.p50} ms  p99 ${r.latency.p99} ms  ` +
  `errors ${r.errors}  timeouts ${r.timeouts}  non-2xx ${r.non2xx}`;

const tmp = tempDir();
const env = {
  DATABASE_PATH: join(tmp.dir, "load.db"),
  ADMIN_TOKEN: TOKEN,
  EMBEDDER: values.embedder as string,
  EMBED_WORKERS: values.workers as string,
  SEED_ON_EMPTY: "true",
  TUNING: "off",
  LOG_LEVEL: "warn",
};
// The "listening" line is at info; the rest of the server's log stays quiet.
const server = await ChildServer.start({ ...env, LOG_LEVEL: "info" });
const url = server.url;
console.log(
  `server ${url}, ${CONNECTIONS} connections, ${SECONDS} s a phase, embedder ${values.embedder} (${values.workers} workers)`,
);

// Warm up the model and the JIT.
await phase(url, 3, async () => []);

let written = 0;
const write = () =>
  fetch(`${url}/admin/examples`, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({
      examples: [{ text: `a written example ${++written}`, scores: { "gpt-4o": 0.8 } }],
    }),
  });
// One unbroken 100,000-character word, different each time (both ends, which truncation keeps),
// so that neither the embedding cache nor anything else has seen it.
let longs = 0;
const long = () => {
  const tag = `${++longs}q`.padEnd(8, "q");
  return fetch(`${url}/rank`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query: `${tag}${"x".repeat(100_000 - 16)}${tag}` }),
  });
};

const base = await phase(url, SECONDS, () => every(SECONDS, 2000, write));
console.log(`\nphase 1: unique queries + a single-example write every 2 s`);
console.log(`  /rank:   ${summary(base.result)}`);
console.log(
  `  writes:  n=${base.side.length}  p50 ${percentile(base.side, 50).toFixed(0)} ms  p99 ${percentile(base.side, 99).toFixed(0)} ms  max ${Math.max(...base.side).toFixed(0)} ms`,
);

served.length = 0;
const withLong = await phase(url, SECONDS, () => every(SECONDS, 2000, long));
console.log(`\nphase 2: unique queries + a 100,000-character query every 2 s`);
console.log(`  /rank:   ${summary(withLong.result)}`);
console.log(
  `  long:    n=${withLong.side.length}  p50 ${percentile(withLong.side, 50).toFixed(0)} ms  p90 ${percentile(withLong.side, 90).toFixed(0)} ms  max ${Math.max(...withLong.side).toFixed(0)} ms`,
);
console.log(
  `  long, the server's own time (Server-Timing: queue, truncation, embedding, search, aggregation): p50 ${percentile(served, 50).toFixed(0)} ms  p90 ${percentile(served, 90).toFixed(0)} ms  max ${Math.max(...served).toFixed(0)} ms`,
);
console.log(
  `  others' p99 moved: ${(((withLong.result.latency.p99 - base.result.latency.p99) / base.result.latency.p99) * 100).toFixed(1)}%`,
);

// SIGTERM under load, from clients that honour `Connection: close` as HTTP/1.1 asks (fetch's
// pool): autocannon writes its next request into a socket the server has answered with
// `Connection: close`, and counts the server closing it as a reset, though no accepted request
// was cut off. C loops of unique queries; SIGTERM after 3 s; each loop stops at its first error.
const outcomes: Record<string, number> = {};
const count = (key: string) => {
  outcomes[key] = (outcomes[key] ?? 0) + 1;
};
let stop = false;
const loops = Array.from({ length: CONNECTIONS }, async () => {
  while (!stop) {
    try {
      const res = await fetch(`${url}/rank`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: uniqueQuery(),
      });
      await res.arrayBuffer();
      count(String(res.status));
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause;
      count(cause?.code ?? (err as Error).message);
      return;
    }
  }
});
await new Promise((r) => setTimeout(r, 3000));
const signalled = Date.now();
server.kill("SIGTERM");
const code = await server.exit();
const exitedMs = Date.now() - signalled;
stop = true;
await Promise.all(loops);
console.log(
  `\nSIGTERM under load (${CONNECTIONS} keep-alive clients): exit code ${code} after ${exitedMs} ms`,
);
// A refused connection came after the listener closed: nothing was accepted there. A reset
// (ECONNRESET, "other side closed", "socket hang up") would be an accepted request cut off.
console.log(`  responses and errors by kind: ${JSON.stringify(outcomes)}`);
tmp.remove();
