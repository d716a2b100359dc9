import { DEFAULT_TRUNCATE_STRATEGY, type Span, type TruncateStrategy, truncateForModel } from "./truncate.ts";

/** Who is asking: a query waits for nothing, bulk work (imports) yields to queries. */
export type EmbedPriority = "query" | "bulk";

/** Turns texts into L2-normalised vectors. Every backend (local, huggingface, hash) implements this. */
export interface Embedder {
  /** Stable identity of the model and its output, e.g. `local:universal-sentence-encoder-lite:512`. */
  readonly id: string;
  /** Length of every vector `embed` returns. */
  readonly dimension: number;
  /** Inputs longer than this many tokens are truncated (see `truncate.ts`) before embedding. */
  readonly maxInputTokens: number;
  /** One vector per text, in order. Rejects with AppError EMBEDDER_UNAVAILABLE when the backend fails. */
  embed(texts: readonly string[], priority?: EmbedPriority): Promise<Float32Array[]>;
  /**
   * The model's tokens of `text` with their places, so truncation counts what the model counts.
   * Backends that cannot tell answer word-based spans (`wordSpans`).
   */
  tokenize(text: string): Promise<Span[]>;
  /**
   * The text as this embedder embeds it, before truncation: learned boilerplate removed (see
   * `templates.ts`). Absent: the text as is. Callers go through `prepareText`.
   */
  strip?(text: string): string;
  /**
   * The share of `text`'s letters and digits the model cannot read (unknown to its vocabulary): a
   * query in a language the model does not read shows here. Absent when the backend cannot tell.
   */
  unknownShare?(text: string): number | undefined;
  /** Resolves when the backend can embed now; rejects with AppError EMBEDDER_UNAVAILABLE otherwise. */
  health(): Promise<void>;
  /** Releases workers and connections. */
  close(): Promise<void>;
}

/**
 * An embedder in front of another (a cache, a feature, a text transform): identity, limits, health
 * and close pass through to `inner` unless the subclass changes them.
 */
export abstract class WrappedEmbedder implements Embedder {
  constructor(protected readonly inner: Embedder) {}

  get id(): string {
    return this.inner.id;
  }
  get dimension(): number {
    return this.inner.dimension;
  }
  get maxInputTokens(): number {
    return this.inner.maxInputTokens;
  }

  abstract embed(texts: readonly string[], priority?: EmbedPriority): Promise<Float32Array[]>;

  tokenize(text: string): Promise<Span[]> {
    return this.inner.tokenize(text);
  }

  strip(text: string): string {
    return this.inner.strip?.(text) ?? text;
  }

  unknownShare(text: string): number | undefined {
    return this.inner.unknownShare?.(text);
  }

  health(): Promise<void> {
    return this.inner.health();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** Scales `v` in place to unit length (a zero vector stays zero) and returns it. */
export function normalize(v: Float32Array): Float32Array {
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += (v[i] as number) * (v[i] as number);
  if (sum === 0) return v;
  const inv = 1 / Math.sqrt(sum);
  for (let i = 0; i < v.length; i++) v[i] = (v[i] as number) * inv;
  return v;
}

/**
 * `text` as `embedder.embed` takes it: its learned boilerplate stripped, then cut to the embedder's
 * input limit by `strategy` (`truncated` when that cut anything). Every text that is embedded goes
 * through here, queries and examples alike.
 */
export async function prepareText(
  embedder: Embedder,
  text: string,
  strategy: TruncateStrategy = DEFAULT_TRUNCATE_STRATEGY,
): Promise<{ text: string; truncated: boolean }> {
  const stripped = embedder.strip?.(text) ?? text;
  const cut = await truncateForModel(stripped, embedder.maxInputTokens, strategy, (t) =>
    embedder.tokenize(t),
  );
  return { text: cut, truncated: cut !== stripped };
}

/** Prepares every text (`prepareText`) and embeds them in one call: how stored examples are embedded. */
export async function embedPrepared(
  embedder: Embedder,
  texts: readonly string[],
  priority: EmbedPriority = "bulk",
): Promise<Float32Array[]> {
  const prepared = await Promise.all(texts.map((t) => prepareText(embedder, t)));
  return embedder.embed(
    prepared.map((p) => p.text),
    priority,
  );
}
