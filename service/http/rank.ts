import { randomUUID } from "node:crypto";
import { createRoute, z } from "@hono/zod-openapi";
import { setMetric } from "hono/timing";
import { TargetName } from "../core/schemas.ts";
import type { RankStage } from "../metrics.ts";
import { doubt } from "../routing/uncertainty.ts";
import type { Deps } from "./context.ts";
import { errors, json, jsonBody, router } from "./openapi.ts";
/** Most neighbours a request may ask for. */
export const MAX_K = 200;

/** The README's call and its answer (a test holds them equal): the document's /rank example. */
const RANK_EXAMPLE = { query: "write a haiku about rain", k: 3 };
const RANK_ANSWER_EXAMPLE = {
  hits: [
    {
      id: "8f632028-3278-479b-8aaa-748a7182884c",
      category: "creative-writing",
      similarity: 0.8425,
    },
    {
      id: "746f4aad-5764-4317-8165-1b6f25aa1284",
      category: "creative-writing",
      similarity: 0.5923,
    },
    {
      id: "56f1acfc-fd4d-4908-88ca-3e91ce4ceabe",
      category: "creative-writing",
      similarity: 0.5781,
    },
  ],
  scores: [
    {
      target: "claude-3-5-sonnet",
      score: 0.854,
      support: 3,
      confidence: 0.0114,
    },
    {
      target: "gpt-4o",
      score: 0.8185,
      support: 3,
      confidence: 0.0114,
    },
    {
      target: "claude-3-5-haiku",
      score: 0.7196,
      support: 3,
      confidence: 0.0114,
    },
    {
      target: "llama-3.1-70b-instruct",
      score: 0.6857,
      support: 3,
      confidence: 0.0114,
    },
    {
      target: "gpt-4o-mini",
      score: 0.6631,
      support: 3,
      confidence: 0.0114,
    },
    {
      target: "gemini-1.5-flash",
      score: 0.6144,
      support: 3,
      confidence: 0.0114,
    },
    {
      target: "mixtral-8x7b-instruct",
      score: 0.5259,
      support: 3,
      confidence: 0.0114,
    },
    {
      target: "llama-3.1-8b-instruct",
      score: 0.4926,
      support: 3,
      confidence: 0.0114,
    },
  ],
  fallback: false,
  k: 3,
  truncated: false,
  embedder: "local:universal-sentence-encoder-lite:512",
  ranking_id: "02235157-1a9f-488a-9b5c-d3cbd3fccdeb",
};

/** Cost-aware choice: exactly one of willingness_to_pay, max_price, quality_tolerance. */
const ObjectiveBody = z
  .strictObject({
    willingness_to_pay: z
      .number()
      .positive("willingness_to_pay must be above 0")
      .optional()
      .describe(
        "USD per 1M tokens you would pay for +1.0 of score: recommends the highest score - price / willingness_to_pay",
      ),
    max_price: z
      .number()
      .min(0)
      .optional()
      .describe("recommends the best-scored target whose blended price (USD per 1M tokens) is at most this"),
    quality_tolerance: z
      .number()
      .min(0)
      .max(1)
      .optional()
      .describe("recommends the cheapest target scored within this much of the best score"),
    output_share: z
      .number()
      .min(0)
      .max(1)
      .optional()
      .describe("share of output tokens in the blended price input·(1−s) + output·s (default 0.5)"),
    order: z
      .enum(["score", "utility"])
      .optional()
      .describe("order of `scores`: by score (default) or, with willingness_to_pay, by utility"),
  })
  .describe("cost-aware choice: exactly one of willingness_to_pay, max_price, quality_tolerance")
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
      .min(1, `${field} must not be empty`)
      .max(maxQueryChars, `${field} is longer than ${maxQueryChars} characters`)
      .refine((s) => s === "" || s.trim().length > 0, `${field} must not be empty`);
  return z.strictObject({
    query: text("query").describe("the prompt to route"),
    k: z
      .number()
      .int("k must be an integer")
      .min(1)
      .max(MAX_K)
      .optional()
      .describe("neighbours to use (default: DEFAULT_K when set, else the k of the settings in force)"),
    targets: z
      .array(TargetName)
      .min(1, "targets must name at least one target")
      .max(1000)
      .optional()
      .describe("rank only these targets"),
    truncate_strategy: z
      .union([z.literal(1), z.literal(2), z.literal(3), z.literal(4)])
      .optional()
      .describe("how a query longer than the model reads is cut: 1 head, 2 tail, 3 middle (default), 4 ends"),
    objective: ObjectiveBody.optional(),
    category: z
      .string({ error: "category must be a string" })
      .trim()
      .min(1, "category must not be empty")
      .max(200, "category is longer than 200 characters")
      .optional()
      .describe(
        "the query's category, when the caller knows it: with tuned shrinkage its mean scores become the prior, and a fallback ranks by them",
      ),
  });
}

