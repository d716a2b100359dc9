/**
 * Sustained load on the real server (a child process, loopback only, bounded in time), the way
 * clients hit it: C connections sending unique queries to POST /rank with the local model, and
 * meanwhile single-example admin writes and 100,000-character queries, then SIGTERM under load.
 *
 *   npm run bench:load                                  # 32 connections, 60 s, local model
 *   npm run bench:load -- --connections 16 --seconds 20 --embedder hash --workers 1 --long-worker false
 *
 * Prints: requests a second, latency percentiles and errors of each phase (the second, twice as
 * long, adds a long query every 2 s in every other 10 s window), the single writes' latencies, the
 * long queries' latencies, the others' latency in windows with and without long queries, and what
 * SIGTERM under load did (requests reset, exit code, time to exit).
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import { ChildServer } from "../test/support/child-server.ts";
import { tempDir } from "../test/support/harness.ts";
import { percentile } from "./stats.ts";

const { values } = parseArgs({
  options: {
    connections: { type: "string", default: "32" },
    seconds: { type: "string", default: "60" },
    embedder: { type: "string", default: "local" },
    workers: { type: "string", default: "2" },
    "long-worker": { type: "string", default: "true" },
    /** Characters of the query sent every 2 s in phase 2; 0 sends none (the same two phases, to see their spread). */
    "long-chars": { type: "string", default: "100000" },
  },
});
const CONNECTIONS = Number(values.connections);
const SECONDS = Number(values.seconds);
const TOKEN = "load-benchmark-admin-token";

let counter = 0;
/** A query nobody sent before, so the embedding cache never answers it. */
const uniqueQuery = () =>
  JSON.stringify({
    query: `please route question ${++counter} about topic ${counter % 97} and detail ${counter * 7919}`,
  });

/**
 * C connections of unique queries for `seconds`, with `during` running alongside; each response's
 * latency is kept with the time it came, so that windows of the phase can be compared.
 */
async function phase(url: string, seconds: number, during: () => Promise<number[]>) {
  const responses: Array<{ at: number; ms: number }> = [];
  const load = new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
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
      },
      (err, result) => (err ? reject(err) : resolve(result)),
    );
    instance.on("response", (_client, _status, _bytes, ms) => responses.push({ at: Date.now(), ms }));
  });
  const [result, side] = await Promise.all([load, during()]);
  return { result, side, responses };
}

/** The server's own time for a /rank (the sum of its Server-Timing stages), and each stage's, in ms. */
const served: number[] = [];
const stages = new Map<string, number[]>();
function serverMs(res: Response): void {
  const header = res.headers.get("server-timing");
  if (!header) return;
  let sum = 0;
  for (const m of header.matchAll(/([a-z-]+);dur=([0-9.]+)/g)) {
    const ms = Number(m[2]);
    sum += ms;
    const name = m[1] as string;
    stages.set(name, [...(stages.get(name) ?? []), ms]);
  }
  served.push(sum);
}

/**
 * Runs `make` every `everyMs` until `seconds` pass, only while `active()` says so; returns each
 * call's latency in ms.
 */
async function every(
  seconds: number,
  everyMs: number,
  make: () => Promise<Response>,
  active: () => boolean = () => true,
): Promise<number[]> {
  const times: number[] = [];
  const end = Date.now() + seconds * 1000 - everyMs;
  await new Promise((r) => setTimeout(r, everyMs));
  while (Date.now() < end) {
    if (active()) {
      const t = performance.now();
      const res = await make();
      await res.arrayBuffer();
      if (!res.ok) throw new Error(`side request failed: ${res.status}`);
      serverMs(res);
      times.push(performance.now() - t);
    }
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
  EMBED_LONG_WORKER: values["long-worker"] as string,
  SEED_ON_EMPTY: "true",
  TUNING: "off",
  LOG_LEVEL: "warn",
};
// The "listening" line is at info; the rest of the server's log stays quiet.
const server = await ChildServer.start({ ...env, LOG_LEVEL: "info" });
const url = server.url;
console.log(
  `server ${url}, ${CONNECTIONS} connections, ${SECONDS} s a phase, embedder ${values.embedder} (${values.workers} workers, long-text worker ${values["long-worker"]})`,
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
const LONG_CHARS = Number(values["long-chars"]);
const long = () => {
  const tag = `${++longs}q`.padEnd(8, "q");
  return fetch(`${url}/rank`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query: `${tag}${"x".repeat(LONG_CHARS - 16)}${tag}` }),
  });
};

