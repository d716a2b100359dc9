import { z } from "zod";
import { AppError, type FieldIssue } from "../errors.ts";
import type { Pair } from "../routing/aggregate.ts";
import type { ExampleOrigin } from "../store/example-store.ts";
import type { TargetPatch as StoreTargetPatch } from "../store/target-store.ts";

/** Longest example text stored, in characters. */
export const MAX_EXAMPLE_CHARS = 100_000;
/** Most examples in one POST /admin/examples call. */
export const MAX_BATCH = 1000;

/** Model names as providers spell them: `gpt-4o`, `mistralai/Mixtral-8x7B-Instruct-v0.1`, `claude-3-5-sonnet@20240620`. */
export const TargetName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,127}$/, "target names are 1-128 letters, digits or . _ : / @ + -");

const Score = z
  .number({ error: "scores must be numbers" })
  .min(0, "scores must be in [0, 1]")
  .max(1, "scores must be in [0, 1]");

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * An example's id: 1..200 characters that need no escaping in a URL path (letters, digits and
 * `.` `_` `:` `~` `-`), kept as given, so readable ids (`sql-1`) and knn-router's ids work as they
 * are. A UUID is kept in lower case, as ids have always been stored.
 */
export const ExampleId = z
  .string()
  .min(1, "id must not be empty")
  .max(200, "id is longer than 200 characters")
  .regex(/^[A-Za-z0-9._:~-]+$/, "id may hold letters, digits and . _ : ~ - only")
  // `.` and `..` are path segments a URL resolves away: /admin/examples/.. would never reach them.
  .refine((s) => !/^\.+$/.test(s), "id must hold something other than dots")
  .transform((s) => (UUID.test(s) ? s.toLowerCase() : s));

/** A prompt as stored: not blank, at most MAX_EXAMPLE_CHARS characters. */
export const ExampleText = z
  .string({ error: "text must be a string" })
  .max(MAX_EXAMPLE_CHARS, `text is longer than ${MAX_EXAMPLE_CHARS} characters`)
  .refine((s) => s.trim().length > 0, "text must not be empty");

/** A category: 1..200 characters once trimmed, or null for none. */
export const Category = z.string().trim().min(1).max(200).nullable();

/** A ranking's id: a UUID, as /rank gives them (an outcome's example is `feedback-<ranking id>`). */
export const RankingId = z
  .string({ error: "id must be a string" })
  .regex(UUID, "a ranking id is a UUID, as /rank gives them")
  .transform((s) => s.toLowerCase());

/** A labelled example as clients send it. */
export const ExampleInput = z.strictObject({
  id: ExampleId.optional().describe(
    "1..200 letters, digits or . _ : ~ - (a UUID is kept in lower case); a new UUID when absent",
  ),
  text: ExampleText.describe("the example prompt"),
  category: Category.optional().describe(
    "a category the example belongs to (its mean scores can be a prior)",
  ),
  scores: z
    .record(TargetName, Score)
    .refine((r) => Object.keys(r).length > 0, "scores must name at least one target")
    .describe(
      "how well each target answered this prompt, in [0, 1]; targets it was not tried on are left out",
    ),
});
export type ExampleInput = z.infer<typeof ExampleInput>;

/**
 * A partial update of an example (PATCH): a new text or category, and scores merged into the
 * stored ones (a target given `null` loses its score); at least one field.
 */
export const ExamplePatch = z
  .strictObject({
    text: ExampleText.optional().describe("a new text (re-embedded)"),
    category: Category.optional().describe("a new category; null removes it"),
    scores: z
      .record(TargetName, Score.nullable())
      .optional()
      .describe("scores merged into the stored ones; a target given null loses its score"),
  })
  .refine((p) => Object.keys(p).length > 0, "give at least one of text, category, scores");
export type ExamplePatch = z.infer<typeof ExamplePatch>;

/** Prices and switch of a target; at least one field. */
export const TargetPatch = z
  .strictObject({
    input_price_per_mtok: z
      .number()
      .min(0)
      .nullable()
      .optional()
      .describe("USD per 1M input tokens; null forgets the price"),
    output_price_per_mtok: z
      .number()
      .min(0)
      .nullable()
      .optional()
      .describe("USD per 1M output tokens; null forgets the price"),
    enabled: z.boolean().optional().describe("whether /rank offers this target"),
    prior_score: z
      .number({ error: "prior_score must be a number" })
      .min(0, "prior_score must be in [0, 1]")
      .max(1, "prior_score must be in [0, 1]")
      .nullable()
      .optional()
      .describe(
        "the score assumed where no example tells (a new target: the other targets' mean when not given)",
      ),
  })
  .refine(
    (p) => Object.keys(p).length > 0,
    "give at least one of input_price_per_mtok, output_price_per_mtok, enabled, prior_score",
  );
export type TargetPatch = z.infer<typeof TargetPatch>;

/** The wire names of a target patch mapped to the store's. */
export function toStorePatch(p: TargetPatch): StoreTargetPatch {
  return {
    ...(p.input_price_per_mtok !== undefined && { inputPricePerMtok: p.input_price_per_mtok }),
    ...(p.output_price_per_mtok !== undefined && { outputPricePerMtok: p.output_price_per_mtok }),
    ...(p.enabled !== undefined && { enabled: p.enabled }),
    ...(p.prior_score !== undefined && { priorScore: p.prior_score }),
  };
}

