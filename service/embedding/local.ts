import { Worker } from "node:worker_threads";
import { AppError } from "../errors.ts";
import type { Embedder, EmbedPriority } from "./embedder.ts";
import { normalize } from "./embedder.ts";
import { FairQueue } from "./fair-queue.ts";
import { SentencePieceSpans } from "./sentencepiece.ts";
import type { Span } from "./truncate.ts";

export interface LocalEmbedderOptions {
  /** Texts sent to the worker at once for bulk work; a query waits at most one such batch. Default 32. */
  batchSize: number;
  /** Token limit applied by truncation before embedding. Default 256. */
  maxInputTokens: number;
  /** Worker threads, each with its own copy of the model (about 100 MB). Default 1. */
  workers?: number;
}

interface Job {
  texts: readonly string[];
  resolve: (vectors: Float32Array[]) => void;
  reject: (err: unknown) => void;
}

type WorkerMessage =
  | { type: "ready"; dimension: number }
  | { type: "result"; id: number; flat: Float32Array; dim: number }
  | { type: "error"; id: number; message: string };

const WORKER_URL = new URL("./local-worker.mjs", import.meta.url);
const MODEL_ID = "universal-sentence-encoder-lite";

/** One model worker: the batch it runs now, and whether it is up. */
interface Slot {
  worker: Worker;
  running: { id: number; jobs: Job[] } | undefined;
  /** False between the worker's death and its replacement being ready. */
  alive: boolean;
}

/**
 * Universal Sentence Encoder lite (512-d), weights shipped in npm, run in `workers` worker threads
 * (one model each, so both cores of a two-core machine embed). Each worker runs one batch at a
 * time, taken in the order `FairQueue` gives: queries first, those waiting together merged into
 * one batch, long texts alone, and bulk batches between them so that writes never starve.
 */
export class LocalEmbedder implements Embedder {
  readonly id: string;
  readonly maxInputTokens: number;
  private readonly queue = new FairQueue<Job>();
  private nextId = 1;
  private closed = false;

  private constructor(
    private readonly slots: Slot[],
    readonly dimension: number,
    private readonly options: LocalEmbedderOptions,
    private readonly tokenizer: SentencePieceSpans,
  ) {
    this.id = `local:${MODEL_ID}:${dimension}`;
    this.maxInputTokens = options.maxInputTokens;
    for (const slot of slots) this.attach(slot);
  }

  /** Starts the workers and resolves once each has loaded the model and answered a probe. */
  static async create(options: LocalEmbedderOptions): Promise<LocalEmbedder> {
    const started = await Promise.all(
      Array.from({ length: Math.max(1, options.workers ?? 1) }, () => startWorker()),
    );
    const slots = started.map(({ worker }) => ({ worker, running: undefined, alive: true }));
    return new LocalEmbedder(
      slots,
      started[0]?.dimension ?? 0,
      options,
      SentencePieceSpans.fromModelPackage(),
    );
  }

  embed(texts: readonly string[], priority: EmbedPriority = "query"): Promise<Float32Array[]> {
    if (texts.length === 0) return Promise.resolve([]);
    const size = priority === "query" ? texts.length : this.options.batchSize;
    const parts: Promise<Float32Array[]>[] = [];
    for (let i = 0; i < texts.length; i += size) parts.push(this.enqueue(texts.slice(i, i + size), priority));
    return Promise.all(parts).then((p) => p.flat());
  }

  /** The model's SentencePiece tokens, computed here (the texts reaching it are cut to a bounded length first). */
  async tokenize(text: string): Promise<Span[]> {
    return this.tokenizer.tokenize(text);
  }

  async health(): Promise<void> {
    if (this.closed || !this.slots.some((s) => s.alive)) {
      throw new AppError("EMBEDDER_UNAVAILABLE", "local embedding model is not running", {
        retryAfterSeconds: 5,
      });
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const err = new AppError("EMBEDDER_UNAVAILABLE", "embedder is shutting down");
    for (const slot of this.slots) this.fail(slot, err);
    for (const job of this.queue.drain()) job.reject(err);
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }

  private enqueue(texts: readonly string[], priority: EmbedPriority): Promise<Float32Array[]> {
    if (this.closed || !this.slots.some((s) => s.alive)) {
      return Promise.reject(
        new AppError("EMBEDDER_UNAVAILABLE", "local embedding model is restarting", { retryAfterSeconds: 5 }),
      );
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ texts, resolve, reject }, priority);
      this.pump();
    });
  }

  /** Gives every idle worker the next batch. */
  private pump(): void {
    for (const slot of this.slots) {
      if (!slot.alive || slot.running) continue;
      const jobs = this.queue.next();
      if (!jobs) return;
      const id = this.nextId++;
      slot.running = { id, jobs };
      slot.worker.postMessage({ id, texts: jobs.flatMap((j) => j.texts) });
    }
  }

  private attach(slot: Slot): void {
    const worker = slot.worker;
    worker.on("message", (msg: WorkerMessage) => {
      const batch = slot.running;
      if (worker !== slot.worker || msg.type === "ready" || !batch || msg.id !== batch.id) return;
      slot.running = undefined;
      if (msg.type === "error") {
        for (const job of batch.jobs) {
          job.reject(
            new AppError("EMBEDDER_UNAVAILABLE", "local embedding model failed", { cause: msg.message }),
          );
        }
      } else {
        // The batch's rows in job order: each job takes its own texts' vectors.
        let row = 0;
        for (const job of batch.jobs) {
          const out: Float32Array[] = [];
          for (let i = 0; i < job.texts.length; i++, row++) {
            out.push(normalize(msg.flat.slice(row * msg.dim, (row + 1) * msg.dim)));
          }
          job.resolve(out);
        }
      }
      this.pump();
    });
    worker.on("error", (err) => this.onWorkerDeath(slot, worker, err));
    worker.on("exit", (code) =>
      this.onWorkerDeath(slot, worker, new Error(`embedding worker exited with code ${code}`)),
    );
  }

  private onWorkerDeath(slot: Slot, worker: Worker, cause: unknown): void {
    // "error" is followed by "exit": act once per worker, and never after close().
    if (this.closed || worker !== slot.worker || !slot.alive) return;
    slot.alive = false;
    const err = new AppError("EMBEDDER_UNAVAILABLE", "local embedding worker stopped", {
      cause,
      retryAfterSeconds: 5,
    });
    this.fail(slot, err);
    // With no worker left, what waits would wait for a restart: fail it fast (503) instead.
    if (!this.slots.some((s) => s.alive)) for (const job of this.queue.drain()) job.reject(err);
    // Restart so there is a model again; meanwhile the other workers take the queue.
    startWorker().then(
      (fresh) => {
        if (this.closed) return void fresh.worker.terminate();
        slot.worker = fresh.worker;
        slot.alive = true;
        this.attach(slot);
        this.pump();
      },
      () => undefined,
    );
  }

  private fail(slot: Slot, err: AppError): void {
    const jobs = slot.running?.jobs ?? [];
    slot.running = undefined;
    for (const job of jobs) job.reject(err);
  }
}

function startWorker(): Promise<{ worker: Worker; dimension: number }> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER_URL);
    const onError = (err: unknown) =>
      reject(new AppError("EMBEDDER_UNAVAILABLE", "local embedding model failed to load", { cause: err }));
    worker.once("error", onError);
    worker.once("message", (msg: WorkerMessage) => {
      worker.off("error", onError);
      if (msg.type === "ready") resolve({ worker, dimension: msg.dimension });
      else reject(new AppError("EMBEDDER_UNAVAILABLE", "local embedding worker sent no ready signal"));
    });
  });
}
