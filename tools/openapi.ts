/**
 * Writes the service's OpenAPI document (what GET /openapi.json answers) to a file, from a service
 * built in memory (hash embedder, empty database): for linting it and generating clients.
 *
 *   npm run openapi -- [--out openapi.json]
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { parseArgs } from "node:util";
import { createApp } from "../service/app.ts";
import { loadConfig } from "../service/config.ts";
import { buildDeps } from "../service/deps.ts";
import { createLogger } from "../service/logger.ts";

const { values } = parseArgs({ options: { out: { type: "string", default: "openapi.json" } } });
const config = loadConfig({
  DATABASE_PATH: ":memory:",
  EMBEDDER: "hash",
  SEED_ON_EMPTY: "false",
  TUNING: "off",
  LOG_LEVEL: "silent",
});
const deps = await buildDeps(config, createLogger("silent"));
try {
  const res = await createApp(deps).request("/openapi.json");
  mkdirSync(dirname(values.out), { recursive: true });
  writeFileSync(values.out, `${JSON.stringify(await res.json(), null, 2)}\n`);
  process.stderr.write(`wrote ${values.out}\n`);
} finally {
  await deps.close();
}
