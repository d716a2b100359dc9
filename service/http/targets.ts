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
    examples: z.number().int().describe("examples that score this target"),
  })
  .openapi("Target");

function targetJson(t: TargetRecord): z.infer<typeof TargetJson> {
  return {
    name: t.name,
    input_price_per_mtok: t.inputPricePerMtok,
    output_price_per_mtok: t.outputPricePerMtok,
    enabled: t.enabled,
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
  summary: "Set a target's prices (USD per 1M tokens) or switch it on or off",
  description: "URL-encode names that hold a slash. A target exists once an example scores it.",
  request: {
    params: z.object({ name: TargetName }),
    body: jsonBody(TargetPatch, { input_price_per_mtok: 2.5, output_price_per_mtok: 10, enabled: true }),
  },
  responses: { 200: json(TargetJson, "The updated target"), ...errors(400, 401, 404, 413, 503) },
});

/** /admin/targets: list targets, set their prices and switch them on or off. */
export function targetRoutes(deps: AdminDeps) {
  return router()
    .openapi(list, (c) => c.json({ targets: deps.targets.list().map(targetJson) }, 200))
    .openapi(update, (c) => {
      const { name } = c.req.valid("param");
      const patch = c.req.valid("json");
      return c.json(targetJson(deps.targets.update(name, toStorePatch(patch))), 200);
    });
}
