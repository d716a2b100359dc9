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

/**
 * Universal Sentence Encoder lite (512-d), weights shipped in npm, run in a worker thread.
 * One worker runs one batch at a time, in the order `FairQueue` gives: queries first, those waiting
 * together merged into one batch, and bulk batches between them so that writes never starve.
 */
export class LocalEmbedder implements Embedder {
  readonly id: string;
  readonly maxInputTokens: number;
  private readonly queue = new FairQueue<Job>();
  /** The jobs in the worker now, sent as one batch under one id. */
  private running: { id: number; jobs: Job[] } | undefined;
  private nextId = 1;
  private closed = false;
  /** False between a worker's death and its replacement being ready. */
  private alive = true;

  private constructor(
    private worker: Worker,
    readonly dimension: number,
    private readonly options: LocalEmbedderOptions,
    private readonly tokenizer: SentencePieceSpans,
  ) {
    this.id = `local:${MODEL_ID}:${dimension}`;
    this.maxInputTokens = options.maxInputTokens;
    this.attach(worker);
  }

  /** Starts the worker and resolves once the model has loaded and answered a probe. */
  static async create(options: LocalEmbedderOptions): Promise<LocalEmbedder> {
    const { worker, dimension } = await startWorker();
    return new LocalEmbedder(worker, dimension, options, SentencePieceSpans.fromModelPackage());
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
    if (this.closed || !this.alive) {
      throw new AppError("EMBEDDER_UNAVAILABLE", "local embedding model is not running", {
        retryAfterSeconds: 5,
      });
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.failAll(new AppError("EMBEDDER_UNAVAILABLE", "embedder is shutting down"));
    await this.worker.terminate();
  }

  private enqueue(texts: readonly string[], priority: EmbedPriority): Promise<Float32Array[]> {
    if (!this.alive || this.closed) {
      return Promise.reject(
        new AppError("EMBEDDER_UNAVAILABLE", "local embedding model is restarting", { retryAfterSeconds: 5 }),
      );
    }
    return new Promise((resolve, reject) => {
      const job = { texts, resolve, reject };
      this.queue.push(job, priority);
      this.pump();
    });
  }

  private pump(): void {
    if (this.running) return;
    const jobs = this.queue.next();
    if (!jobs) return;
    const id = this.nextId++;
    this.running = { id, jobs };
    this.worker.postMessage({ id, texts: jobs.flatMap((j) => j.texts) });
  }

  private attach(worker: Worker): void {
    worker.on("message", (msg: WorkerMessage) => {
      const batch = this.running;
      if (msg.type === "ready" || !batch || msg.id !== batch.id) return;
      this.running = undefined;
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
    worker.on("error", (err) => this.onWorkerDeath(worker, err));
    worker.on("exit", (code) =>
      this.onWorkerDeath(worker, new Error(`embedding worker exited with code ${code}`)),
    );
  }

  private onWorkerDeath(worker: Worker, cause: unknown): void {
    // "error" is followed by "exit": act once per worker, and never after close().
    if (this.closed || worker !== this.worker || !this.alive) return;
    this.alive = false;
    this.failAll(
      new AppError("EMBEDDER_UNAVAILABLE", "local embedding worker stopped", { cause, retryAfterSeconds: 5 }),
    );
    // Restart so the next request has a model again; requests in between fail fast with a 503.
    startWorker().then(
      (fresh) => {
        if (this.closed) return void fresh.worker.terminate();
        this.worker = fresh.worker;
        this.attach(fresh.worker);
        this.alive = true;
      },
      () => undefined,
    );
  }

  private failAll(err: AppError): void {
    const jobs = [...(this.running?.jobs ?? []), ...this.queue.drain()];
    this.running = undefined;
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
