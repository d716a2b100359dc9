/**
 * What keeping rankings for feedback, and exploring, cost /rank: three servers on the same data (the
 * seed examples, the hash embedder, so the service's own work is what is timed): neither, with
 * FEEDBACK_TOKEN, and with FEEDBACK_TOKEN and EXPLORATION_SHARE=0.1 and a new target on trial (created
 * with no examples, so every /rank also runs the trial budget), over real HTTP on the loopback, their
 * requests interleaved.
 *
 *   npx tsx bench/feedback.ts [--requests 2000] [--rounds 3]
 *
 * Prints each round's /rank p50 and p99 for each, the ratios of the p50s to "off", then the same
 * three rankers called in process (no HTTP, no loopback noise): the mean time of a rank and of its
 * aggregation stage (ranking, exploration included).
 */
import { parseArgs } from "node:util";
import { serveLocal } from "../test/support/browser.ts";
import { startService } from "../test/support/harness.ts";
import { latencySummary, percentile } from "./stats.ts";

const { values } = parseArgs({
  options: { requests: { type: "string", default: "2000" }, rounds: { type: "string", default: "3" } },
});
const REQUESTS = Number(values.requests);

const off = await startService({ SEED_ON_EMPTY: "true" });
const on = await startService({ SEED_ON_EMPTY: "true", FEEDBACK_TOKEN: "bench-feedback-token-0123456789" });
const exploring = await startService({
  SEED_ON_EMPTY: "true",
  FEEDBACK_TOKEN: "bench-feedback-token-0123456789",
  EXPLORATION_SHARE: "0.1",
});
// A new model: offered at its prior and tried on its guaranteed share until it has outcomes.
const created = await exploring.request(
  "PUT",
  "/admin/targets/new-model",
  { enabled: true },
  { admin: true },
);
if (created.status !== 201) throw new Error(`creating the new target: ${created.status}`);
const servers = {
  off: await serveLocal(off.app.fetch),
  on: await serveLocal(on.app.fetch),
  exploring: await serveLocal(exploring.app.fetch),
};

async function rank(url: string, i: number): Promise<number> {
  const t0 = performance.now();
  const res = await fetch(`${url}/rank`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query: `which model should answer question number ${i}` }),
  });
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`rank: ${res.status}`);
  return performance.now() - t0;
}

/**
 * One round: the three servers' requests interleaved, their order rotating from one request to
 * the next, so that a slower second on these machines falls on all three alike.
 */
async function round(): Promise<{ off: number[]; on: number[]; exploring: number[] }> {
  const urls = [servers.off.url, servers.on.url, servers.exploring.url];
  const ms: number[][] = [[], [], []];
  for (let i = 0; i < REQUESTS; i++) {
    for (let j = 0; j < 3; j++) {
      const s = (i + j) % 3;
      (ms[s] as number[]).push(await rank(urls[s] as string, i));
    }
  }
  const [off, on, exploring] = ms as [number[], number[], number[]];
  return { off, on, exploring };
}

try {
  await round();
  for (let r = 1; r <= Number(values.rounds); r++) {
    const { off: a, on: b, exploring: c } = await round();
    const ratio = (x: number[]) => (percentile(x, 50) / percentile(a, 50)).toFixed(3);
    console.log(`round ${r}: feedback off              ${latencySummary(a)}`);
    console.log(`round ${r}: feedback on               ${latencySummary(b)}  p50 ratio ${ratio(b)}`);
    console.log(`round ${r}: feedback and exploration  ${latencySummary(c)}  p50 ratio ${ratio(c)}`);
  }
  for (let r = 1; r <= Number(values.rounds); r++) {
    for (const [name, svc] of [
      ["off", off],
      ["on", on],
      ["exploring", exploring],
    ] as const) {
      let aggregate = 0;
      const t0 = performance.now();
      for (let i = 0; i < REQUESTS; i++) {
        const ranked = await svc.deps.ranker.rank({
          query: `which model should answer question number ${i}`,
        });
        aggregate += ranked.stages.aggregate;
      }
      const mean = (ms: number) => `${((ms / REQUESTS) * 1000).toFixed(0)} µs`;
      console.log(
        `in process, round ${r}, ${name.padEnd(9)}: rank ${mean(performance.now() - t0)}, aggregation ${mean(aggregate)}`,
      );
    }
  }
  on.deps.feedback?.flush();
  console.log(`rankings kept with feedback on: ${on.deps.stores.feedback.countRankings()}`);
} finally {
  await servers.off.close();
  await servers.on.close();
  await servers.exploring.close();
  await off.close();
  await on.close();
  await exploring.close();
}
