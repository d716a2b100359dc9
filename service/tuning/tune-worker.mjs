// Runs self-tuning (service/routing/tuning.ts, minutes of pure computation on large sets) off the
// main thread, so /rank keeps its event loop. Plain JavaScript: in a build (`npm run build`) it
// imports the compiled module and needs no TypeScript loader; from the sources (npm start, vitest)
// it registers tsx first.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parentPort, workerData } from "node:worker_threads";

const compiled = new URL("../routing/tuning.js", import.meta.url);
let tuning;
if (existsSync(fileURLToPath(compiled))) {
  tuning = await import(compiled.href);
} else {
  const { register } = await import("tsx/esm/api");
  register();
  tuning = await import("../routing/tuning.ts");
}
const { tune } = tuning;

const { items, flat, dim, prices, tokens, current, folds, seed, recent } = workerData;
const vectors = [];
for (let i = 0; i < items.length; i++) vectors.push(flat.subarray(i * dim, (i + 1) * dim));
try {
  const result = await tune({
    items,
    vectors,
    prices,
    tokens,
    current,
    folds,
    seed,
    recent,
    onProgress: (done, total) => parentPort.postMessage({ type: "progress", done, total }),
  });
  parentPort.postMessage({ type: "done", result });
} catch (err) {
  parentPort.postMessage({ type: "error", message: err instanceof Error ? err.message : String(err) });
}
