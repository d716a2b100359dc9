import { Hono } from "hono";
import { z } from "zod";
import { parseOrThrow, TargetName } from "../core/schemas.ts";
import type { AppEnv, Deps } from "./context.ts";
import { readJson } from "./errors.ts";

/** Most neighbours a request may ask for. */
export const MAX_K = 200;

function rankBody(maxQueryChars: number) {
  const text = (field: string) =>
    z
      .string({ error: `${field} must be a string` })
      .max(maxQueryChars, `${field} is longer than ${maxQueryChars} characters`)
      .refine((s) => s.trim().length > 0, `${field} must not be empty`);
  return z
    .strictObject({
      query: text("query").optional(),
      /** The knn-router request field, accepted so its clients work unchanged. */
      prompt: text("prompt").optional(),
      k: z.number().int("k must be an integer").min(1).max(MAX_K).optional(),
      targets: z.array(TargetName).min(1, "targets must name at least one target").max(1000).optional(),
      truncate_strategy: z.union([z.literal(1), z.literal(2), z.literal(3), z.literal(4)]).optional(),
    })
    .superRefine((b, ctx) => {
      if ((b.query === undefined) === (b.prompt === undefined)) {
        ctx.addIssue({ code: "custom", path: ["query"], message: "give exactly one of query or prompt" });
      }
    });
}

/** Four decimals: more precision than any score carries, and a readable response. */
function round(x: number): number {
  return Math.round(x * 1e4) / 1e4;
}

/** POST /rank (and POST / for knn-router clients): ranked targets for a prompt. */
export function rankRoutes(deps: Deps) {
  const schema = rankBody(deps.config.rank.maxQueryChars);
  return new Hono<AppEnv>().post("/", async (c) => {
    const body = parseOrThrow(schema, await readJson(c));
    const result = await deps.ranker.rank({
      query: (body.query ?? body.prompt) as string,
      k: body.k,
      targets: body.targets,
      truncateStrategy: body.truncate_strategy,
    });
    return c.json({
      hits: result.hits.map((h) => ({ ...h, similarity: round(h.similarity) })),
      scores: result.scores.map((s) => ({ ...s, score: round(s.score) })),
      k: result.k,
      truncated: result.truncated,
      embedder: deps.embedder.id,
    });
  });
}
