import { Worker } from "node:worker_threads";
import type { LabelledItem } from "../routing/crossval.ts";
import type { RoutingChoice, TuneResult } from "../routing/tuning.ts";

/** What one tuning computation reads: the examples' labels, vectors (flat), prices and lengths. */
export interface TuningInput {
  items: LabelledItem[];
  flat: Float32Array;
  dim: number;
  prices: Record<string, number>;
  tokens: number[];
  current: RoutingChoice;
  /** Recent queries' nearest similarities (a floor that would bury them is not chosen). */
  recent?: number[][];
}

/** Runs one tuning computation (in a worker thread by default). */
export type TuningRunner = (input: TuningInput) => Promise<TuneResult>;

const WORKER_URL = new URL("./tune-worker.mjs", import.meta.url);

/** Runs `tune` in a worker thread; the vectors' buffer moves there without a copy. */
export const runInWorker: TuningRunner = (input) =>
  new Promise((resolve, reject) => {
    const worker = new Worker(WORKER_URL, {
      workerData: input,
      transferList: [input.flat.buffer as ArrayBuffer],
    });
    worker.on("message", (msg: { type: string; result?: TuneResult; message?: string }) => {
      if (msg.type === "done") resolve(msg.result as TuneResult);
      else if (msg.type === "error") reject(new Error(msg.message));
    });
    worker.once("error", reject);
    worker.once("exit", (code) => {
      if (code !== 0) reject(new Error(`tuning worker exited with code ${code}`));
    });
  });