const RankResponse = z
  .object({
    hits: z
      .array(
        z.object({
          id: z.string().describe("the example's id"),
          category: z.string().nullable().describe("the example's category"),
          similarity: z.number().describe("cosine similarity, 4 decimals"),
        }),
      )
      .describe("the nearest stored examples, most similar first"),
    scores: z
      .array(
        z.object({
          target: z.string().describe("a target model's name"),
          score: z
            .number()
            .describe(
              "the similarity-weighted mean of the neighbours' scores for this target, shrunk toward the prior as the settings say",
            ),
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
      )
      .describe("targets best first (disabled targets and targets no neighbour scored are left out)"),
    recommended: z
      .string()
      .nullable()
      .optional()
      .describe(
        "with an objective or exploration on (EXPLORATION_SHARE): the target to call; null when the objective lets none qualify",
      ),
    exploration: z
      .object({
        explored: z
          .boolean()
          .describe("true when `recommended` is not the best choice on the scores: the router is trying it"),
        propensity: z
          .number()
          .describe(
            "the probability the policy had of recommending `recommended`: weigh its outcome by 1 / propensity in offline evaluation",
          ),
        trial: z
          .boolean()
          .describe(
            "true when a new target's trial recommended it (TRIAL_SHARE: a new target is tried where it has too few outcomes)",
          ),
      })
      .optional()
      .describe(
        "while exploration is on (EXPLORATION_SHARE > 0), or a new target is on trial here (feedback on, TRIAL_SHARE > 0)",
      ),
    fallback: z
      .boolean()
      .describe(
        "true when fewer than minSupport neighbours are at least minSimilarity similar: targets are then ranked by their mean scores",
      ),
    fallback_reason: z.string().optional().describe("why the fallback answered"),
    category_known: z
      .boolean()
      .optional()
      .describe("only when the request gave category: whether any stored example has it"),
    k: z.number().int().describe("neighbours asked for"),
    truncated: z.boolean().describe("whether the query was cut before embedding"),
    embedder: z.string().describe("the id of the embedder that served this request"),
    ranking_id: z
      .string()
      .describe(
        "this ranking's id: POST /feedback takes outcomes on it while FEEDBACK_TOKEN is set (for FEEDBACK_WINDOW_S)",
      ),
  })
  .openapi("RankResponse", { example: RANK_ANSWER_EXAMPLE });

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
    request: {
      body: jsonBody(
        rankBody(deps.config.rank.maxQueryChars).openapi("RankRequest", { example: RANK_EXAMPLE }),
      ),
    },
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
    const rankingId = deps.keeper
      ? deps.keeper.keep({
          query: body.query,
          category: result.filedUnder,
          targets: rows.map((s) => s.target),
          recommended: result.recommended,
          propensity: result.exploration?.propensity,
          explored: result.exploration?.explored ?? false,
          doubt: doubt(rows, result.fallback),
          predictions: result.predictions,
          similarities: result.similarities,
        })
      : randomUUID();
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
        ...(result.exploration && {
          exploration: {
            explored: result.exploration.explored,
            propensity: round(result.exploration.propensity),
            trial: result.exploration.trial,
          },
        }),
        fallback: result.fallback !== undefined,
        ...(result.fallback !== undefined && { fallback_reason: result.fallback }),
        ...(result.categoryKnown !== undefined && { category_known: result.categoryKnown }),
        k: result.k,
        truncated: result.truncated,
        embedder: result.embedder,
        ranking_id: rankingId,
      },
      200,
    );
  });
}
