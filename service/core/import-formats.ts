import { z } from "zod";
import { normalize } from "../embedding/embedder.ts";
import type { FieldIssue } from "../errors.ts";
import { yieldToLoop } from "./example-writer.ts";
import {
  Category,
  ExampleId,
  ExampleInput,
  ExampleText,
  type ExampleWrite,
  issuesOf,
  MAX_EXAMPLE_CHARS,
  TargetName,
  validationError,
} from "./schemas.ts";

/** Problems reported at most per import, so one broken file does not produce a megabyte of errors. */
const MAX_ISSUES = 50;

/** Most examples one import may hold. */
export const MAX_IMPORT = 100_000;

/** An import as it arrived: our JSONL, or knn-router's two files. */
export type ImportSource =
  | { format: "examples"; text: string }
  | { format: "arena"; text: string }
  | { format: "pulze"; points: string; targets: string; vectorsFrom?: string };

/**
 * The examples of an import, all validated: each format's own default for targets an example does
 * not score (`absent` for our JSONL, `zero` for knn-router's), at least one example and at most
 * MAX_IMPORT. Throws VALIDATION_FAILED naming file and line of each problem.
 */
export async function parseImport(
  source: ImportSource,
  options: { unlisted?: UnlistedPolicy; embedder: { id: string; dimension: number } },
): Promise<ExampleWrite[]> {
  const inputs =
    source.format === "examples"
      ? fillUnlisted(await parseExamplesJsonl(source.text), options.unlisted ?? "absent")
      : source.format === "arena"
        ? await parseArena(source.text)
        : await parsePulze(source.points, source.targets, {
            unlisted: options.unlisted,
            vectorsFrom: source.vectorsFrom,
            embedder: options.embedder,
          });
  if (inputs.length === 0) throw validationError([{ path: "body", message: "the import holds no examples" }]);
  if (inputs.length > MAX_IMPORT) {
    throw validationError([{ path: "body", message: `at most ${MAX_IMPORT} examples per import` }]);
  }
  return inputs;
}

/**
 * The one rule for ids within a batch: each appears once. An issue for every repeat of `ids[i]`,
 * at `where(i).path`, naming where the id first appeared (`where(first).at`); `where` is asked only
 * for repeats, so a 100,000-line import's check builds no strings.
 */
export function repeatedIds(
  ids: ReadonlyArray<string | undefined>,
  where: (i: number) => { path: string; at: string },
): FieldIssue[] {
  const first = new Map<string, number>();
  const issues: FieldIssue[] = [];
  ids.forEach((id, i) => {
    if (id === undefined) return;
    const seen = first.get(id);
    if (seen === undefined) first.set(id, i);
    else issues.push({ path: where(i).path, message: `id ${id} appears twice (first at ${where(seen).at})` });
  });
  return issues;
}

/**
 * A point of the knn-router `points.jsonl` format. Columns its loader ignores are ignored here too;
 * `embedding` is used only when the operator says which embedder made it (see `parsePulze`).
 */
const PulzePoint = z.object({
  point_uid: ExampleId,
  // knn-router writes "" for none; otherwise the category rule of every other write path.
  category: z
    .string()
    .nullable()
    .optional()
    .transform((c) => (c?.trim() ? c : null))
    .pipe(Category),
  utterance: z.string().nullable().optional(),
  embedding: z
    .array(z.number({ error: "embedding must hold numbers" }))
    .nullable()
    .optional(),
});

/** A score of the knn-router `targets.jsonl` format. */
const PulzeScore = z.object({
  point_uid: ExampleId,
  target: TargetName,
  score: z.number(),
});

/** An example whose vector was supplied: its text may be empty (knn-router's utterance is optional). */
const VectorExample = ExampleInput.extend({ text: z.string().max(MAX_EXAMPLE_CHARS) });

/**
 * What a target that an example does not score means: `absent` (unknown: it is averaged over the
 * examples that do score it) or `zero` (the example's answer was wrong for it, as knn-router's
 * one-positive-target points mean). With `zero`, every target named anywhere in the import that an
 * example does not score is stored with score 0 for it.
 */
export type UnlistedPolicy = "absent" | "zero";

export interface PulzeOptions {
  /** Default `zero`: knn-router's formula counts an unlisted target as 0. */
  unlisted?: UnlistedPolicy;
  /**
   * The embedder the operator says the points' embeddings came from; when it is `embedder.id`, they
   * are stored as the vectors (and a point needs no utterance). Unset: embeddings are ignored.
   */
  vectorsFrom?: string;
  /** The configured embedder's identity; needed with `vectorsFrom`. */
  embedder?: { id: string; dimension: number };
}

