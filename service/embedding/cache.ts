import { type Embedder, type EmbedPriority, WrappedEmbedder } from "./embedder.ts";

/**
 * An LRU cache of vectors by text in front of any embedder. Prompts repeat (retries, templates,
 * health probes), and a hit skips the model entirely. Vectors are shared: callers must not mutate them.
 */
export class CachedEmbedder extends WrappedEmbedder {
  private readonly entries = new Map<string, Float32Array>();
  hits = 0;
  misses = 0;

  constructor(
    inner: Embedder,
    /** Most vectors kept; the least recently used go first. */
    readonly capacity: number,
    /** Told the hits and misses of every lookup (metrics). */
    private readonly onLookup: (hits: number, misses: number) => void = () => undefined,
  ) {
    super(inner);
  }

  async embed(texts: readonly string[], priority?: EmbedPriority): Promise<Float32Array[]> {
    // What the cache holds now is taken before anything is remembered: a batch larger than the
    // cache evicts its own entries as it goes.
    const found = new Map<string, Float32Array>();
    for (const t of texts) {
      const v = this.entries.get(t);
      if (v) found.set(t, v);
    }
    const missing = [...new Set(texts.filter((t) => !found.has(t)))];
    this.misses += missing.length;
    this.hits += texts.length - missing.length;
    this.onLookup(texts.length - missing.length, missing.length);
    const fresh = missing.length > 0 ? await this.inner.embed(missing, priority) : [];
    missing.forEach((t, i) => {
      found.set(t, fresh[i] as Float32Array);
    });
    return texts.map((t) => {
      const v = found.get(t) as Float32Array;
      this.remember(t, v);
      return v;
    });
  }

  override close() {
    this.entries.clear();
    return super.close();
  }

  private remember(text: string, vector: Float32Array): void {
    // Map keeps insertion order: re-inserting marks the entry most recently used.
    this.entries.delete(text);
    this.entries.set(text, vector);
    if (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }
}
