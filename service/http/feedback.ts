import { createRoute, z } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import * as zod from "zod";
import { HandedOverRanking, parseOrThrow, TargetName } from "../core/schemas.ts";
import { AppError } from "../errors.ts";
import {
  type FeedbackService,
  feedbackDisabled,
  type Outcome,
  type PendingOutcome,
} from "../learning/feedback-service.ts";
import { bearerToken } from "./auth.ts";
import { jsonOf } from "./body.ts";
import type { AppEnv, Deps } from "./context.ts";
import { ADMIN, errors, json, jsonBody, router } from "./openapi.ts";

const RankingId = z
  .string({ error: "ranking_id must be a string" })
  .min(1)
  .max(100)
  .describe("the `ranking_id` a /rank answer gave");

const FeedbackBody = z
  .strictObject({
    ranking_id: RankingId,
    target: TargetName.optional().describe("a score: one of the targets that ranking offered"),
    score: z
      .number({ error: "score must be a number" })
      .min(0, "score must be in [0, 1]")
      .max(1, "score must be in [0, 1]")
      .optional()
      .describe("how well `target` did on this prompt: graded, or 1 / 0 for a thumbs up / down"),
    preferred: TargetName.optional().describe("a preference: the offered target that did better"),
    over: TargetName.optional().describe("a preference: the offered target it did better than"),
    tie: z
      .boolean({ error: "tie must be true or false" })
      .optional()
      .describe("a preference: true when the two did equally well"),
  })
  .superRefine((b, ctx) => {
    const score = b.target !== undefined || b.score !== undefined;
    const preference = b.preferred !== undefined || b.over !== undefined || b.tie !== undefined;
    if (score && preference) {
      ctx.addIssue({ code: "custom", path: ["target"], message: "give a score or a preference, not both" });
      return;
    }
    if (!score && !preference) {
      ctx.addIssue({
        code: "custom",
        path: ["target"],
        message: "give target and score, or preferred and over",
      });
      return;
    }
    if (score) {
      if (b.target === undefined)
        ctx.addIssue({ code: "custom", path: ["target"], message: "target is required" });
      if (b.score === undefined)
        ctx.addIssue({ code: "custom", path: ["score"], message: "score is required" });
      return;
    }
    if (b.preferred === undefined)
      ctx.addIssue({ code: "custom", path: ["preferred"], message: "preferred is required" });
    if (b.over === undefined) ctx.addIssue({ code: "custom", path: ["over"], message: "over is required" });
    if (b.preferred !== undefined && b.preferred === b.over)
      ctx.addIssue({
        code: "custom",
        path: ["over"],
        message: "over must name another target than preferred",
      });
  })
  .openapi("FeedbackRequest", {
    example: { ranking_id: "3f1c2b1e-8d6a-4e0f-9c37-2a6b8e1d5f40", target: "gpt-4o-mini", score: 1 },
  });

const FeedbackAnswer = z
  .object({
    ranking_id: z.string().describe("the ranking"),
    target: z.string().optional().describe("a score: the target it is for"),
    score: z.number().optional().describe("a score: the score recorded (a repeat replaced any earlier one)"),
    preferred: z.string().optional().describe("a preference: the target that did better"),
    over: z.string().optional().describe("a preference: the target it did better than"),
    tie: z.boolean().optional().describe("a preference: whether it was a tie"),
    status: z
      .enum(["accepted", "pending"])
      .describe("accepted: it is evidence now; pending: it waits for an operator (FEEDBACK_REVIEW)"),
    example_id: z
      .string()
      .describe("the labelled example the ranking's prompt is (once accepted), with every accepted outcome"),
    indexed: z.boolean().describe("false when the vector store takes the example later, or while pending"),
  })
  .openapi("FeedbackRecorded");

const FEEDBACK_SECURITY: Array<Record<string, string[]>> = [{ feedbackToken: [] }, { adminToken: [] }];