class IssueList {
  readonly items: FieldIssue[] = [];
  add(...issues: FieldIssue[]): void {
    for (const i of issues) if (this.items.length < MAX_ISSUES) this.items.push(i);
  }
  throwIfAny(): void {
    if (this.items.length > 0) throw validationError(this.items);
  }
}

/** How long parsing holds the event loop before it lets other work run. */
const PARSE_SLICE_MS = 5;

/**
 * Non-blank lines of a JSONL text, parsed, with their 1-based line numbers. Every PARSE_SLICE_MS
 * it lets the event loop run, so that a 100,000-line import does not hold other requests.
 */
async function* jsonLines(
  text: string,
  file: string,
  issues: IssueList,
): AsyncGenerator<{ line: number; value: unknown }> {
  const lines = text.split(/\r?\n/);
  let slice = performance.now();
  for (let i = 0; i < lines.length; i++) {
    // The clock read every 64 lines (each line's own work includes its caller's validation).
    if (i % 64 === 63 && performance.now() - slice > PARSE_SLICE_MS) {
      await yieldToLoop();
      slice = performance.now();
    }
    const raw = (lines[i] as string).trim();
    if (raw === "") continue;
    try {
      yield { line: i + 1, value: JSON.parse(raw) };
    } catch {
      issues.add({ path: `${file}:${i + 1}`, message: "not valid JSON" });
    }
  }
}

/** Our own format: one ExampleInput a line. Throws VALIDATION_FAILED naming file and line of each problem. */
export async function parseExamplesJsonl(text: string, file = "examples"): Promise<ExampleInput[]> {
  const issues = new IssueList();
  const out: Array<{ input: ExampleInput; line: number }> = [];
  for await (const { line, value } of jsonLines(text, file, issues)) {
    const r = ExampleInput.safeParse(value);
    if (!r.success) {
      issues.add(...issuesOf(r.error, [`${file}:${line}`]));
      continue;
    }
    out.push({ input: r.data, line });
  }
  issues.add(
    ...repeatedIds(
      out.map((o) => o.input.id),
      (i) => {
        const { line } = out[i] as { line: number };
        return { path: `${file}:${line}.id`, at: `${file}:${line}` };
      },
    ),
  );
  issues.throwIfAny();
  return out.map((o) => o.input);
}

/** One arena battle: on `text`, `model_a` against `model_b`, and who won. */
const Battle = z.strictObject({
  text: ExampleText,
  category: Category.optional(),
  model_a: TargetName,
  model_b: TargetName,
  winner: z.enum(["model_a", "model_b", "tie"], { error: "winner must be model_a, model_b or tie" }),
});

/**
 * Arena battles (RouteLLM's and Chatbot Arena's shape), one a line: `{"text", "model_a",
 * "model_b", "winner": "model_a" | "model_b" | "tie"}` (optional `category`). Battles on the same
 * text become one example whose comparisons they are: each pair's wins and games summed, a tie half a
 * win each; the example has no scores. Throws VALIDATION_FAILED naming the line of each problem.
 */
export async function parseArena(text: string, file = "battles"): Promise<ExampleWrite[]> {
  const issues = new IssueList();
  const byText = new Map<string, { category: string | null; pairs: Map<string, [number, number]> }>();
  for await (const { line, value } of jsonLines(text, file, issues)) {
    const r = Battle.safeParse(value);
    if (!r.success) {
      issues.add(...issuesOf(r.error, [`${file}:${line}`]));
      continue;
    }
    const b = r.data;
    if (b.model_a === b.model_b) {
      issues.add({ path: `${file}:${line}.model_b`, message: "a battle needs two different models" });
      continue;
    }
    const aWins = b.winner === "tie" ? 0.5 : b.winner === "model_a" ? 1 : 0;
    const [first, second, firstWins] =
      b.model_a < b.model_b ? [b.model_a, b.model_b, aWins] : [b.model_b, b.model_a, 1 - aWins];
    const entry = byText.get(b.text) ?? { category: b.category ?? null, pairs: new Map() };
    const key = `${first}\u0000${second}`;
    const [wins, games] = entry.pairs.get(key) ?? [0, 0];
    entry.pairs.set(key, [wins + firstWins, games + 1]);
    byText.set(b.text, entry);
  }
  issues.throwIfAny();
  return [...byText].map(([text, { category, pairs }]) => ({
    text,
    category,
    scores: {},
    preferences: [...pairs].map(([key, [wins, games]]) => {
      const [a, b] = key.split("\u0000") as [string, string];
      return [a, b, wins, games] as const;
    }),
  }));
}

