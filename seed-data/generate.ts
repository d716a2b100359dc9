/**
 * Writes examples.jsonl and targets.jsonl from prompts.ts. The scores are ILLUSTRATIVE: a per-task
 * strength for each model, lowered on harder prompts (a deterministic difficulty drawn from the
 * prompt's hash), with stronger models losing less. Replace them with measured ones (README.md).
 *
 *   npx tsx seed-data/generate.ts
 */
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { PROMPTS } from "./prompts.ts";

interface Target {
  name: string;
  input_price_per_mtok: number;
  output_price_per_mtok: number;
  /** How much of its strength a model keeps on the hardest prompts (1 = all). */
  robustness: number;
}

/** List prices in USD per million tokens as published by each provider at the time of writing. */
const TARGETS: Target[] = [
  { name: "gpt-4o", input_price_per_mtok: 2.5, output_price_per_mtok: 10, robustness: 0.85 },
  { name: "gpt-4o-mini", input_price_per_mtok: 0.15, output_price_per_mtok: 0.6, robustness: 0.65 },
  { name: "claude-3-5-sonnet", input_price_per_mtok: 3, output_price_per_mtok: 15, robustness: 0.88 },
  { name: "claude-3-5-haiku", input_price_per_mtok: 0.8, output_price_per_mtok: 4, robustness: 0.7 },
  {
    name: "llama-3.1-70b-instruct",
    input_price_per_mtok: 0.88,
    output_price_per_mtok: 0.88,
    robustness: 0.72,
  },
  {
    name: "llama-3.1-8b-instruct",
    input_price_per_mtok: 0.18,
    output_price_per_mtok: 0.18,
    robustness: 0.45,
  },
  { name: "mixtral-8x7b-instruct", input_price_per_mtok: 0.6, output_price_per_mtok: 0.6, robustness: 0.5 },
  { name: "gemini-1.5-flash", input_price_per_mtok: 0.075, output_price_per_mtok: 0.3, robustness: 0.6 },
];

/** Illustrative strength of each model per kind of task, in the order of TARGETS. */
const STRENGTH: Record<string, number[]> = {
  code: [0.9, 0.78, 0.93, 0.8, 0.76, 0.55, 0.58, 0.72],
  math: [0.88, 0.74, 0.86, 0.7, 0.72, 0.45, 0.5, 0.75],
  reasoning: [0.9, 0.72, 0.91, 0.74, 0.74, 0.5, 0.55, 0.7],
  "creative-writing": [0.88, 0.8, 0.92, 0.84, 0.8, 0.68, 0.7, 0.76],
  summarization: [0.9, 0.86, 0.91, 0.87, 0.84, 0.74, 0.76, 0.85],
  extraction: [0.92, 0.88, 0.92, 0.88, 0.85, 0.72, 0.74, 0.86],
  translation: [0.91, 0.85, 0.9, 0.84, 0.8, 0.66, 0.74, 0.86],
  "chit-chat": [0.9, 0.9, 0.92, 0.9, 0.88, 0.84, 0.85, 0.88],
  "knowledge-qa": [0.92, 0.84, 0.9, 0.83, 0.85, 0.68, 0.72, 0.83],
  classification: [0.93, 0.9, 0.92, 0.9, 0.88, 0.8, 0.82, 0.89],
  advice: [0.9, 0.85, 0.91, 0.86, 0.84, 0.74, 0.76, 0.83],
};

function hashUnit(s: string, salt: string): number {
  return createHash("sha256").update(`${salt}:${s}`).digest().readUInt32LE(0) / 2 ** 32;
}

/** A UUID derived from the text, so regenerating the file keeps ids stable. */
function stableId(text: string): string {
  const h = createHash("sha256").update(`seed:${text}`).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

const here = dirname(fileURLToPath(import.meta.url));
const lines: string[] = [];
for (const [category, prompts] of Object.entries(PROMPTS)) {
  const strength = STRENGTH[category];
  if (!strength) throw new Error(`no strengths for ${category}`);
  for (const text of prompts) {
    const difficulty = hashUnit(text, "difficulty");
    const scores: Record<string, number> = {};
    TARGETS.forEach((t, i) => {
      const base = strength[i] as number;
      const noise = (hashUnit(text, t.name) - 0.5) * 0.1;
      const s = base * (1 - difficulty * (1 - t.robustness)) + noise;
      scores[t.name] = Math.round(Math.min(1, Math.max(0, s)) * 100) / 100;
    });
    lines.push(JSON.stringify({ id: stableId(text), text, category, scores }));
  }
}
writeFileSync(join(here, "examples.jsonl"), `${lines.join("\n")}\n`);
writeFileSync(
  join(here, "targets.jsonl"),
  `${TARGETS.map(({ robustness: _, ...t }) => JSON.stringify({ ...t, enabled: true })).join("\n")}\n`,
);
console.log(`wrote ${lines.length} examples for ${TARGETS.length} targets`);