const record = createRoute({
  operationId: "recordFeedback",
  method: "post",
  path: "/",
  tags: ["rank"],
  security: FEEDBACK_SECURITY,
  summary: "Report how ranked targets did on the ranking's prompt: a score, or a preference",
  description:
    "Needs FEEDBACK_TOKEN (or the admin token). A score for one target (`target`, `score`) or a preference between two (`preferred`, `over`, optional `tie`), each a target the ranking offered. It replaces an earlier outcome for the same target or pair, and the ranking's prompt becomes (or updates) a labelled example whose scores and comparisons are the outcomes observed. With FEEDBACK_REVIEW=true it waits (`pending`) until an operator accepts it.",
  request: { body: jsonBody(FeedbackBody) },
  responses: { 200: json(FeedbackAnswer, "Recorded"), ...errors(400, 401, 404, 413, 503) },
});

/** The hand-off's body, as documented: each ranking is validated on its own by the domain. */
const HANDED_OVER_ITEM = (() => {
  const { $schema: _, ...schema } = zod.toJSONSchema(HandedOverRanking, { io: "input" }) as Record<
    string,
    unknown
  >;
  return schema;
})();

/** The hand-off's envelope: a batch; its rankings are checked one by one (`FeedbackService.adopt`). */
const HandOverBody = z.strictObject({
  rankings: z
    .array(z.unknown())
    .min(1, "rankings must hold at least one ranking")
    .max(10_000, "at most 10000 rankings a batch"),
});

const handOver = createRoute({
  operationId: "handOverRankings",
  method: "post",
  path: "/rankings",
  tags: ["rank"],
  security: [{ replicaToken: [] }, { adminToken: [] }],
  summary: "Rankings a replica served, handed to the primary so outcomes on them can be taken",
  description:
    "Replicas (ROLE=replica) call it with REPLICA_TOKEN (or the admin token; never the feedback token). Each ranking is checked as strictly as one the primary made (the example rules for its id and query, targets that exist and are enabled, a time within FEEDBACK_WINDOW_S and at most 60 s ahead) and kept or refused on its own: the answer lists the refused ones with why, and the others are kept for FEEDBACK_WINDOW_S.",
  // Read by the handler: a bad ranking is refused alone, not with its batch.
  request: {
    body: {
      required: true,
      content: {
        "application/json": {
          schema: {
            type: "object",
            required: ["rankings"],
            additionalProperties: false,
            properties: {
              rankings: {
                type: "array",
                minItems: 1,
                maxItems: 10_000,
                items: HANDED_OVER_ITEM,
                description: "the rankings, each kept or refused on its own",
              },
            },
          },
          example: {
            rankings: [
              {
                id: "3f1c2b1e-8d6a-4e0f-9c37-2a6b8e1d5f40",
                created_at: "2026-12-06T09:30:00.000Z",
                query: "write a haiku about rain",
                targets: ["claude-3-5-sonnet", "gpt-4o"],
                recommended: "claude-3-5-sonnet",
                propensity: 0.95,
                explored: false,
                uncertainty: 0,
                reasons: [],
              },
            ],
          },
        },
      },
    },
  },
  responses: {
    200: json(
      z.object({
        kept: z.number().int().describe("rankings kept"),
        refused: z
          .array(
            z.object({
              index: z.number().int().describe("the ranking's place in the batch"),
              id: z.string().optional().describe("its id, when one could be read"),
              reason: z.string().describe("why it was refused"),
            }),
          )
          .describe("the rankings not kept, with why; a replica drops them"),
      }),
      "Each ranking kept or refused",
    ),
    ...errors(400, 401, 413, 503),
  },
});

/**
 * POST /feedback/rankings' guard: REPLICA_TOKEN or the admin token, never the feedback token (client
 * applications hold it, and a handed-over ranking decides what an outcome's example holds).
 */
export function replicaAuth(config: Deps["config"]): MiddlewareHandler<AppEnv> {
  const tokens = [config.replica.token, config.admin.token].filter((t): t is string => t !== undefined);
  const auth = tokens.length > 0 ? bearerToken(tokens, "replica token", "REPLICA_TOKEN") : undefined;
  return async (c, next) => {
    if (!auth) {
      throw new AppError(
        "UNAUTHORIZED",
        "rankings are handed over with REPLICA_TOKEN (or ADMIN_TOKEN): set it here and on the replicas",
      );
    }
    return auth(c, next);
  };
}

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

