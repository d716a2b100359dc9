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

/** The topics of the new-model set: one vocabulary each (a subset of TOPICS). */
const NEW_MODEL_TOPICS = ["code", "maths", "legal", "translate"] as const;

/**
 * Eight incumbents' mean quality per topic: a specialist leads each topic, a generalist is good
 * everywhere, the rest trail. The newcomer is 0.1 better than the best incumbent on maths and 0.15
 * worse than the best on every other topic: it should win maths and nothing else.
 */
export const NEW_MODEL_TRUTH: Record<string, Record<(typeof NEW_MODEL_TOPICS)[number], number>> = {
  generalist: { code: 0.7, maths: 0.7, legal: 0.7, translate: 0.7 },
  "code-pro": { code: 0.8, maths: 0.5, legal: 0.5, translate: 0.5 },
  "maths-pro": { code: 0.5, maths: 0.78, legal: 0.5, translate: 0.5 },
  "legal-pro": { code: 0.5, maths: 0.5, legal: 0.8, translate: 0.5 },
  "lingua-pro": { code: 0.5, maths: 0.5, legal: 0.5, translate: 0.8 },
  steady: { code: 0.65, maths: 0.65, legal: 0.65, translate: 0.65 },
  "code-maths": { code: 0.72, maths: 0.7, legal: 0.55, translate: 0.6 },
  budget: { code: 0.55, maths: 0.55, legal: 0.55, translate: 0.55 },
  newcomer: { code: 0.65, maths: 0.88, legal: 0.65, translate: 0.65 },
};

/** The newcomer of the new-model set, and the topic it leads. */
export const NEWCOMER = "newcomer";
export const NEWCOMER_TOPIC = "maths";

/**
 * A known-truth set for a new model: `perTopic` prompts on each of four topics, every model's
 * score graded, clip(quality + difficulty + noise, 0, 1), with the prompt's difficulty (sd 0.12)
 * shared by every model on it and each model's own noise (sd 0.06). Read against the others' scores
 * on the same prompt, a score's difficulty cancels; read as it is, it does not.
 */
export function syntheticNewModel(perTopic = 400, seed = 7): EvalItem[] {
  const next = rng(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
  const clip = (x: number) => Math.min(1, Math.max(0, x));
  const items: EvalItem[] = [];
  for (let i = 0; i < perTopic * NEW_MODEL_TOPICS.length; i++) {
    const topic = NEW_MODEL_TOPICS[i % NEW_MODEL_TOPICS.length] as (typeof NEW_MODEL_TOPICS)[number];
    const vocab = TOPICS[topic] as string[];
    const words = Array.from({ length: 8 }, () => vocab[Math.floor(next() * vocab.length)] as string);
    const noise = Array.from({ length: 3 }, () => `w${Math.floor(next() * 500)}`);
    const difficulty = 0.12 * normal();
    const scores: Record<string, number> = {};
    for (const [m, quality] of Object.entries(NEW_MODEL_TRUTH)) {
      scores[m] = Math.round(clip(quality[topic] + difficulty + 0.06 * normal()) * 1000) / 1000;
    }
    items.push({ text: [...words, ...noise].join(" "), category: topic, scores });
  }
  return items;
}
