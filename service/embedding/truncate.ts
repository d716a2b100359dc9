/**
 * What to cut when a text exceeds the embedder's input limit. The numbering and meaning follow
 * the knn-router wire format: 1 drops the head (keeps the end), 2 drops the tail (keeps the start),
 * 3 drops the middle (keeps both ends; the default), 4 drops both ends (keeps the middle).
 */
export const TruncateStrategy = { Head: 1, Tail: 2, Middle: 3, Ends: 4 } as const;
export type TruncateStrategy = (typeof TruncateStrategy)[keyof typeof TruncateStrategy];

export const DEFAULT_TRUNCATE_STRATEGY: TruncateStrategy = TruncateStrategy.Middle;

/** A token's place in a text: [start, end) in UTF-16 code units. */
export type Span = readonly [number, number];

/** Splits a text into the model's tokens, with their places in the text. */
export type Tokenize = (text: string) => Span[] | Promise<Span[]>;

/**
 * Longest token, in characters, that the word-based count assumes and that a text is cut to before
 * a model tokenizer sees it: no sub-word vocabulary in use has longer pieces, and cutting first
 * bounds the tokenizer's own cost (a 100,000-character word must not reach the model whole).
 */
export const MAX_TOKEN_CHARS = 16;

/**
 * Token spans when the model's tokenizer is not known: runs of non-space characters, each split
 * into pieces of at most MAX_TOKEN_CHARS, so a long unbroken string counts as many tokens.
 */
export function wordSpans(text: string): Span[] {
  const spans: Span[] = [];
  for (const m of text.matchAll(/\S+/g)) {
    const end = m.index + m[0].length;
    for (let s = m.index; s < end; s += MAX_TOKEN_CHARS) spans.push([s, Math.min(s + MAX_TOKEN_CHARS, end)]);
  }
  return spans;
}

/** `text` cut to at most `maxTokens` of the given token spans by `strategy`; unchanged within the limit. */
export function cutToSpans(
  text: string,
  spans: readonly Span[],
  maxTokens: number,
  strategy: TruncateStrategy,
): string {
  const n = spans.length;
  if (n <= maxTokens) return text;
  const start = (i: number) => (spans[i] as Span)[0];
  const end = (i: number) => (spans[i] as Span)[1];
  switch (strategy) {
    case TruncateStrategy.Head:
      return text.slice(start(n - maxTokens), end(n - 1));
    case TruncateStrategy.Tail:
      return text.slice(start(0), end(maxTokens - 1));
    case TruncateStrategy.Middle: {
      const keepHead = Math.ceil(maxTokens / 2);
      const keepTail = maxTokens - keepHead;
      const head = text.slice(start(0), end(keepHead - 1));
      return keepTail === 0 ? head : `${head} ${text.slice(start(n - keepTail), end(n - 1))}`;
    }
    case TruncateStrategy.Ends: {
      const first = Math.floor((n - maxTokens) / 2);
      return text.slice(start(first), end(first + maxTokens - 1));
    }
  }
}

/**
 * The part of `text` that `strategy` could keep, cut on characters: `maxTokens` tokens span at most
 * maxTokens × MAX_TOKEN_CHARS characters, so nothing beyond that can survive the token cut. A
 * smaller `charsPerToken` gives a shorter cut, enough when the text's tokens are that short.
 */
export function precut(
  text: string,
  maxTokens: number,
  strategy: TruncateStrategy,
  charsPerToken = MAX_TOKEN_CHARS,
): string {
  const limit = maxTokens * charsPerToken;
  if (text.length <= limit) return text;
  switch (strategy) {
    case TruncateStrategy.Head:
      return text.slice(text.length - limit);
    case TruncateStrategy.Tail:
      return text.slice(0, limit);
    case TruncateStrategy.Middle: {
      const half = Math.ceil(limit / 2);
      return `${text.slice(0, half)} ${text.slice(text.length - (limit - half))}`;
    }
    case TruncateStrategy.Ends: {
      const from = Math.floor((text.length - limit) / 2);
      return text.slice(from, from + limit);
    }
  }
}

/** Characters a token spans in most text (3-5), with room: a first, cheaper cut assumes it. */
const TYPICAL_TOKEN_CHARS = 6;
/** Tokens to spare beyond what a part keeps before the cheaper cut is trusted: the word cut at its edge may tokenize differently. */
const spareTokens = (maxTokens: number) => Math.max(2, Math.ceil(maxTokens / 32));

/**
 * Whether the tokens of a cheaper precut reach past what `strategy` keeps, with `spareTokens` to
 * spare in each kept part: then the cut from them is the one the worst-case precut would give.
 */
function enough(cut: string, spans: readonly Span[], maxTokens: number, strategy: TruncateStrategy): boolean {
  switch (strategy) {
    case TruncateStrategy.Head:
    case TruncateStrategy.Tail:
      return spans.length >= maxTokens + spareTokens(maxTokens);
    case TruncateStrategy.Middle: {
      // precut joined the two halves with a space at `half`.
      const half = Math.ceil((maxTokens * TYPICAL_TOKEN_CHARS) / 2);
      const keepHead = Math.ceil(maxTokens / 2);
      const head = spans.filter((s) => s[0] < half).length;
      const tail = spans.length - head;
      const spare = spareTokens(maxTokens);
      return cut.length > half && head >= keepHead + spare && tail >= maxTokens - keepHead + spare;
    }
    case TruncateStrategy.Ends:
      // The kept window is centred by token count: extra text on either side can move it.
      return false;
  }
}

/**
 * Returns `text` cut to at most `maxTokens` of the model's own tokens (`tokenize`). A text no longer
 * than `maxTokens` characters is returned without asking the tokenizer: no token is shorter than a
 * character. Longer ones are cut on characters first (`precut`), so the tokenizer's cost is bounded:
 * first assuming typical tokens (6 characters, 3/8 of the worst case to tokenize), and again at the worst
 * case only when that cut turns out too short for what the strategy keeps.
 */
export async function truncateForModel(
  text: string,
  maxTokens: number,
  strategy: TruncateStrategy,
  tokenize: Tokenize,
): Promise<string> {
  if (text.length <= maxTokens) return text;
  if (text.length > maxTokens * TYPICAL_TOKEN_CHARS) {
    const cheap = precut(text, maxTokens, strategy, TYPICAL_TOKEN_CHARS);
    const spans = await tokenize(cheap);
    if (enough(cheap, spans, maxTokens, strategy)) return cutToSpans(cheap, spans, maxTokens, strategy);
  }
  const cut = precut(text, maxTokens, strategy);
  return cutToSpans(cut, await tokenize(cut), maxTokens, strategy);
}
