import { rng } from "../../service/routing/crossval.ts";
import type { Dataset, EvalItem } from "./datasets.ts";

/** Topic vocabularies: prompts built from them embed near their topic with any embedder. */
const TOPICS: Record<string, string[]> = {
  code: ["python", "function", "bug", "compile", "array", "refactor", "typescript", "loop", "stack", "trace"],
  maths: [
    "integral",
    "prove",
    "equation",
    "matrix",
    "prime",
    "derivative",
    "probability",
    "limit",
    "sum",
    "theorem",
  ],
  chat: ["hello", "weekend", "movie", "friend", "joke", "coffee", "music", "holiday", "weather", "dinner"],
  legal: [
    "contract",
    "clause",
    "liability",
    "tenant",
    "court",
    "statute",
    "warranty",
    "breach",
    "lease",
    "damages",
  ],
  translate: [
    "translate",
    "french",
    "spanish",
    "german",
    "sentence",
    "idiom",
    "phrase",
    "japanese",
    "italian",
    "word",
  ],
  summary: [
    "summarise",
    "article",
    "report",
    "meeting",
    "notes",
    "abstract",
    "chapter",
    "transcript",
    "brief",
    "points",
  ],
};

/**
 * Mean quality of each model per topic, and its price per call (USD). Known structure: the cheap
 * specialists beat the expensive generalist on their own topics and are poor elsewhere, so a
 * router that reads the topic should beat every single model at every budget.
 */
const MODELS: Record<string, { price: number; quality: Record<string, number> }> = {
  large: {
    price: 0.01,
    quality: { code: 0.9, maths: 0.88, chat: 0.9, legal: 0.85, translate: 0.9, summary: 0.9 },
  },
  "code-small": {
    price: 0.001,
    quality: { code: 0.95, maths: 0.45, chat: 0.6, legal: 0.4, translate: 0.5, summary: 0.55 },
  },
  "chat-small": {
    price: 0.0008,
    quality: { code: 0.35, maths: 0.3, chat: 0.95, legal: 0.55, translate: 0.94, summary: 0.93 },
  },
  medium: {
    price: 0.004,
    quality: { code: 0.7, maths: 0.85, chat: 0.8, legal: 0.8, translate: 0.75, summary: 0.8 },
  },
};

/** An N-model dataset with costs and a known best router, generated from a seed. */
export function syntheticNModel(count = 1200, seed = 7): Dataset {
  const next = rng(seed);
  const topics = Object.keys(TOPICS);
  const items: EvalItem[] = [];
  for (let i = 0; i < count; i++) {
    const topic = topics[i % topics.length] as string;
    const vocab = TOPICS[topic] as string[];
    const words = Array.from({ length: 8 }, () => vocab[Math.floor(next() * vocab.length)] as string);
    const noise = Array.from({ length: 3 }, () => `w${Math.floor(next() * 500)}`);
    const scores: Record<string, number> = {};
    const costs: Record<string, number> = {};
    for (const [m, spec] of Object.entries(MODELS)) {
      scores[m] = next() < (spec.quality[topic] as number) ? 1 : 0;
      costs[m] = spec.price * (0.5 + next());
    }
    items.push({ text: [...words, ...noise].join(" "), category: topic, scores, costs });
  }
  return { name: "synthetic-4-models", items, costUnit: "USD per call" };
}
