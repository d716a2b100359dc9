import { readdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { parseExamplesJsonl, parsePulze } from "../../service/core/import-formats.ts";
import { rng } from "../../service/routing/crossval.ts";

/** One labelled prompt: its quality per target in [0, 1], and optionally its cost per target in USD. */
export interface EvalItem {
  text: string;
  category: string | null;
  scores: Record<string, number>;
  costs?: Record<string, number>;
}

export interface Dataset {
  name: string;
  items: EvalItem[];
  /** For two-model metrics (APGR, CPT): the expensive and the cheap model. */
  strong?: string;
  weak?: string;
  /** Cost per call of each target, when items carry no costs of their own. */
  costPerCall?: Record<string, number>;
  /** What costs are measured in. */
  costUnit?: string;
}

const STRONG = "gpt-4-1106-preview";
const WEAK = "mistralai/Mixtral-8x7B-Instruct-v0.1";
/** RouteLLM's prices: USD per 1M tokens, used as a per-call cost ratio between the two models. */
const ROUTELLM_PRICE = { [STRONG]: 24.7, [WEAK]: 0.24 };
const ROUTELLM_UNIT = "RouteLLM's USD per 1M tokens, the same token count assumed for both models";

/** `items` in a seeded random order (the same order for the same seed). */
export function shuffled<T>(items: readonly T[], seed: number): T[] {
  const next = rng(seed);
  return items
    .map((item) => ({ item, r: next() }))
    .sort((a, b) => a.r - b.r)
    .map((o) => o.item);
}

/** A minimal RFC 4180 CSV reader: quoted fields may hold commas, quotes ("") and newlines. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") {
      row.push(field);
      field = "";
    } else if (ch === "\n" || ch === "\r") {
      if (ch === "\r" && text[i + 1] === "\n") i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
    } else field += ch;
  }
  if (field !== "" || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows.filter((r) => r.length > 1 || r[0] !== "");
}

function records(text: string): Array<Record<string, string>> {
  const [header, ...rows] = parseCsv(text);
  if (!header) return [];
  return rows.map((r) => Object.fromEntries(header.map((h, i) => [h, r[i] ?? ""])));
}

function contaminated(file: string): Set<string> {
  return new Set(
    readFileSync(file, "utf8")
      .split("\n")
      .filter((l) => l.trim())
      .map((l) => (JSON.parse(l) as { eval_prompt: string }).eval_prompt.trim()),
  );
}

const bool = (v: string) => (v === "True" ? 1 : 0);

/** RouteLLM's MMLU: 57 subject files, answer correct per model; contaminated prompts dropped. */
export function loadMmlu(root: string): Dataset {
  const dir = join(root, "routellm/evals/mmlu");
  const drop = contaminated(join(dir, "contaminated_prompts.jsonl"));
  const items: EvalItem[] = [];
  for (const file of readdirSync(join(dir, "responses")).sort()) {
    const subject = basename(file, ".csv").replace(/^mmlu_/, "");
    for (const r of records(readFileSync(join(dir, "responses", file), "utf8"))) {
      if (drop.has((r.prompt ?? "").trim())) continue;
      items.push({
        text: r.prompt as string,
        category: subject,
        scores: { [STRONG]: bool(r[STRONG] as string), [WEAK]: bool(r[WEAK] as string) },
      });
    }
  }
  return {
    name: "mmlu",
    items,
    strong: STRONG,
    weak: WEAK,
    costPerCall: ROUTELLM_PRICE,
    costUnit: ROUTELLM_UNIT,
  };
}

/** RouteLLM's GSM8K: answer correct per model; contaminated prompts dropped. */
export function loadGsm8k(root: string): Dataset {
  const dir = join(root, "routellm/evals/gsm8k");
  const drop = contaminated(join(dir, "contaminated_prompts.jsonl"));
  const items = records(readFileSync(join(dir, "gsm8k_responses.csv"), "utf8"))
    .filter((r) => !drop.has((r.prompt ?? "").trim()))
    .map((r) => ({
      text: r.prompt as string,
      category: "gsm8k",
      scores: { [STRONG]: bool(r[STRONG] as string), [WEAK]: bool(r[WEAK] as string) },
    }));
  return {
    name: "gsm8k",
    items,
    strong: STRONG,
    weak: WEAK,
    costPerCall: ROUTELLM_PRICE,
    costUnit: ROUTELLM_UNIT,
  };
}

/** Two few-shot blocks and a closing instruction, as production traffic wraps every query. */
const FEW_SHOT = [
  [
    "You are a helpful math tutor. Solve the problem step by step, then give the final answer.",
    "Question: A baker makes 24 rolls and sells 15. How many are left?",
    "Answer: 24 - 15 = 9. The final answer is 9.",
    "Question: Sam reads 12 pages a day for 5 days. How many pages does he read?",
    "Answer: 12 * 5 = 60. The final answer is 60.",
    "Question: ",
  ].join("\n"),
  [
    "System: you answer grade-school maths questions. Think carefully and show your working.",
    "Example problem: A box holds 6 eggs. How many eggs are in 7 boxes?",
    "Example solution: 6 * 7 = 42, so there are 42 eggs.",
    "Now solve this problem: ",
  ].join("\n"),
];
const CLOSING =
  "\nWrite each step on its own line and end with 'The final answer is' followed by the number.";

/**
 * GSM8K with every prompt wrapped in one of two few-shot blocks and a closing instruction: the
 * templated traffic on which plain kNN sees mostly the template (each query embeds alike).
 */
export function loadGsm8kTemplated(root: string): Dataset {
  const d = loadGsm8k(root);
  const items = d.items.map((item, i) => ({ ...item, text: `${FEW_SHOT[i % 2]}${item.text}${CLOSING}` }));
  return { ...d, name: "gsm8k-templated", items };
}

/**
 * A five-shot block longer than the local model reads (128 tokens), with the problem after it and
 * an instruction closing it: cut to the model's input limit (both ends kept), the problem itself is
 * what goes, and every prompt embeds alike unless the block is stripped first.
 */
const LONG_FEW_SHOT = [
  "You are a careful mathematics tutor for grade-school students. For every problem, read it twice,",
  "name the quantities it gives, write one equation per step, and check the result against the",
  "question before you answer. Here are five solved examples in the expected format.",
  "Problem: A farmer has 3 fields with 14 cows in each. He sells 9 cows. How many cows are left?",
  "Solution: 3 * 14 = 42 cows. 42 - 9 = 33. The final answer is 33.",
  "Problem: A book costs 8 dollars and a pen costs 2 dollars. Mia buys 3 books and 4 pens. What does she pay?",
  "Solution: 3 * 8 = 24. 4 * 2 = 8. 24 + 8 = 32. The final answer is 32.",
  "Problem: A train travels 60 miles an hour for 2.5 hours. How far does it go?",
  "Solution: 60 * 2.5 = 150. The final answer is 150.",
  "Problem: Tom had 120 stickers and gave a quarter of them to his sister. How many does he have now?",
  "Solution: 120 / 4 = 30. 120 - 30 = 90. The final answer is 90.",
  "Problem: A tank holds 500 litres and leaks 12 litres a day. How much is left after 15 days?",
  "Solution: 12 * 15 = 180. 500 - 180 = 320. The final answer is 320.",
  "Problem: ",
].join("\n");
const LONG_CLOSING =
  "\nSolution: write each step on its own line, using only the numbers in the problem and the" +
  " results of earlier steps; do not skip any step, do not round until the end, and finish with" +
  " the line 'The final answer is' followed by the number alone, with no units and no other words.";

/** GSM8K with every prompt inside LONG_FEW_SHOT and LONG_CLOSING: boilerplate that hides the problem. */
export function loadGsm8kFewShot(root: string): Dataset {
  const d = loadGsm8k(root);
  const items = d.items.map((item) => ({ ...item, text: `${LONG_FEW_SHOT}${item.text}${LONG_CLOSING}` }));
  return { ...d, name: "gsm8k-fewshot", items };
}

/**
 * RouteLLM's MT-Bench: GPT-4 judge scores 1-10 per model, question and turn. A question is routed
 * on its first turn; its quality is the mean over both turns, scaled to [0, 1].
 */
export function loadMtBench(root: string): Dataset {
  const dir = join(root, "routellm/evals/mt_bench");
  const drop = contaminated(join(dir, "contaminated_prompts.jsonl"));
  const lines = (f: string) =>
    readFileSync(join(dir, f), "utf8")
      .split("\n")
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l));
  const judged = new Map<string, number[]>();
  for (const j of lines("judgements.jsonl") as Array<{ question_id: number; model: string; score: number }>) {
    const key = `${j.question_id}|${j.model}`;
    judged.set(key, [...(judged.get(key) ?? []), j.score]);
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const items: EvalItem[] = [];
  for (const q of lines("question.jsonl") as Array<{
    question_id: number;
    category: string;
    turns: string[];
  }>) {
    const text = q.turns[0] as string;
    if (drop.has(text.trim())) continue;
    const s = judged.get(`${q.question_id}|${STRONG}`);
    const w = judged.get(`${q.question_id}|${WEAK}`);
    if (!s || !w) continue;
    items.push({
      text,
      category: q.category,
      scores: { [STRONG]: (mean(s) - 1) / 9, [WEAK]: (mean(w) - 1) / 9 },
    });
  }
  return {
    name: "mt-bench",
    items,
    strong: STRONG,
    weak: WEAK,
    costPerCall: ROUTELLM_PRICE,
    costUnit: ROUTELLM_UNIT,
  };
}

