/**
 * What to cut when a text exceeds the embedder's input limit. The numbering and meaning follow
 * the knn-router wire format: 1 drops the head (keeps the end), 2 drops the tail (keeps the start),
 * 3 drops the middle (keeps both ends; the default), 4 drops both ends (keeps the middle).
 */
export const TruncateStrategy = { Head: 1, Tail: 2, Middle: 3, Ends: 4 } as const;
export type TruncateStrategy = (typeof TruncateStrategy)[keyof typeof TruncateStrategy];

export const DEFAULT_TRUNCATE_STRATEGY: TruncateStrategy = TruncateStrategy.Middle;

/** Token spans of `text`: runs of non-space characters, the unit every embedder limit is counted in. */
function tokenSpans(text: string): Array<[number, number]> {
  const spans: Array<[number, number]> = [];
  for (const m of text.matchAll(/\S+/g)) spans.push([m.index, m.index + m[0].length]);
  return spans;
}

/** Returns `text` cut to at most `maxTokens` tokens by `strategy`; texts within the limit come back unchanged. */
export function truncate(text: string, maxTokens: number, strategy: TruncateStrategy): string {
  const spans = tokenSpans(text);
  const n = spans.length;
  if (n <= maxTokens) return text;
  const start = (i: number) => (spans[i] as [number, number])[0];
  const end = (i: number) => (spans[i] as [number, number])[1];
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
