import { createRoute, z } from "@hono/zod-openapi";
import type { Deps } from "./context.ts";
import { errors, json, router } from "./openapi.ts";
import { serverTiming, unknownShareHeader } from "./rank.ts";

/**
 * knn-router's request (its server.go `Request`): `query` and `truncate_strategy`. Like Go's JSON
 * decoding, other fields are ignored and `truncate_strategy` null or absent means 3 (middle).
 */
function knnRouterBody(maxQueryChars: number) {
  return z
    .object({
      query: z
        .string({ error: "query is required and must be a string" })
        .min(1, "query is required")
        .max(maxQueryChars, `query is longer than ${maxQueryChars} characters`)
        .describe("the prompt to route"),
      truncate_strategy: z
        .union([z.literal(1), z.literal(2), z.literal(3), z.literal(4)], {
          error: "truncate_strategy must be 1 (head), 2 (tail), 3 (middle) or 4 (ends)",
        })
        .nullable()
        .optional()
        .describe(
          "how a query longer than the model reads is cut: 1 head, 2 tail, 3 middle (default), 4 ends",
        ),
    })
    .openapi("KnnRouterRequest", { example: { query: "write a haiku about rain" } });
}

const KnnRouterResponse = z
  .object({
    hits: z
      .array(
        z.object({
          id: z.string().describe("the example's id"),
          category: z.string().describe('"" for an example without one'),
          similarity: z.number().describe("raw cosine similarity"),
        }),
      )
      .describe("the nearest stored examples, most similar first"),
    scores: z
      .array(
        z.object({
          target: z.string().describe("a target model's name"),
          score: z.number().describe("round(100 · Σ sim·score / Σ sim over all hits) / 100"),
        }),
      )
      .describe("every target the hits scored, best first"),
  })
  .openapi("KnnRouterResponse");

/**
 * Go matches JSON keys to struct fields case-insensitively (an exact match first), and decodes a
 * `null` body as an empty request; so does this route.
 */
function goFieldNames(value: unknown): unknown {
  if (value === null) return {};
  if (typeof value !== "object" || Array.isArray(value)) return value;
  const out: Record<string, unknown> = {};
  for (const field of ["query", "truncate_strategy"]) {
    const key = field in value ? field : Object.keys(value).find((k) => k.toLowerCase() === field);
    if (key !== undefined) out[field] = (value as Record<string, unknown>)[key];
  }
  return out;
}

/**
 * POST /: knn-router's route, answering as knn-router does (see `Ranker.rankLikeKnnRouter`):
 * `{hits: [{id, category, similarity}], scores: [{target, score}]}`.
 */
export function knnRouterRoutes(deps: Deps) {
  const body = knnRouterBody(deps.config.rank.maxQueryChars);
  const route = createRoute({
    operationId: "rankLikeKnnRouter",
    method: "post",
    path: "/",
    tags: ["rank"],
    summary: "knn-router's route: its request, its aggregation, its answer",
    request: {
      body: {
        required: true,
        content: { "application/json": { schema: z.preprocess(goFieldNames, body) } },
      },
    },
    responses: { 200: json(KnnRouterResponse, "knn-router's answer"), ...errors(400, 413, 503) },
  });
  return router().openapi(route, async (c) => {
    const request = c.req.valid("json");
    const { hits, scores, stages, unknownShare } = await deps.ranker.rankLikeKnnRouter(
      request.query,
      request.truncate_strategy ?? undefined,
    );
    serverTiming(c, stages);
    unknownShareHeader(c, unknownShare);
    deps.metrics.observeRank({ stages, first: scores[0]?.target, fallback: false, unknownShare });
    return c.json({ hits, scores }, 200);
  });
}
