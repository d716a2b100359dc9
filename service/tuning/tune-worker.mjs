// Runs self-tuning (service/routing/tuning.ts, minutes of pure computation on large sets) off the
// main thread, so /rank keeps its event loop. Plain JavaScript that registers the TypeScript loader
// itself, so it starts the same way under tsx, vitest and plain node.
import { parentPort, workerData } from "node:worker_threads";
import { register } from "tsx/esm/api";

register();
const { tune } = await import("../routing/tuning.ts");

const { items, flat, dim, prices, tokens, current, folds, seed } = workerData;
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
    onProgress: (done, total) => parentPort.postMessage({ type: "progress", done, total }),
  });
  parentPort.postMessage({ type: "done", result });
} catch (err) {
  parentPort.postMessage({ type: "error", message: err instanceof Error ? err.message : String(err) });
}
