import { createRoute, z } from "@hono/zod-openapi";
import { TargetName, TargetPatch, toStorePatch } from "../core/schemas.ts";
import type { TargetRecord } from "../core/target-service.ts";
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

/** /admin/targets: list targets, set their prices and switch them on or off. */
export function targetRoutes(deps: AdminDeps) {
  return router()
    .openapi(list, (c) => c.json({ targets: deps.targets.list().map(targetJson) }, 200))
    .openapi(update, (c) => {
      const { name } = c.req.valid("param");
      const patch = c.req.valid("json");
      const { target, created } = deps.targets.put(name, toStorePatch(patch));
      return created ? c.json(targetJson(target), 201) : c.json(targetJson(target), 200);
    });
}
