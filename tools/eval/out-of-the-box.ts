/**
 * Priced data through the service as a new operator would use it: the training share imported
 * through POST /admin/import, each target's price set with PUT /admin/targets/{name}, nothing else;
 * the held-out prompts sent to POST /rank before and after the service's own tuning; the cost-quality
 * curve of a willingness-to-pay sweep over the scores /rank returns (utility = score − λ·cost, the
 * `objective` rule), its AIQ beside the best single model per budget on the same prompts.
 *
 *   npm run eval -- mmlu --out-of-the-box [--test-share 0.2] [--seed 1]
 */
import type { Embedder } from "../../service/embedding/embedder.ts";
import { type Dataset, type EvalItem, shuffled } from "./datasets.ts";
import { type Evaluation, evaluate } from "./evaluate.ts";
import { EvalService } from "./service.ts";

/** Tokens the service counts for a prompt when it prices it (about four characters a token). */
const tokens = (text: string) => Math.max(1, Math.ceil(text.length / 4));

/** A seeded split: `share` of the items held out for testing, the rest for training. */
export function split(items: readonly EvalItem[], share: number, seed: number) {
  const order = shuffled(items, seed);
  const cut = Math.round(items.length * share);
  return { test: order.slice(0, cut), train: order.slice(cut) };
}

/**
 * Each target's price in USD per million tokens, such that the service's cost of a training prompt
 * (price × its tokens) averages what the dataset says a call costs.
 */
export function pricesPerMtok(d: Dataset, train: readonly EvalItem[]): Record<string, number> {
  const targets = [...new Set(train.flatMap((i) => Object.keys(i.scores)))];
  const meanTokens = train.reduce((s, i) => s + tokens(i.text), 0) / train.length;
  return Object.fromEntries(
    targets.map((t) => {
      const costs = train.map((i) => i.costs?.[t] ?? d.costPerCall?.[t] ?? 0);
      const mean = costs.reduce((a, b) => a + b, 0) / costs.length;
      return [t, (mean / meanTokens) * 1e6];
    }),
  );
}

export interface OutOfTheBoxResult {
  evaluation: Evaluation;
  prices: Record<string, number>;
  settings: unknown;
  tuned: unknown;
  trained: number;
}

export async function evaluateOutOfTheBox(
  d: Dataset,
  options: {
    seed: number;
    testShare: number;
    cacheDir: string;
    embedder?: Embedder;
    onProgress?: (phase: string, done: number, total: number) => void;
  },
): Promise<OutOfTheBoxResult> {
  const { train, test } = split(d.items, options.testShare, options.seed);
  const prices = pricesPerMtok(d, train);
  const service = await EvalService.start(options);
  try {
    await service.import(train.map((i) => ({ text: i.text, category: i.category, scores: i.scores })));
    for (const [target, price] of Object.entries(prices)) await service.price(target, price);
    await service.embedder.embed(test.map((i) => i.text));
    const predictions = async (phase: string) => {
      const out: Array<Record<string, number>> = [];
      for (const [n, item] of test.entries()) {
        const ranked = await service.rank(item.text);
        out.push(Object.fromEntries(ranked.map((r) => [r.target, r.score])));
        options.onProgress?.(phase, n + 1, test.length);
      }
      return out;
    };
    const before = await predictions("ranking before tuning");
    const status = await service.tune();
    const after = await predictions("ranking after tuning");
    const evaluation = evaluate({ ...d, items: test }, undefined, [], options.seed, true, [
      { name: "this service, safe defaults (before tuning)", predicted: before },
      { name: "this service, after its own tuning", predicted: after },
    ]);
    return { evaluation, prices, settings: status.settings, tuned: status.evaluation, trained: train.length };
  } finally {
    await service.close();
  }
}
