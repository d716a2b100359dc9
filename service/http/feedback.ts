import { createRoute, z } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { type FeedbackService, feedbackDisabled } from "../core/feedback-service.ts";
import { TargetName } from "../core/schemas.ts";
import { bearerToken } from "./auth.ts";
import type { AppEnv, Deps } from "./context.ts";
import { errors, json, jsonBody, router } from "./openapi.ts";

const FeedbackBody = z
  .strictObject({
    ranking_id: z
      .string({ error: "ranking_id must be a string" })
      .min(1)
      .max(100)
      .describe("the `ranking_id` a /rank answer gave"),
    target: TargetName.describe("one of the targets that ranking offered"),
    score: z
      .number({ error: "score must be a number" })
      .min(0, "score must be in [0, 1]")
      .max(1, "score must be in [0, 1]")
      .describe("how well the target did on this prompt: graded, or 1 / 0 for a thumbs up / down"),
  })
  .openapi("FeedbackRequest", {
    example: { ranking_id: "3f1c2b1e-8d6a-4e0f-9c37-2a6b8e1d5f40", target: "gpt-4o-mini", score: 1 },
  });

const FeedbackAnswer = z
  .object({
    ranking_id: z.string().describe("the ranking"),
    target: z.string().describe("the target the outcome is for"),
    score: z.number().describe("the score recorded (a repeat replaced any earlier one)"),
    example_id: z
      .string()
      .describe("the labelled example the ranking's prompt now is, with every outcome so far"),
    indexed: z.boolean().describe("false when the vector store takes the example later"),
  })
  .openapi("FeedbackRecorded");

const FEEDBACK_SECURITY: Array<Record<string, string[]>> = [{ feedbackToken: [] }, { adminToken: [] }];

const route = createRoute({
  operationId: "recordFeedback",
  method: "post",
  path: "/",
  tags: ["rank"],
  security: FEEDBACK_SECURITY,
  summary: "Report how a ranked target did on the ranking's prompt",
  description:
    "Needs FEEDBACK_TOKEN (or the admin token). The outcome replaces an earlier one for the same ranking and target, and the ranking's prompt becomes (or updates) a labelled example whose scores are the outcomes observed.",
  request: { body: jsonBody(FeedbackBody) },
  responses: { 200: json(FeedbackAnswer, "Recorded and learned from"), ...errors(400, 401, 404, 413, 503) },
});

/** POST /feedback's guard: FEEDBACK_TOKEN (or the admin token); 503 FEEDBACK_DISABLED without one. */
export function feedbackAuth(config: Deps["config"]): MiddlewareHandler<AppEnv> {
  const token = config.feedback.token;
  const auth = token
    ? bearerToken(
        [token, ...(config.admin.token ? [config.admin.token] : [])],
        "feedback token",
        "FEEDBACK_TOKEN",
      )
    : undefined;
  return async (c, next) => {
    if (!auth) {
      throw feedbackDisabled();
    }
    return auth(c, next);
  };
}

/** POST /feedback: outcomes on the router's own rankings. */
export function feedbackRoutes(deps: Deps & { feedback: FeedbackService }) {
  return router().openapi(route, async (c) => {
    const { ranking_id, target, score } = c.req.valid("json");
    const { exampleId, indexed } = await deps.feedback.record(ranking_id, target, score);
    return c.json({ ranking_id, target, score, example_id: exampleId, indexed }, 200);
  });
}