/** POST /feedback: outcomes on the router's own rankings; POST /feedback/rankings: a replica's hand-over. */
export function feedbackRoutes(deps: Deps & { feedback: FeedbackService }) {
  return router()
    .openapi(record, async (c) => {
      const b = c.req.valid("json");
      const outcome: Outcome =
        b.target !== undefined && b.score !== undefined
          ? { kind: "score", target: b.target, score: b.score }
          : {
              kind: "preference",
              preferred: b.preferred as string,
              over: b.over as string,
              tie: b.tie ?? false,
            };
      const { status, exampleId, indexed } = await deps.feedback.record(b.ranking_id, outcome);
      return c.json(
        { ranking_id: b.ranking_id, ...outcomeJson(outcome), status, example_id: exampleId, indexed },
        200,
      );
    })
    .openapi(handOver, async (c) => {
      const { rankings } = parseOrThrow(HandOverBody, await jsonOf(c));
      return c.json(deps.feedback.adopt(rankings), 200);
    });
}

/** An outcome's fields as the API names them. */
function outcomeJson(o: Outcome) {
  return o.kind === "score"
    ? { target: o.target, score: o.score }
    : { preferred: o.preferred, over: o.over, tie: o.tie };
}

const PendingJson = z
  .object({
    ranking_id: z.string().describe("the ranking the outcome is about"),
    query: z.string().describe("the ranking's prompt"),
    target: z.string().optional().describe("a score: its target"),
    score: z.number().optional().describe("a score: its value"),
    preferred: z.string().optional().describe("a preference: the target that did better"),
    over: z.string().optional().describe("a preference: the other target"),
    tie: z.boolean().optional().describe("a preference: whether it was a tie"),
    received_at: z.string().describe("when it was reported (ISO 8601)"),
  })
  .openapi("PendingOutcome");

const listPending = createRoute({
  operationId: "listPendingFeedback",
  method: "get",
  path: "/pending",
  tags: ["feedback"],
  security: ADMIN,
  summary: "Outcomes waiting for review (FEEDBACK_REVIEW=true), oldest first",
  request: {
    query: z.object({
      limit: z.coerce
        .number()
        .int()
        .min(1)
        .max(1000)
        .default(100)
        .describe("most outcomes listed (default 100)"),
    }),
  },
  responses: {
    200: json(
      z.object({
        outcomes: z.array(PendingJson).describe("pending outcomes, oldest first"),
        counts: z
          .object({
            accepted: z.number().int().describe("outcomes that are evidence"),
            pending: z.number().int().describe("outcomes waiting for review"),
            rejected: z.number().int().describe("outcomes an operator rejected"),
          })
          .describe("every outcome kept, by status"),
      }),
      "The pending outcomes",
    ),
    ...errors(400, 401, 503),
  },
});

const decide = createRoute({
  operationId: "reviewFeedback",
  method: "post",
  path: "/{ranking_id}/{decision}",
  tags: ["feedback"],
  security: ADMIN,
  summary: "Accept or reject the pending outcomes of a ranking",
  description:
    "Accepted, they become evidence as if just reported (the ranking's example); rejected, they are kept as rejected and never teach.",
  request: {
    params: z.object({
      ranking_id: RankingId,
      decision: z.enum(["accept", "reject"]).describe("accept or reject"),
    }),
  },
  responses: {
    200: json(
      z.object({
        ranking_id: z.string().describe("the ranking"),
        decision: z.enum(["accept", "reject"]).describe("what was decided"),
        outcomes: z.number().int().describe("outcomes decided"),
        example_id: z.string().nullable().describe("accepted: the ranking's example; rejected: null"),
        indexed: z.boolean().describe("false when the vector store takes the example later"),
      }),
      "Decided",
    ),
    ...errors(400, 401, 404, 503),
  },
});

const arrivals = createRoute({
  operationId: "feedbackArrivals",
  method: "get",
  path: "/arrivals",
  tags: ["feedback"],
  security: ADMIN,
  summary: "Accepted outcomes per target over time",
  request: {
    query: z.object({
      hours: z.coerce
        .number()
        .int()
        .min(1)
        .max(24 * 90)
        .default(24)
        .describe("how far back (default 24)"),
      bucket_minutes: z.coerce
        .number()
        .int()
        .min(1)
        .max(24 * 60)
        .default(60)
        .describe("bucket width (default 60)"),
    }),
  },
  responses: {
    200: json(
      z.object({
        buckets: z
          .array(
            z.object({
              start: z.string().describe("the bucket's start (ISO 8601)"),
              target: z.string().describe("a target (a preference counts for both of its targets)"),
              outcomes: z.number().int().describe("accepted outcomes in the bucket"),
            }),
          )
          .describe("by time, then target"),
      }),
      "Outcomes per target and bucket",
    ),
    ...errors(400, 401, 503),
  },
});

