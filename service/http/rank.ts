import { createRoute, z } from "@hono/zod-openapi";
import { setMetric } from "hono/timing";
import { TargetName } from "../core/schemas.ts";
import type { RankStage } from "../metrics.ts";
import type { Deps } from "./context.ts";
import { errors, json, jsonBody, router } from "./openapi.ts";
/** Most neighbours a request may ask for. */
export const MAX_K = 200;

/** Cost-aware choice: exactly one of willingness_to_pay, max_price, quality_tolerance. */
const ObjectiveBody = z
  .strictObject({
    willingness_to_pay: z.number().positive("willingness_to_pay must be above 0").optional(),
    max_price: z.number().min(0).optional(),
    quality_tolerance: z.number().min(0).max(1).optional(),
    output_share: z.number().min(0).max(1).optional(),
    order: z.enum(["score", "utility"]).optional(),
  })
  .superRefine((o, ctx) => {
    const given = [o.willingness_to_pay, o.max_price, o.quality_tolerance].filter(
      (v) => v !== undefined,
    ).length;
    if (given !== 1) {
      ctx.addIssue({
        code: "custom",
        message: "give exactly one of willingness_to_pay, max_price, quality_tolerance",
      });
    }
    if (o.order === "utility" && o.willingness_to_pay === undefined) {
      ctx.addIssue({ code: "custom", path: ["order"], message: "order utility needs willingness_to_pay" });
    }
  });

function rankBody(maxQueryChars: number) {
  const text = (field: string) =>
    z
      .string({ error: `${field} must be a string` })
      .max(maxQueryChars, `${field} is longer than ${maxQueryChars} characters`)
      .refine((s) => s.trim().length > 0, `${field} must not be empty`);
  return z.strictObject({
    query: text("query"),
    k: z.number().int("k must be an integer").min(1).max(MAX_K).optional(),
    targets: z.array(TargetName).min(1, "targets must name at least one target").max(1000).optional(),
    truncate_strategy: z.union([z.literal(1), z.literal(2), z.literal(3), z.literal(4)]).optional(),
    objective: ObjectiveBody.optional(),
    category: z
      .string({ error: "category must be a string" })
      .trim()
      .min(1, "category must not be empty")
      .max(200, "category is longer than 200 characters")
      .optional(),
  });
}

const RankResponse = z
  .object({
    hits: z.array(
      z.object({
        id: z.string(),
        category: z.string().nullable(),
        similarity: z.number().describe("cosine similarity, 4 decimals"),
      }),
    ),
    scores: z.array(
      z.object({
        target: z.string(),
        score: z.number(),
        support: z.number().int().describe("neighbours that scored this target"),
        confidence: z.number().describe("share of the score from the neighbours rather than the prior"),
        price_per_mtok: z
          .number()
          .nullable()
          .optional()
          .describe("with an objective: blended USD per 1M tokens"),
        utility: z
          .number()
          .nullable()
          .optional()
          .describe("with willingness_to_pay: score - price / willingness_to_pay"),
      }),
    ),
    recommended: z.string().nullable().optional().describe("with an objective: the chosen target"),
    fallback: z.boolean(),
    fallback_reason: z.string().optional(),
    category_known: z.boolean().optional(),
    k: z.number().int(),
    truncated: z.boolean(),
    embedder: z.string(),
  })
  .openapi("RankResponse");

/** Four decimals: more precision than any score carries, and a readable response. */
function round(x: number): number {
  return Math.round(x * 1e4) / 1e4;
}

/** A rank's stage timings as `Server-Timing` entries (the `timing()` middleware writes the header). */
export function serverTiming(c: Parameters<typeof setMetric>[0], stages: Record<RankStage, number>): void {
  for (const [stage, ms] of Object.entries(stages)) setMetric(c, stage, ms);
}

/** The header that says how much of the query the model could not read (when the embedder can tell). */
export function unknownShareHeader(c: Parameters<typeof setMetric>[0], share: number | undefined): void {
  if (share !== undefined) c.header("X-Unknown-Text-Share", share.toFixed(3));
}

/** POST /rank: ranked targets for a prompt, with the evidence behind them. */
export function rankRoutes(deps: Deps) {
  const route = createRoute({
    operationId: "rank",
    method: "post",
    path: "/",
    tags: ["rank"],
    summary: "Rank the targets for a prompt",
    request: { body: jsonBody(rankBody(deps.config.rank.maxQueryChars).openapi("RankRequest")) },
    responses: {
      200: json(RankResponse, "Targets best first, with the neighbours behind them"),
      ...errors(400, 413, 503),
    },
  });
  return router().openapi(route, async (c) => {
    const body = c.req.valid("json");
    const o = body.objective;
    const result = await deps.ranker.rank({
      query: body.query,
      k: body.k,
      targets: body.targets,
      truncateStrategy: body.truncate_strategy,
      category: body.category,
      objective: o && {
        willingnessToPay: o.willingness_to_pay,
        maxPrice: o.max_price,
        qualityTolerance: o.quality_tolerance,
        outputShare: o.output_share,
        order: o.order,
      },
    });
    const rows = result.scores;
    serverTiming(c, result.stages);
    unknownShareHeader(c, result.unknownShare);
    deps.metrics.observeRank({
      unknownShare: result.unknownShare,
      stages: result.stages,
      first: rows[0]?.target,
      recommended: result.recommended,
      fallback: result.fallback !== undefined,
    });
    return c.json(
      {
        hits: result.hits.map((h) => ({ ...h, similarity: round(h.similarity) })),
        scores: rows.map((s) => ({
          target: s.target,
          score: round(s.score),
          support: s.support,
          confidence: round(s.confidence),
          ...(s.price !== undefined && { price_per_mtok: s.price }),
          ...(s.utility !== undefined &&
            o?.willingness_to_pay !== undefined && {
              utility: s.utility === null ? null : round(s.utility),
            }),
        })),
        ...(result.recommended !== undefined && { recommended: result.recommended }),
        fallback: result.fallback !== undefined,
        ...(result.fallback !== undefined && { fallback_reason: result.fallback }),
        ...(result.categoryKnown !== undefined && { category_known: result.categoryKnown }),
        k: result.k,
        truncated: result.truncated,
        embedder: result.embedder,
      },
      200,
    );
  });
}