/**
 * A wide CSV: a prompt column (`prompt`, `text` or `query`), an optional `category`, one column per
 * model with its quality in [0, 1] (True/False read as 1/0), and optionally `<model>|total_cost`.
 */
export function loadWideCsv(path: string): Dataset {
  const rows = records(readFileSync(path, "utf8"));
  const header = Object.keys(rows[0] ?? {});
  const textCol = ["prompt", "text", "query"].find((c) => header.includes(c));
  if (!textCol) throw new Error(`${path}: no prompt, text or query column`);
  const models = header.filter((h) => h !== textCol && h !== "category" && !h.includes("|"));
  const value = (v: string) => (v === "True" ? 1 : v === "False" ? 0 : Number(v));
  const items = rows.map((r) => {
    const scores: Record<string, number> = {};
    const costs: Record<string, number> = {};
    for (const m of models) {
      if (r[m] !== "" && r[m] !== undefined) scores[m] = value(r[m] as string);
      const c = r[`${m}|total_cost`];
      if (c !== undefined && c !== "") costs[m] = Number(c);
    }
    return {
      text: r[textCol] as string,
      category: r.category || null,
      scores,
      ...(Object.keys(costs).length && { costs }),
    };
  });
  return { name: basename(path, ".csv"), items };
}

/** Our example JSONL (`text`, `category`, `scores`), or the knn-router pair when `targets` is given. */
export async function loadJsonl(path: string, targets?: string): Promise<Dataset> {
  const inputs = targets
    ? await parsePulze(readFileSync(path, "utf8"), readFileSync(targets, "utf8"), {})
    : await parseExamplesJsonl(readFileSync(path, "utf8"), basename(path));
  return {
    name: basename(path, ".jsonl"),
    items: inputs.map((e) => ({ text: e.text, category: e.category ?? null, scores: e.scores })),
  };
}

/** Resolves a dataset argument: `mmlu`, `gsm8k`, `mt-bench` (RouteLLM, under `root`), or a file. */
export async function loadDataset(arg: string, root: string, targets?: string): Promise<Dataset> {
  if (arg === "mmlu") return loadMmlu(root);
  if (arg === "gsm8k") return loadGsm8k(root);
  if (arg === "gsm8k-templated") return loadGsm8kTemplated(root);
  if (arg === "gsm8k-fewshot") return loadGsm8kFewShot(root);
  if (arg === "mt-bench") return loadMtBench(root);
  if (arg.endsWith(".csv")) return loadWideCsv(arg);
  if (arg.endsWith(".jsonl")) return await loadJsonl(arg, targets);
  throw new Error(
    `unknown dataset ${arg}: give mmlu, gsm8k, gsm8k-templated, gsm8k-fewshot, mt-bench, a .csv or a .jsonl file`,
  );
}