/** /admin/feedback: the review queue and how outcomes arrive. */
export function feedbackAdminRoutes(deps: Deps & { feedback: FeedbackService }) {
  return router()
    .openapi(listPending, (c) => {
      const { limit } = c.req.valid("query");
      return c.json(
        { outcomes: deps.feedback.pending(limit).map(pendingJson), counts: deps.feedback.counts() },
        200,
      );
    })
    .openapi(arrivals, (c) => {
      const { hours, bucket_minutes } = c.req.valid("query");
      const rows = deps.feedback.arrivals(new Date(Date.now() - hours * 3_600_000), bucket_minutes * 60_000);
      return c.json(
        {
          buckets: rows.map((r) => ({
            start: new Date(r.bucket).toISOString(),
            target: r.target,
            outcomes: r.outcomes,
          })),
        },
        200,
      );
    })
    .openapi(decide, async (c) => {
      const { ranking_id, decision } = c.req.valid("param");
      const { outcomes, exampleId, indexed } = await deps.feedback.review(ranking_id, decision);
      return c.json({ ranking_id, decision, outcomes, example_id: exampleId ?? null, indexed }, 200);
    });
}

function pendingJson(p: PendingOutcome): z.infer<typeof PendingJson> {
  return {
    ranking_id: p.rankingId,
    query: p.query,
    ...outcomeJson(p.outcome),
    received_at: p.receivedAt.toISOString(),
  };
}

const LabelJson = z
  .object({
    ranking_id: z.string().describe("the ranking"),
    query: z.string().describe("the prompt"),
    ranked_at: z.string().describe("when it was ranked (ISO 8601)"),
    targets: z.array(z.string()).describe("the targets offered, best first"),
    uncertainty: z.number().describe("how unsure the router was, in [0, 1]"),
    why: z.array(z.string()).describe("thin support, a near tie at the top, a fallback"),
  })
  .openapi("LabelQueueEntry");

const labelQueue = createRoute({
  operationId: "labelQueue",
  method: "get",
  path: "/",
  tags: ["feedback"],
  security: ADMIN,
  summary: "Recent prompts the router was least sure about: what to label next",
  description:
    'Rankings kept within FEEDBACK_WINDOW_S with thin support, a near tie at the top or a fallback, least sure first, leaving out those with an accepted outcome. `format=jsonl` gives them in the import format (`{"text", "scores"}` with every offered target\'s score null): fill in the scores (or drop a target) and POST the file to /admin/import.',
  request: {
    query: z.object({
      limit: z.coerce.number().int().min(1).max(10_000).default(100).describe("most entries (default 100)"),
      format: z.enum(["json", "jsonl"]).default("json").describe("json (default), or jsonl to label offline"),
    }),
  },
  responses: {
    200: {
      description: "The queue",
      content: {
        "application/json": { schema: z.object({ queue: z.array(LabelJson).describe("least sure first") }) },
        "application/x-ndjson": { schema: z.string().describe("one import line a prompt") },
      },
    },
    ...errors(400, 401, 503),
  },
});

/** GET /admin/label-queue: what to label next, as JSON or as import lines. */
export function labelQueueRoutes(deps: Deps & { feedback: FeedbackService }) {
  return router().openapi(labelQueue, (c) => {
    const { limit, format } = c.req.valid("query");
    const queue = deps.feedback.labelQueue(limit);
    if (format === "jsonl") {
      const lines = queue.map((r) =>
        JSON.stringify({ text: r.query, scores: Object.fromEntries(r.targets.map((t) => [t, null])) }),
      );
      // The typed router knows JSON answers only; this one is the import format.
      return c.body(lines.map((l) => `${l}\n`).join(""), 200, {
        "content-type": "application/x-ndjson",
      }) as never;
    }
    return c.json(
      {
        queue: queue.map((r) => ({
          ranking_id: r.id,
          query: r.query,
          ranked_at: r.createdAt.toISOString(),
          targets: r.targets,
          uncertainty: Math.round(r.uncertainty * 1e4) / 1e4,
          why: r.reasons,
        })),
      },
      200,
    );
  });
}