const base = await phase(url, SECONDS, () => every(SECONDS, 2000, write));
console.log(`\nphase 1: unique queries + a single-example write every 2 s`);
console.log(`  /rank:   ${summary(base.result)}`);
console.log(
  `  writes:  n=${base.side.length}  p50 ${percentile(base.side, 50).toFixed(0)} ms  p99 ${percentile(base.side, 99).toFixed(0)} ms  max ${Math.max(...base.side).toFixed(0)} ms`,
);

// Phase 2 alternates windows of WINDOW_S seconds with and without the long queries, so that the
// others' latency with them is compared with the others' latency without them in the same run, on
// the same warm server (one phase against another drifts by as much as the effect).
served.length = 0;
stages.clear();
const WINDOW_S = 10;
const phase2Start = Date.now();
const windowOf = (at: number) => Math.floor((at - phase2Start) / (WINDOW_S * 1000));
const longWindow = (at: number) => windowOf(at) % 2 === 1;
const withLong = await phase(url, 2 * SECONDS, () =>
  LONG_CHARS > 0 ? every(2 * SECONDS, 2000, long, () => longWindow(Date.now())) : Promise.resolve([]),
);
console.log(
  `\nphase 2 (${2 * SECONDS} s): unique queries, and in every other ${WINDOW_S} s window ` +
    (LONG_CHARS > 0
      ? `a ${LONG_CHARS.toLocaleString("en")}-character query every 2 s`
      : "nothing more (--long-chars 0)"),
);
console.log(`  /rank:   ${summary(withLong.result)}`);
console.log(
  `  long:    n=${withLong.side.length}  p50 ${percentile(withLong.side, 50).toFixed(0)} ms  p90 ${percentile(withLong.side, 90).toFixed(0)} ms  max ${Math.max(...withLong.side).toFixed(0)} ms`,
);
console.log(
  `  long, the server's own time (Server-Timing: queue, truncation, embedding, search, aggregation): p50 ${percentile(served, 50).toFixed(0)} ms  p90 ${percentile(served, 90).toFixed(0)} ms  max ${Math.max(...served).toFixed(0)} ms`,
);
console.log(
  `  by stage, p50 / p90: ${[...stages].map(([name, ms]) => `${name} ${percentile(ms, 50).toFixed(0)} / ${percentile(ms, 90).toFixed(0)} ms`).join(", ")}`,
);
// Each request counts in the window it was sent in, unless sent in a window's first second (a long
// query sent just before the switch may still be running then) or in the first window (autocannon's
// connections are still opening).
const GUARD_MS = 1000;
const others = (withLongs: boolean) =>
  withLong.responses
    .map((r) => ({ sent: r.at - r.ms, ms: r.ms }))
    .filter(
      (r) =>
        windowOf(r.sent) >= 1 &&
        (r.sent - phase2Start) % (WINDOW_S * 1000) >= GUARD_MS &&
        longWindow(r.sent) === withLongs,
    )
    .map((r) => r.ms);
const [on, off] = [others(true), others(false)];
const [p99On, p99Off] = [percentile(on, 99), percentile(off, 99)];
console.log(
  `  the others, in windows with long queries: n=${on.length}  p50 ${percentile(on, 50).toFixed(0)} ms  p99 ${p99On.toFixed(0)} ms; ` +
    `without: n=${off.length}  p50 ${percentile(off, 50).toFixed(0)} ms  p99 ${p99Off.toFixed(0)} ms`,
);
console.log(`  others' p99 moved: ${(((p99On - p99Off) / p99Off) * 100).toFixed(1)}%`);

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
