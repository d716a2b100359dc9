import { z } from "zod";
import type { FieldIssue } from "../errors.ts";
import { ExampleInput, issuesOf, TargetName, validationError } from "./schemas.ts";

/** Problems reported at most per import, so one broken file does not produce a megabyte of errors. */
const MAX_ISSUES = 50;

/** A point of the knn-router `points.jsonl` format. Its `embedding` came from another model and is ignored. */
const PulzePoint = z.strictObject({
  point_uid: z.uuid("point_uid must be a UUID"),
  category: z.string().nullable().optional(),
  utterance: z.string(),
  embedding: z.array(z.number()).optional(),
});

/** A score of the knn-router `targets.jsonl` format. */
const PulzeScore = z.strictObject({
  point_uid: z.uuid("point_uid must be a UUID"),
  target: TargetName,
  score: z.number(),
});

class IssueList {
  readonly items: FieldIssue[] = [];
  add(...issues: FieldIssue[]): void {
    for (const i of issues) if (this.items.length < MAX_ISSUES) this.items.push(i);
  }
  throwIfAny(): void {
    if (this.items.length > 0) throw validationError(this.items);
  }
}

/** Non-blank lines of a JSONL text, parsed, with their 1-based line numbers. */
function* jsonLines(
  text: string,
  file: string,
  issues: IssueList,
): Generator<{ line: number; value: unknown }> {
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
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
export function parseExamplesJsonl(text: string, file = "examples"): ExampleInput[] {
  const issues = new IssueList();
  const out: ExampleInput[] = [];
  for (const { line, value } of jsonLines(text, file, issues)) {
    const r = ExampleInput.safeParse(value);
    if (r.success) out.push(r.data);
    else issues.add(...issuesOf(r.error, [`${file}:${line}`]));
  }
  issues.throwIfAny();
  return withUniqueIds(out, file);
}

/**
 * The knn-router format: `points.jsonl` (`point_uid`, `category`, `utterance`) and `targets.jsonl`
 * (`point_uid`, `target`, `score`), joined on `point_uid`. Every score must name a known point and
 * every point needs at least one score.
 */
export function parsePulze(pointsText: string, targetsText: string): ExampleInput[] {
  const issues = new IssueList();
  const points = new Map<
    string,
    { line: number; input: { id: string; text: string; category: string | null } }
  >();
  for (const { line, value } of jsonLines(pointsText, "points", issues)) {
    const r = PulzePoint.safeParse(value);
    if (!r.success) {
      issues.add(...issuesOf(r.error, [`points:${line}`]));
      continue;
    }
    const id = r.data.point_uid.toLowerCase();
    if (points.has(id)) issues.add({ path: `points:${line}`, message: `point_uid ${id} appears twice` });
    points.set(id, { line, input: { id, text: r.data.utterance, category: r.data.category ?? null } });
  }
  const scores = new Map<string, Record<string, number>>();
  for (const { line, value } of jsonLines(targetsText, "targets", issues)) {
    const r = PulzeScore.safeParse(value);
    if (!r.success) {
      issues.add(...issuesOf(r.error, [`targets:${line}`]));
      continue;
    }
    const id = r.data.point_uid.toLowerCase();
    if (!points.has(id)) {
      issues.add({ path: `targets:${line}`, message: `point_uid ${id} is not in points` });
      continue;
    }
    const m = scores.get(id) ?? {};
    m[r.data.target] = r.data.score;
    scores.set(id, m);
  }
  const out: ExampleInput[] = [];
  for (const [id, { line, input }] of points) {
    const r = ExampleInput.safeParse({ ...input, scores: scores.get(id) ?? {} });
    if (r.success) out.push(r.data);
    else issues.add(...issuesOf(r.error, [`points:${line}`]));
  }
  issues.throwIfAny();
  return out;
}

function withUniqueIds(inputs: ExampleInput[], file: string): ExampleInput[] {
  const seen = new Set<string>();
  const issues = new IssueList();
  inputs.forEach((e, i) => {
    if (e.id === undefined) return;
    if (seen.has(e.id))
      issues.add({ path: `${file}: example ${i + 1}`, message: `id ${e.id} appears twice` });
    seen.add(e.id);
  });
  issues.throwIfAny();
  return inputs;
}
