import { Hono } from "hono";
import { z } from "zod";
import { parseOrThrow } from "../core/schemas.ts";
import type { AppEnv, Deps } from "./context.ts";
import { readJson } from "./errors.ts";

/**
 * knn-router's request (its server.go `Request`): `query` and `truncate_strategy`. Like Go's JSON
 * decoding, other fields are ignored and `truncate_strategy` null or absent means 3 (middle).
 */
function knnRouterBody(maxQueryChars: number) {
  return z.object({
    query: z
      .string({ error: "query is required and must be a string" })
      .max(maxQueryChars, `query is longer than ${maxQueryChars} characters`)
      .refine((s) => s !== "", "query is required"),
    truncate_strategy: z
      .union([z.literal(1), z.literal(2), z.literal(3), z.literal(4)], {
        error: "truncate_strategy must be 1 (head), 2 (tail), 3 (middle) or 4 (ends)",
      })
      .nullable()
      .optional(),
  });
}

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
  const schema = knnRouterBody(deps.config.rank.maxQueryChars);
  return new Hono<AppEnv>().post("/", async (c) => {
    const body = parseOrThrow(schema, goFieldNames(await readJson(c)));
    return c.json(await deps.ranker.rankLikeKnnRouter(body.query, body.truncate_strategy ?? undefined));
  });
}