/** Field issues of a failed parse, paths dotted (`examples.3.scores.gpt-4o`). */
export function issuesOf(error: z.ZodError, prefix: Array<string | number> = []): FieldIssue[] {
  return error.issues.map((i) => {
    const path = [...prefix, ...i.path.map(String)].join(".");
    if (i.code === "unrecognized_keys") {
      return { path, message: `unknown field${i.keys.length > 1 ? "s" : ""}: ${i.keys.join(", ")}` };
    }
    if (i.code === "invalid_key") {
      return { path, message: `bad key: ${i.issues.map((x) => x.message).join("; ")}` };
    }
    return { path, message: i.message };
  });
}

/** Parses `value` with `schema` or throws VALIDATION_FAILED naming every bad field. */
export function parseOrThrow<T extends z.ZodType>(
  schema: T,
  value: unknown,
  prefix: Array<string | number> = [],
): z.infer<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw validationError(issuesOf(result.error, prefix));
}

export function validationError(details: FieldIssue[]): AppError {
  const first = details[0];
  const summary = first ? `${first.path || "body"}: ${first.message}` : "invalid request";
  const more =
    details.length > 1 ? ` (and ${details.length - 1} more problem${details.length > 2 ? "s" : ""})` : "";
  return new AppError("VALIDATION_FAILED", summary + more, { details });
}

/**
 * An example to write: a validated input, with its vector when the caller supplied one made by the
 * configured embedder (an import of knn-router points); its text may then be empty.
 */
export type ExampleWrite = ExampleInput & {
  vector?: Float32Array;
  /** Weights of scores not counting 1 (an outcome's example); a label weighs 1. */
  weights?: Readonly<Record<string, number>>;
  /** Comparisons between targets on the prompt (arena battles, preference outcomes). */
  preferences?: readonly Pair[];
  /** Who writes it: `outcome` for a ranking's outcomes; an operator's write (`label`) when absent. */
  origin?: ExampleOrigin;
  /**
   * An outcome's: what each score is read against (the ranking's predictions for the other targets).
   * A label's are derived when it is written (the mean of its example's other scores).
   */
  baselines?: Readonly<Record<string, number>>;
};

/** Most targets one ranking may offer. */
export const MAX_RANKING_TARGETS = 1000;

/**
 * A ranking a replica served, as it hands it to the primary (POST /feedback/rankings): held to the
 * rules of the rankings the primary makes itself, since an outcome on it writes an example (its
 * query becomes the example's text, its id the example's id).
 */
export const HandedOverRanking = z
  .strictObject({
    id: RankingId.describe("the ranking_id the replica answered (a UUID)"),
    created_at: z.iso
      .datetime({ offset: true, error: "created_at must be an ISO 8601 time" })
      .describe("when it was ranked (ISO 8601), within FEEDBACK_WINDOW_S and at most 60 s ahead"),
    query: ExampleText.describe("the prompt"),
    category: Category.optional().describe("the category an outcome's example is filed under, if any"),
    targets: z
      .array(TargetName)
      .min(1, "targets must name at least one target")
      .max(MAX_RANKING_TARGETS, `a ranking offers at most ${MAX_RANKING_TARGETS} targets`)
      .refine((t) => new Set(t).size === t.length, "targets must not repeat")
      .describe("the targets offered, best first"),
    recommended: TargetName.nullable().describe("the target recommended, or null"),
    propensity: z
      .number()
      .gt(0, "propensity must be in (0, 1]")
      .max(1, "propensity must be in (0, 1]")
      .nullable()
      .describe("the policy's probability of `recommended`; null when nothing was recommended"),
    explored: z.boolean().describe("whether `recommended` was an exploration"),
    uncertainty: z.number().min(0).max(1).describe("how unsure the ranking was"),
    reasons: z.array(z.string().max(1000)).max(10).describe("why it was unsure"),
    predictions: z
      .record(TargetName, z.number().min(0).max(1))
      .optional()
      .describe(
        "the router's label estimate of each target its labels supported: what outcomes are read against",
      ),
    similarities: z
      .array(z.number().min(-1).max(1))
      .max(5)
      .optional()
      .describe("the nearest neighbours' similarities, nearest first"),
  })
  .superRefine((r, ctx) => {
    if (r.recommended !== null && !r.targets.includes(r.recommended)) {
      ctx.addIssue({ code: "custom", path: ["recommended"], message: "recommended must be one of targets" });
    }
    const unoffered = Object.keys(r.predictions ?? {}).filter((t) => !r.targets.includes(t));
    if (unoffered.length > 0) {
      ctx.addIssue({
        code: "custom",
        path: ["predictions"],
        message: `predictions name targets the ranking did not offer: ${unoffered.slice(0, 3).join(", ")}`,
      });
    }
    if ((r.recommended === null) !== (r.propensity === null)) {
      ctx.addIssue({
        code: "custom",
        path: ["propensity"],
        message: "propensity is given exactly when a target was recommended",
      });
    }
  });
export type HandedOverRanking = z.infer<typeof HandedOverRanking>;
