/**
 * The local model's import throughput, measured from outside: the real server (`service/main.ts`)
 * as a child process with the default embedder (Universal Sentence Encoder lite in worker threads),
 * one `POST /admin/import` of `--n` short prompts, for each EMBED_WORKERS value asked for.
 *
 *   npx tsx bench/import-local.ts [--n 2000] [--workers 1,2] [--rounds 2]
 *
 * Prints each import's examples a second and the server's CPU time over it (user + system, from
 * /proc: how many cores it kept busy).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ChildServer } from "../test/support/child-server.ts";
import { tempDir } from "../test/support/harness.ts";

const { values } = parseArgs({
  options: {
    n: { type: "string", default: "2000" },
    workers: { type: "string", default: "1,2" },
    rounds: { type: "string", default: "2" },
  },
});
const N = Number(values.n);
const TOKEN = "import-bench-admin-token";
const SUBJECTS = ["python", "sql", "poetry", "history", "algebra", "chemistry", "law", "travel"];
const ASKS = ["explain", "write", "fix", "summarise", "compare", "translate", "outline", "prove"];

/** Distinct short prompts, so that nothing comes from the embedding cache. */
function body(round: number): string {
  const lines: string[] = [];
  for (let i = 0; i < N; i++) {
    const text = `${ASKS[i % ASKS.length]} a question about ${SUBJECTS[(i * 7) % SUBJECTS.length]} number ${round}-${i} for a reader who is new to it`;
    lines.push(JSON.stringify({ text, scores: { big: (i % 10) / 10, small: ((i * 3) % 10) / 10 } }));
  }
  return lines.join("\n");
}

/** The child's CPU seconds so far (utime + stime, and its threads'). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

const tmp = tempDir();
try {
  for (let round = 1; round <= Number(values.rounds); round++) {
    for (const workers of (values.workers as string).split(",")) {
      const server = await ChildServer.start(
        {
          DATABASE_PATH: join(tmp.dir, `import-${workers}-${round}.db`),
          ADMIN_TOKEN: TOKEN,
          EMBED_WORKERS: workers,
          SEED_ON_EMPTY: "false",
          TUNING: "off",
          EMBED_CACHE_SIZE: "0",
        },
        600_000,
      );
      try {
        // The model loaded in its workers first: only the import is timed.
        while ((await fetch(`${server.url}/readyz`)).status !== 200)
          await new Promise((r) => setTimeout(r, 100));
        const pid = server.child.pid as number;
        const cpu0 = cpuSeconds(pid);
        const t0 = performance.now();
        const res = await fetch(`${server.url}/admin/import`, {
          method: "POST",
          headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/x-ndjson" },
          body: body(round),
        });
        await res.arrayBuffer();
        if (res.status !== 201) throw new Error(`import: ${res.status}`);
        const seconds = (performance.now() - t0) / 1000;
        const cpu = cpuSeconds(pid) - cpu0;
        console.log(
          `round ${round}, EMBED_WORKERS=${workers}: ${(N / seconds).toFixed(1)} examples/s ` +
            `(${seconds.toFixed(1)} s; server CPU ${cpu.toFixed(1)} s, ${(cpu / seconds).toFixed(2)} cores)`,
        );
      } finally {
        server.kill("SIGTERM");
        await server.exit();
      }
    }
  }
} finally {
  tmp.remove();
}
