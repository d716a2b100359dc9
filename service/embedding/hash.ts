import { hash } from "node:crypto";
import type { Embedder } from "./embedder.ts";
import { normalize } from "./embedder.ts";
import { type Span, wordSpans } from "./truncate.ts";

/**
 * Deterministic embedder for tests and benchmarks: signed feature hashing of lower-cased words and
 * word bigrams. Texts that share words get similar vectors, so neighbour tests mean something,
 * and it needs no model, no worker and no network.
 */
export class HashEmbedder implements Embedder {
  readonly id: string;
  readonly maxInputTokens: number;

  constructor(
    readonly dimension = 256,
    maxInputTokens = 256,
  ) {
    this.id = `hash:v1:${dimension}`;
    this.maxInputTokens = maxInputTokens;
  }

  async embed(texts: readonly string[]): Promise<Float32Array[]> {
    return texts.map((t) => this.embedOne(t));
  }

  embedOne(text: string): Float32Array {
    const v = new Float32Array(this.dimension);
    const words = text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
    const add = (feature: string, weight: number) => {
      // One-shot hashing: a Hash object per feature made a 100,000-line import's garbage collection
      // pause the event loop for 15-30 ms, 25 times.
      const h = hash("sha1", feature, "buffer");
      const slot = h.readUInt32LE(0) % this.dimension;
      v[slot] = (v[slot] as number) + ((h[4] as number) & 1 ? weight : -weight);
    };
    for (let i = 0; i < words.length; i++) {
      add(`w:${words[i]}`, 1);
      if (i > 0) add(`b:${words[i - 1]} ${words[i]}`, 0.5);
    }
    if (words.length === 0) add(`empty:${text}`, 1);
    return normalize(v);
  }

  async tokenize(text: string): Promise<Span[]> {
    return wordSpans(text);
  }

  async health(): Promise<void> {}

  async close(): Promise<void> {}
}
