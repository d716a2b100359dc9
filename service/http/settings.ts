import { createRoute, z } from "@hono/zod-openapi";
import type { RoutingChoice } from "../routing/tuning.ts";
import type { SettingsStatus } from "../tuning/tuner.ts";
import type { AdminDeps } from "./context.ts";
import { ADMIN, errors, json, jsonBody, router } from "./openapi.ts";

const SettingsJson = z
  .strictObject({
    k: z.number().int().min(1).max(200).describe("neighbours when a request gives no k"),
    power: z.number().min(0).max(16).describe("a neighbour weighs max(similarity, 0)^power"),
    shrinkage: z.number().min(0).describe("pseudo-weight of the prior each score is shrunk toward"),
    prior: z
      .enum(["category", "overall"])
      .describe("the targets' means over the neighbours' categories, or overall"),
    min_similarity: z
      .number()
      .min(-1)
      .max(1)
      .describe("fallback floor: neighbours below it are not evidence"),
    min_support: z
      .number()
      .int()
      .min(1)
      .max(200)
      .describe("fewer neighbours than this at the floor: rank by the means"),
  })
  .refine((s) => s.min_support <= s.k, { path: ["min_support"], message: "min_support must be at most k" })
  .openapi("RankingSettings");

const PutBody = z
  .strictObject({
    pinned: z.boolean().describe("true: these settings, left alone by tuning; false: back to tuned settings"),
    settings: SettingsJson.optional().describe("the settings to pin (only with pinned: true)"),
  })
  .superRefine((b, ctx) => {
    if (b.pinned && !b.settings)
      ctx.addIssue({ code: "custom", path: ["settings"], message: "pinning needs settings" });
    if (!b.pinned && b.settings)
      ctx.addIssue({ code: "custom", path: ["settings"], message: "unpinning takes no settings" });
  });

const Status = z
  .object({
    settings: SettingsJson.describe("the ranking settings in force"),
    source: z
      .enum(["default", "tuned", "pinned", "file"])
      .describe("where they come from: the built-in defaults, self-tuning, a pin, or ROUTING_SETTINGS"),
    tuned_at: z.string().nullable().describe("when they were tuned (ISO 8601), or null"),
    examples: z.number().int().nullable().describe("examples the settings were tuned on"),
    data_version: z.number().int().nullable().describe("the example-write counter when they were tuned"),
    changes_since: z.number().int().describe("example writes and deletes since then"),
    evaluation: z
      .record(z.string(), z.unknown())
      .nullable()
      .describe(
        "cross-validated metric of the settings beside the baselines (prior only, best single model, oracle) and the cost-quality curves",
      ),
    tuning: z
      .enum(["idle", "scheduled", "running"])
      .describe("whether a tuning run is waiting for a quiet period, running, or neither"),
    templates: z
      .object({
        prefixes: z.array(z.string()).describe("text stripped from the start of prompts"),
        suffixes: z.array(z.string()).describe("text stripped from the end of prompts"),
      })
      .describe(
        "learned boilerplate stripped from prompts before embedding (self-tuning learns it and switches to it when it ranks better)",
      ),
    last_run: z
      .object({
        started_at: z.string().describe("when it started (ISO 8601)"),
        finished_at: z.string().nullable().describe("when it ended, or null while it runs"),
        outcome: z
          .enum(["replaced", "kept", "failed"])
          .nullable()
          .describe(
            "replaced: better settings found and put in force; kept: none better; failed: see message",
          ),
        message: z.string().nullable().describe("what the run found, or why it failed"),
      })
      .nullable()
      .describe("the latest tuning run, or null before the first"),
    warning: z
      .string()
      .nullable()
      .describe("why the service cannot tune itself now, and what the operator can do; null when it can"),
  })
  .openapi("SettingsStatus");

function choiceJson(c: RoutingChoice): z.infer<typeof SettingsJson> {
  const s = c.settings;
  return {
    k: c.k,
    power: s.power,
    shrinkage: s.shrinkage,
    prior: s.prior,
    min_similarity: s.minSimilarity,
    min_support: s.minSupport,
  };
}

function statusJson(s: SettingsStatus): z.infer<typeof Status> {
  return {
    settings: choiceJson(s.choice),
    source: s.source,
    tuned_at: s.stored?.tunedAt?.toISOString() ?? null,
    examples: s.stored?.examples ?? null,
    data_version: s.stored?.dataVersion ?? null,
    changes_since: s.changesSince,
    evaluation: (s.stored?.evaluation as Record<string, unknown> | null | undefined) ?? null,
    tuning: s.tuning,
    templates: s.templates,
    last_run: s.lastRun
      ? {
          started_at: s.lastRun.startedAt.toISOString(),
          finished_at: s.lastRun.finishedAt?.toISOString() ?? null,
          outcome: s.lastRun.outcome ?? null,
          message: s.lastRun.message ?? null,
        }
      : null,
    warning: s.warning ?? null,
  };
}

const tags = ["settings"];

const get = createRoute({
  operationId: "getSettings",
  method: "get",
  path: "/",
  tags,
  security: ADMIN,
  summary: "The ranking settings in force, how they were chosen, and the tuning state",
  responses: { 200: json(Status, "The settings"), ...errors(401, 503) },
});

const put = createRoute({
  operationId: "putSettings",
  method: "put",
  path: "/",
  tags,
  security: ADMIN,
  summary: "Pin settings by hand (tuning leaves them alone), or unpin",
  request: {
    body: jsonBody(PutBody, {
      pinned: true,
      settings: { k: 10, power: 1, shrinkage: 0, prior: "overall", min_similarity: 0, min_support: 1 },
    }),
  },
  responses: { 200: json(Status, "The settings now in force"), ...errors(400, 401, 409, 413, 503) },
});

const tune = createRoute({
  operationId: "tuneSettings",
  method: "post",
  path: "/tune",
  tags,
  security: ADMIN,
  summary: "Start a tuning run now (answers at once; GET shows when it is done)",
  responses: { 202: json(Status, "Tuning is running"), ...errors(401, 409, 503) },
});

/** /admin/settings: the ranking settings, pinned by hand or tuned by the service itself. */
export function settingsRoutes(deps: AdminDeps) {
  return router()
    .openapi(get, (c) => c.json(statusJson(deps.tuning.status()), 200))
    .openapi(put, (c) => {
      const body = c.req.valid("json");
      if (body.pinned && body.settings) {
        const s = body.settings;
        deps.settings.pin({
          k: s.k,
          settings: {
            power: s.power,
            shrinkage: s.shrinkage,
            prior: s.prior,
            minSimilarity: s.min_similarity,
            minSupport: s.min_support,
          },
        });
      } else {
        deps.settings.unpin();
      }
      return c.json(statusJson(deps.tuning.status()), 200);
    })
    .openapi(tune, (c) => {
      // The run goes on in the background; its outcome shows in GET (and the log).
      deps.tuning.tuneNow().catch(() => undefined);
      return c.json(statusJson(deps.tuning.status()), 202);
    });
}
