import { createRoute, z } from "@hono/zod-openapi";
import { AppError } from "../errors.ts";
import type { Deps } from "./context.ts";
import { json, router } from "./openapi.ts";

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
      .describe("one entry per part: database, index, embedder (a replica: document, index, embedder)"),
    document: z
      .object({
        version: z.number().int().describe("the routing document's version in force"),
        age_seconds: z.number().describe("seconds since it was last read from Qdrant"),
      })
      .optional()
      .describe("a replica's routing document (absent on the primary)"),
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
      const entries = await Promise.all(
        Object.entries(deps.checks).map(async ([name, probe]) => {
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
      const doc = deps.document?.();
      const document = doc && { version: doc.version, age_seconds: Math.round(doc.ageSeconds * 10) / 10 };
      return ready
        ? c.json({ status: "ready" as const, checks, ...(document && { document }) }, 200)
        : c.json({ status: "not_ready" as const, checks, ...(document && { document }) }, 503);
    });
}
