import type { EmbedPriority } from "./embedder.ts";

/**
 * The order in which the embedding workers take work. Queries go first, and the queries waiting
 * together go as one batch of at most `maxQueryTexts` texts (concurrent requests share a model
 * call); a long text goes alone, ahead of the short queries waiting, every other batch at most. While bulk work (writes, imports) waits, it gets one batch after every `queryStreak`
 * query batches, so a write's wait is bounded under any query load instead of lasting as long as
 * the load does.
 */
export class FairQueue<J extends { texts: readonly string[] }> {
  private readonly queries: J[] = [];
  private readonly bulk: J[] = [];
  private streak = 0;
  /** Whether the last query batch was a long text taken ahead of the short queries before it. */
  private jumped = false;

  constructor(
    /** Most texts in one merged query batch. Default 32. */
    private readonly maxQueryTexts = 32,
    /** Query batches in a row before waiting bulk work gets one. Default 4. */
    private readonly queryStreak = 4,
  ) {}

  get size(): number {
    return this.queries.length + this.bulk.length;
  }

  push(job: J, priority: EmbedPriority): void {
    (priority === "query" ? this.queries : this.bulk).push(job);
  }

  /** The jobs to run together next, or undefined when nothing waits. */
  next(): J[] | undefined {
    const bulkTurn = this.bulk.length > 0 && (this.queries.length === 0 || this.streak >= this.queryStreak);
    if (bulkTurn) {
      this.streak = 0;
      return [this.bulk.shift() as J];
    }
    if (this.queries.length === 0) return undefined;
    this.streak++;
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
    const batch = [this.queries.shift() as J];
    // A long text goes alone: the model pads a batch to its longest text, so merged with short
    // ones it would make every one of them as slow as itself.
    if (isLong(batch[0] as J)) return batch;
    let texts = batch[0]?.texts.length ?? 0;
    while (
      this.queries.length > 0 &&
      !isLong(this.queries[0] as J) &&
      texts + (this.queries[0]?.texts.length ?? 0) <= this.maxQueryTexts
    ) {
      const job = this.queries.shift() as J;
      texts += job.texts.length;
      batch.push(job);
    }
    return batch;
  }

  /** Removes and returns every waiting job. */
  drain(): J[] {
    return [...this.queries.splice(0), ...this.bulk.splice(0)];
  }
}

/** Characters past which a text is long: about a hundred tokens, well past a typical prompt. */
export const LONG_TEXT_CHARS = 512;

function isLong(job: { texts: readonly string[] }): boolean {
  return job.texts.some((t) => t.length > LONG_TEXT_CHARS);
}
