/**
 * Loads seed-data/ into a running service through its admin API, the way a deployed instance is
 * seeded:
 *
 *   ADMIN_TOKEN=... npm run seed -- --url http://host:8888 [--dir ./seed-data]
 *
 * Examples go through POST /admin/import (which replaces examples whose ids exist, so running it
 * twice changes nothing), then each target's prices through PUT /admin/targets/:name.
 */
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { parseSeedTargets } from "../core/seed.ts";
import { progressBar } from "./progress.ts";

export interface SeedOptions {
  /** Base URL of the service, e.g. http://localhost:8888. */
  url: string;
  /** The service's ADMIN_TOKEN. */
  token: string;
  /** Folder holding examples.jsonl and targets.jsonl. Default ./seed-data. */
  dir: string;
  /** Called as calls complete (the import, then each target). Default: a progress bar on stderr. */
  progress?: (done: number, total: number) => void;
}

/** Seeds a running service over HTTP; throws with the service's error message on any failure. */
export async function seedOverHttp(options: SeedOptions): Promise<{ examples: number; targets: number }> {
  const base = options.url.replace(/\/+$/, "");
  const auth = { authorization: `Bearer ${options.token}` };
  const examples = readFileSync(join(options.dir, "examples.jsonl"), "utf8");
  const targets = parseSeedTargets(readFileSync(join(options.dir, "targets.jsonl"), "utf8"));
  const progress = options.progress ?? progressBar("seed");
  let done = 0;
  progress(done, targets.length + 1);
  const imported = await call(`${base}/admin/import`, {
    method: "POST",
    headers: { ...auth, "content-type": "application/x-ndjson" },
    body: examples,
  });
  progress(++done, targets.length + 1);
  for (const { name, patch } of targets) {
    await call(`${base}/admin/targets/${encodeURIComponent(name)}`, {
      method: "PUT",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify(patch),
    });
    progress(++done, targets.length + 1);
  }
  return { examples: (imported as { imported: number }).imported, targets: targets.length };
}

async function call(url: string, init: RequestInit): Promise<unknown> {
  const res = await fetch(url, init);
  const body = (await res.json().catch(() => ({}))) as { error?: { code: string; message: string } };
  if (!res.ok) {
    const why = body.error ? `${body.error.code}: ${body.error.message}` : `HTTP ${res.status}`;
    throw new Error(`${init.method} ${url} failed: ${why}`);
  }
  return body;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      url: { type: "string", default: "http://localhost:8888" },
      dir: { type: "string", default: "./seed-data" },
      token: { type: "string" },
    },
  });
  const token = values.token ?? process.env.ADMIN_TOKEN;
  if (!token) throw new Error("set ADMIN_TOKEN (or pass --token) to the service's admin token");
  const done = await seedOverHttp({ url: values.url, token, dir: resolve(values.dir) });
  console.log(`seeded ${done.examples} examples and ${done.targets} targets into ${values.url}`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
