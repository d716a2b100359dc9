import { createRoute, z } from "@hono/zod-openapi";
import { AppError } from "../errors.ts";
import type { Deps } from "./context.ts";
import { json, router } from "./openapi.ts";

type Check = "database" | "index" | "embedder";

const Ready = z
  .object({
    status: z.enum(["ready", "not_ready"]).describe("ready when every check passed"),
    checks: z
      .record(
        z.string(),
        z.object({
          ok: z.boolean().describe("whether this part can serve"),
          message: z.string().optional().describe("why not, when it cannot"),
        }),
      )
      .describe("one entry per part: database, index, embedder"),
  })
  .openapi("Readiness");

const healthz = createRoute({
  operationId: "healthz",
  method: "get",
  path: "/healthz",
  tags: ["health"],
  summary: "The process answers",
  responses: { 200: json(z.object({ status: z.literal("ok").describe("always ok") }), "Alive") },
});

const readyz = createRoute({
  operationId: "readyz",
  method: "get",
  path: "/readyz",
  tags: ["health"],
  summary: "Database, vector index and embedder can serve",
  responses: { 200: json(Ready, "Ready"), 503: json(Ready, "Not ready: the failing checks say why") },
});

/** GET /healthz (the process answers) and GET /readyz (database, index and embedder can serve). */
export function healthRoutes(deps: Deps) {
  return router()
    .openapi(healthz, (c) => c.json({ status: "ok" as const }, 200))
    .openapi(readyz, async (c) => {
      const probes: Record<Check, () => Promise<unknown>> = {
        database: () => deps.pingDatabase(),
        index: () => deps.index.health(),
        embedder: () => deps.embedder.health(),
      };
      const entries = await Promise.all(
        Object.entries(probes).map(async ([name, probe]) => {
          try {
            await probe();
            return [name, { ok: true }] as const;
          } catch (err) {
            const message = err instanceof AppError ? err.message : "check failed";
            return [name, { ok: false, message }] as const;
          }
        }),
      );
      const checks = Object.fromEntries(entries);
      const ready = entries.every(([, r]) => r.ok);
      return ready
        ? c.json({ status: "ready" as const, checks }, 200)
        : c.json({ status: "not_ready" as const, checks }, 503);
    });
}
