import { Worker } from "node:worker_threads";
import { AppError } from "../errors.ts";
import type { Embedder, EmbedPriority } from "./embedder.ts";
import { normalize } from "./embedder.ts";
import { FairQueue, LONG_TEXT_TOKENS } from "./fair-queue.ts";
import { SentencePieceSpans } from "./sentencepiece.ts";
import type { Span } from "./truncate.ts";

export interface LocalEmbedderOptions {
  /** Texts sent to the worker at once for bulk work; a query waits at most one such batch. Default 32. */
  batchSize: number;
  /** Token limit applied by truncation before embedding, at most MODEL_MAX_TOKENS. */
  maxInputTokens: number;
  /** Worker threads, each with its own copy of the model (about 100 MB). Default 1. */
  workers?: number;
  /**
   * One more worker that runs long query texts only, at the process's own priority (the others
   * yield to it): a long text then neither waits behind the batches running nor runs at their
   * lowered priority, and a flood of long texts queues for that worker instead of the short queries.
   * Default false.
   */
  longTextWorker?: boolean;
}

interface Job {
  texts: readonly string[];
  /** The model's tokens in the longest text (queries only: bulk work is never merged). */
  tokens: number;
  resolve: (vectors: Float32Array[]) => void;
  reject: (err: unknown) => void;
}

type WorkerMessage =
  | { type: "ready"; dimension: number }
  | { type: "result"; id: number; flat: Float32Array; dim: number }
  | { type: "error"; id: number; message: string };

const WORKER_URL = new URL("./local-worker.mjs", import.meta.url);
/**
 * The model reads the first 128 of its tokens and ignores the rest (a text's vector does not change
 * past them), so truncation cuts to at most this: otherwise "drop the middle" would keep a tail the
 * model never sees.
 */
export const MODEL_MAX_TOKENS = 128;
const MODEL_ID = "universal-sentence-encoder-lite";
/** Texts whose token counts `tokenize` keeps for the embedding that follows (a bounded memory). */
const COUNTED_TEXTS = 256;

/** One model worker: the batch it runs now, and whether it is up. */
interface Slot {
  worker: Worker;
  /** The worker for long query texts only. */
  long: boolean;
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
  /**
   * Token counts of texts `tokenize` counted lately (truncation asks before embedding a query), so
   * a query is not tokenized a second time to be queued. Each is used once; the oldest go first.
   */
  private readonly counted = new Map<string, number>();
  private nextId = 1;
  private closed = false;

  private constructor(
    private readonly slots: Slot[],
    readonly dimension: number,
    private readonly options: LocalEmbedderOptions,
    private readonly tokenizer: SentencePieceSpans,
  ) {
    this.id = `local:${MODEL_ID}:${dimension}`;
    this.maxInputTokens = Math.min(options.maxInputTokens, MODEL_MAX_TOKENS);
    for (const slot of slots) this.attach(slot);
  }

  /** Starts the workers and resolves once each has loaded the model and answered a probe. */
  static async create(options: LocalEmbedderOptions): Promise<LocalEmbedder> {
    const kinds = Array.from({ length: Math.max(1, options.workers ?? 1) }, () => false);
    // The long-text worker first: pump() offers it the waiting long text before any other worker.
    if (options.longTextWorker) kinds.unshift(true);
    const started = await Promise.all(kinds.map((long) => startWorker(long)));
    const slots = started.map(({ worker }, i) => ({
      worker,
      long: kinds[i] === true,
      running: undefined,
      alive: true,
    }));
    return new LocalEmbedder(
      slots,
      started[0]?.dimension ?? 0,
      options,
      SentencePieceSpans.fromModelPackage(),
    );
  }

  embed(texts: readonly string[], priority: EmbedPriority = "query"): Promise<Float32Array[]> {
    if (texts.length === 0) return Promise.resolve([]);
    if (priority === "query") return this.enqueue(texts, priority, this.longestTokens(texts));
    // Bulk batches of texts of like length: the model pads a batch to its longest text.
    const order = texts
      .map((_, i) => i)
      .sort((a, b) => (texts[a] as string).length - (texts[b] as string).length);
    const parts: Promise<Float32Array[]>[] = [];
    for (let i = 0; i < order.length; i += this.options.batchSize) {
      const batch = order.slice(i, i + this.options.batchSize).map((at) => texts[at] as string);
      parts.push(this.enqueue(batch, priority, 0));
    }
    return Promise.all(parts).then((done) => {
      const out: Float32Array[] = new Array(texts.length);
      done.flat().forEach((vector, i) => {
        out[order[i] as number] = vector;
      });
      return out;
    });
  }

  /**
   * The model's tokens in the longest of `texts`, which decides how a query is batched. A text of
   * at most LONG_TEXT_TOKENS characters cannot hold more tokens than characters; a longer one is
   * counted by `tokenize` unless truncation just did (about 0.1 ms for a 60-character query).
   */
  private longestTokens(texts: readonly string[]): number {
    let longest = 0;
    for (const t of texts) {
      let tokens = t.length <= LONG_TEXT_TOKENS ? t.length : this.counted.get(t);
      if (tokens === undefined) tokens = this.tokenizer.tokenize(t).length;
      this.counted.delete(t);
      longest = Math.max(longest, tokens);
    }
    return longest;
  }

  /** The model's SentencePiece tokens, computed here (the texts reaching it are cut to a bounded length first). */
  unknownShare(text: string): number {
    return this.tokenizer.unknownShare(text);
  }

  async tokenize(text: string): Promise<Span[]> {
    const spans = this.tokenizer.tokenize(text);
    this.counted.set(text, spans.length);
    if (this.counted.size > COUNTED_TEXTS) this.counted.delete(this.counted.keys().next().value as string);
    return spans;
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

  private enqueue(
    texts: readonly string[],
    priority: EmbedPriority,
    tokens: number,
  ): Promise<Float32Array[]> {
    if (this.closed || !this.slots.some((s) => s.alive)) {
      return Promise.reject(
        new AppError("EMBEDDER_UNAVAILABLE", "local embedding model is restarting", { retryAfterSeconds: 5 }),
      );
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ texts, tokens, resolve, reject }, priority);
      this.pump();
    });
  }

  /** Gives every idle worker the next batch. */
  private pump(): void {
    // Long texts are the long-text worker's while it is up; the others take them only without it.
    const longsApart = this.slots.some((s) => s.long && s.alive);
    for (const slot of this.slots) {
      if (!slot.alive || slot.running) continue;
      const jobs = slot.long ? this.queue.nextLong() : this.queue.next(!longsApart);
      if (!jobs) continue;
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
    startWorker(slot.long).then(
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

function startWorker(long: boolean): Promise<{ worker: Worker; dimension: number }> {
  return new Promise((resolve, reject) => {
    // The batch workers yield the CPU (nice 10) to the thread serving HTTP and to the long-text
    // worker, which keeps the process's priority so that a long text runs at a core's full speed.
    const worker = new Worker(WORKER_URL, { workerData: { nice: long ? 0 : 10 } });
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
