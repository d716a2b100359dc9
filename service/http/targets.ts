import { createRoute, z } from "@hono/zod-openapi";
import { TargetName, TargetPatch, toStorePatch } from "../core/schemas.ts";
import type { TargetRecord } from "../core/target-service.ts";
import { MAX_QUIZ } from "../learning/quiz.ts";
import type { AdminDeps } from "./context.ts";
import { ADMIN, errors, json, jsonBody, router } from "./openapi.ts";

const TargetJson = z
  .object({
    name: z.string().describe("the target's name, as examples score it"),
    input_price_per_mtok: z.number().nullable().describe("USD per 1M input tokens, or null when not set"),
    output_price_per_mtok: z.number().nullable().describe("USD per 1M output tokens, or null when not set"),
    enabled: z.boolean().describe("whether /rank offers it"),
    prior_score: z
      .number()
      .nullable()
      .describe(
        "the score assumed where no example tells: set for a target created before any example scored it, else null",
      ),
    examples: z.number().int().describe("examples that score this target"),
  })
  .openapi("Target");

function targetJson(t: TargetRecord): z.infer<typeof TargetJson> {
  return {
    name: t.name,
    input_price_per_mtok: t.inputPricePerMtok,
    output_price_per_mtok: t.outputPricePerMtok,
    enabled: t.enabled,
    prior_score: t.priorScore,
    examples: t.exampleCount,
  };
}

const list = createRoute({
  operationId: "listTargets",
  method: "get",
  path: "/",
  tags: ["targets"],
  security: ADMIN,
  summary: "Every target with its prices, switch and example count",
  responses: {
    200: json(
      z.object({ targets: z.array(TargetJson).describe("every target, by name") }),
      "The targets by name",
    ),
    ...errors(401, 503),
  },
});

const update = createRoute({
  operationId: "updateTarget",
  method: "put",
  path: "/{name}",
  tags: ["targets"],
  security: ADMIN,
  summary: "Create a target, or set its prices (USD per 1M tokens), prior or switch",
  description:
    "URL-encode names that hold a slash. A target exists once an example scores it, or once put here: a new model no example scores yet is offered by /rank with support 0 at its prior, tried by exploration (EXPLORATION_SHARE), and learned from its outcomes.",
  request: {
    params: z.object({ name: TargetName }),
    body: jsonBody(TargetPatch, { input_price_per_mtok: 2.5, output_price_per_mtok: 10, enabled: true }),
  },
  responses: {
    200: json(TargetJson, "The updated target"),
    201: json(TargetJson, "The target, created"),
    ...errors(400, 401, 409, 413, 503),
  },
});

const quiz = createRoute({
  operationId: "targetQuiz",
  method: "get",
  path: "/{name}/quiz",
  tags: ["targets"],
  security: ADMIN,
  summary: "Prompts to score a new target on offline: a quiz that covers the example space",
  description:
    "Operators' examples that do not score the target yet, chosen to cover the example space (one per region, each its region's most central example, the largest regions first), each with the scores it has. `format=jsonl` gives import lines whose score for the target is null: fill it in (or drop the line) and POST the file to /admin/import; each example is replaced with one more score.",
  request: {
    params: z.object({ name: TargetName }),
    query: z.object({
      n: z.coerce
        .number()
        .int()
        .min(1)
        .max(MAX_QUIZ)
        .default(30)
        .describe(`how many prompts (default 30, at most ${MAX_QUIZ})`),
      format: z.enum(["json", "jsonl"]).default("json").describe("json (default), or jsonl to score offline"),
    }),
  },
  responses: {
    200: {
      description: "The quiz",
      content: {
        "application/json": {
          schema: z.object({
            target: z.string().describe("the quizzed target"),
            quiz: z
              .array(
                z.object({
                  id: z.string().describe("the example's id"),
                  text: z.string().describe("the prompt"),
                  category: z.string().nullable().describe("its category"),
                  scores: z.record(z.string(), z.number()).describe("the scores it has"),
                }),
              )
              .describe("the prompts, the largest regions first"),
          }),
        },
        "application/x-ndjson": { schema: z.string().describe("one import line a prompt") },
      },
    },
    ...errors(400, 401, 404, 503),
  },
});

const remove = createRoute({
  operationId: "deleteTarget",
  method: "delete",
  path: "/{name}",
  tags: ["targets"],
  security: ADMIN,
  summary: "Delete a target and every score and comparison naming it",
  description:
    "All or nothing: the target's score goes from every example (an operator's example is then read against the mean of the scores it has left), comparisons naming it go, examples left scoring nothing are deleted, and the outcomes reported for it are forgotten. /rank no longer offers it, an outcome naming it on an older ranking is refused, and a later write that scores it creates it anew. To stop offering a target and keep its evidence, switch it off instead (PUT with enabled: false).",
  request: { params: z.object({ name: TargetName }) },
  responses: {
    200: json(
      z.object({
        deleted: z.string().describe("the target deleted"),
        examples_rewritten: z.number().int().describe("examples that scored it and keep other scores"),
        examples_deleted: z.number().int().describe("examples that scored only it, deleted"),
      }),
      "Deleted",
    ),
    ...errors(400, 401, 404, 409, 503),
  },
});

/** /admin/targets: list targets, set their prices, switch them on or off, delete them; a new target's quiz. */
export function targetRoutes(deps: AdminDeps) {
  return router()
    .openapi(quiz, (c) => {
      const { name } = c.req.valid("param");
      const { n, format } = c.req.valid("query");
      const items = deps.quiz.quiz(name, n);
      if (format === "jsonl") {
        const lines = items.map((q) =>
          JSON.stringify({
            id: q.id,
            text: q.text,
            category: q.category,
            scores: { ...q.scores, [name]: null },
          }),
        );
        // The typed router knows JSON answers only; this one is the import format.
        return c.body(lines.map((l) => `${l}\n`).join(""), 200, {
          "content-type": "application/x-ndjson",
        }) as never;
      }
      return c.json({ target: name, quiz: items }, 200);
    })
    .openapi(list, (c) => c.json({ targets: deps.targets.list().map(targetJson) }, 200))
    .openapi(update, (c) => {
      const { name } = c.req.valid("param");
      const patch = c.req.valid("json");
      const { target, created } = deps.targets.put(name, toStorePatch(patch));
      return created ? c.json(targetJson(target), 201) : c.json(targetJson(target), 200);
    })
    .openapi(remove, async (c) => {
      const { name } = c.req.valid("param");
      const { rewritten, deleted } = await deps.targets.delete(name);
      return c.json({ deleted: name, examples_rewritten: rewritten, examples_deleted: deleted }, 200);
    });
}
