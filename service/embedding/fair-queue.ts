import type { EmbedPriority } from "./embedder.ts";

/** Work for the model: texts, and the model's tokens in the longest of them. */
export interface QueueJob {
  texts: readonly string[];
  tokens: number;
}

/**
 * Tokens past which a query text is long. The model pads a batch to its longest text, and a long
 * text gains nothing from company (a 115-token text costs 76-100 ms alone or in a batch of 16),
 * while one 200-word text in a batch of 15 short queries made it cost 1,065 ms instead of 320.
 */
export const LONG_TEXT_TOKENS = 64;

/**
 * The order in which the embedding workers take work. Queries go first, and the short queries
 * waiting together go as one batch (concurrent requests share a model call) of at most
 * `maxQueryTexts` texts and `maxBatchTokens` padded tokens. A long query text goes alone: to a
 * worker of its own through `nextLong()` when there is one, otherwise ahead of the short queries
 * waiting, every other batch at most. While bulk work (writes, imports) waits, it gets one batch
 * after every `queryStreak` query batches, so a write's wait is bounded under any query load instead
 * of lasting as long as the load does.
 */
export class FairQueue<J extends QueueJob> {
  private readonly queries: J[] = [];
  private readonly bulk: J[] = [];
  private streak = 0;
  /** Whether the last query batch was a long text taken ahead of the short queries before it. */
  private jumped = false;

  constructor(
    /**
     * Most texts in one merged query batch. Default 16: past that a short text costs the model no
     * less (6.9 ms a text at 16, 6.8 at 32), and a larger batch leaves the other workers idle while
     * one runs everything that waited.
     */
    private readonly maxQueryTexts = 16,
    /** Query batches in a row before waiting bulk work gets one. Default 4. */
    private readonly queryStreak = 4,
    /** Most padded tokens (texts × the longest one's tokens) in one merged query batch. Default 512. */
    private readonly maxBatchTokens = 512,
  ) {}

  get size(): number {
    return this.queries.length + this.bulk.length;
  }

  push(job: J, priority: EmbedPriority): void {
    (priority === "query" ? this.queries : this.bulk).push(job);
  }

  /** The first waiting long query, alone, or undefined when none waits. */
  nextLong(): J[] | undefined {
    const at = this.queries.findIndex(isLong);
    return at < 0 ? undefined : this.queries.splice(at, 1);
  }

  /**
   * The jobs to run together next, or undefined when nothing waits. With `longs` false, long
   * queries are left for `nextLong()` unless nothing else waits.
   */
  next(longs = true): J[] | undefined {
    const bulkTurn = this.bulk.length > 0 && (this.queries.length === 0 || this.streak >= this.queryStreak);
    if (bulkTurn) return this.takeBulk();
    if (this.queries.length === 0) return undefined;
    this.streak++;
    if (!longs) {
      const short = this.shortBatch();
      if (short.length > 0) return short;
      // Only long texts wait: rather than sit idle, take the oldest (bulk work first, if any).
      return this.bulk.length > 0 ? this.takeBulk() : this.queries.splice(0, 1);
    }
    // A waiting long query goes next, ahead of the short ones before it, but never twice in a row:
    // otherwise it would wait for a worker to take every batch ahead of it (a few hundred ms under
    // load, on top of its own model time), while the short queries it passes wait one long text
    // at most. Alternating keeps a flood of long queries from starving the short ones.
    const longAt = this.jumped ? -1 : this.queries.findIndex(isLong);
    if (longAt > 0) {
      this.jumped = true;
      return this.queries.splice(longAt, 1);
    }
    this.jumped = false;
    if (isLong(this.queries[0] as J)) return this.queries.splice(0, 1);
    return this.shortBatch();
  }

  /** The oldest bulk batch, alone; the run of query batches starts again. */
  private takeBulk(): J[] {
    this.streak = 0;
    return [this.bulk.shift() as J];
  }

  /** Removes and returns every waiting job. */
  drain(): J[] {
    return [...this.queries.splice(0), ...this.bulk.splice(0)];
  }

  /**
   * The oldest short query, with the later short ones that fit beside it within both limits (the
   * padded size grows with the longest text, so a job that does not fit waits for the next batch;
   * the oldest always goes, so none waits for ever).
   */
  private shortBatch(): J[] {
    const batch: J[] = [];
    let texts = 0;
    let longest = 0;
    for (let i = 0; i < this.queries.length && texts < this.maxQueryTexts; ) {
      const job = this.queries[i] as J;
      const n = texts + job.texts.length;
      const fits = n <= this.maxQueryTexts && n * Math.max(longest, job.tokens) <= this.maxBatchTokens;
      if (isLong(job) || (batch.length > 0 && !fits)) {
        i++;
        continue;
      }
      this.queries.splice(i, 1);
      batch.push(job);
      texts = n;
      longest = Math.max(longest, job.tokens);
    }
    return batch;
  }
}

function isLong(job: QueueJob): boolean {
  return job.tokens > LONG_TEXT_TOKENS;
}