/**
 * The knn-router format: `points.jsonl` (`point_uid`, `category`, `utterance`, `embedding`) and
 * `targets.jsonl` (`point_uid`, `target`, `score`), joined on `point_uid`. Every score must name a
 * known point, every point needs at least one score, and a (point, target) pair may appear once.
 */
export async function parsePulze(
  pointsText: string,
  targetsText: string,
  options: PulzeOptions,
): Promise<ExampleWrite[]> {
  const issues = new IssueList();
  const { embedder, vectorsFrom } = options;
  const useVectors = vectorsFrom !== undefined && vectorsFrom === embedder?.id;
  if (vectorsFrom !== undefined && !useVectors) {
    issues.add({
      path: "embedder",
      message: `the points' embeddings are from ${vectorsFrom}, but this service embeds with ${embedder?.id}; their vectors cannot be compared`,
    });
    issues.throwIfAny();
  }
  const points = new Map<
    string,
    { line: number; id: string; text: string; category: string | null; vector?: Float32Array }
  >();
  const uids: Array<{ id: string; line: number }> = [];
  for await (const { line, value } of jsonLines(pointsText, "points", issues)) {
    const r = PulzePoint.safeParse(value);
    if (!r.success) {
      issues.add(...issuesOf(r.error, [`points:${line}`]));
      continue;
    }
    const id = r.data.point_uid;
    uids.push({ id, line });
    const text = r.data.utterance ?? "";
    const { embedding } = r.data;
    let vector: Float32Array | undefined;
    if (useVectors && embedder && embedding) {
      if (embedding.length !== embedder.dimension) {
        issues.add({
          path: `points:${line}.embedding`,
          message: `embedding has ${embedding.length} dimensions; ${embedder.id} makes ${embedder.dimension}`,
        });
        continue;
      }
      vector = normalize(Float32Array.from(embedding));
    } else if (text.trim() === "") {
      issues.add({
        path: `points:${line}`,
        message: useVectors
          ? "the point has neither an utterance nor an embedding"
          : `the point has no utterance: to import its embedding instead, send form field embedder=<the id of the embedder that made it>${embedder ? ` (this service embeds with ${embedder.id})` : ""}`,
      });
      continue;
    }
    const { category } = r.data;
    points.set(id, { line, id, text, category, ...(vector && { vector }) });
  }
  issues.add(
    ...repeatedIds(
      uids.map((u) => u.id),
      (i) => ({ path: `points:${uids[i]?.line}`, at: `points:${uids[i]?.line}` }),
    ),
  );
  const scores = new Map<string, Record<string, number>>();
  const firstLine = new Map<string, number>();
  for await (const { line, value } of jsonLines(targetsText, "targets", issues)) {
    const r = PulzeScore.safeParse(value);
    if (!r.success) {
      issues.add(...issuesOf(r.error, [`targets:${line}`]));
      continue;
    }
    const id = r.data.point_uid;
    if (!points.has(id)) {
      issues.add({ path: `targets:${line}`, message: `point_uid ${id} is not in points` });
      continue;
    }
    const pair = `${id} ${r.data.target}`;
    const first = firstLine.get(pair);
    if (first !== undefined) {
      issues.add({
        path: `targets:${line}`,
        message: `point ${id} scores ${r.data.target} again (first at targets:${first}); give each pair once`,
      });
      continue;
    }
    firstLine.set(pair, line);
    const m = scores.get(id) ?? {};
    m[r.data.target] = r.data.score;
    scores.set(id, m);
  }
  const out: ExampleWrite[] = [];
  for (const [id, { line, text, category, vector }] of points) {
    const input = { id, text, category, scores: scores.get(id) ?? {} };
    const r = (vector ? VectorExample : ExampleInput).safeParse(input);
    if (r.success) out.push(vector ? { ...r.data, vector } : r.data);
    else issues.add(...issuesOf(r.error, [`points:${line}`]));
  }
  issues.throwIfAny();
  return fillUnlisted(out, options.unlisted ?? "zero");
}

/** Applies the unlisted-target policy: with `zero`, every example scores every target the batch names. */
export function fillUnlisted<T extends ExampleInput>(inputs: T[], policy: UnlistedPolicy): T[] {
  if (policy === "absent") return inputs;
  const named = new Set(inputs.flatMap((e) => Object.keys(e.scores)));
  return inputs.map((e) => {
    const scores: Record<string, number> = {};
    for (const t of named) scores[t] = e.scores[t] ?? 0;
    return { ...e, scores };
  });
}
