import { Hono } from "hono";
import { AppError } from "../errors.ts";
import type { AppEnv, Deps } from "./context.ts";

type Check = "database" | "index" | "embedder";

/** GET /healthz (the process answers) and GET /readyz (database, index and embedder can serve). */
export function healthRoutes(deps: Deps) {
  return new Hono<AppEnv>()
    .get("/healthz", (c) => c.json({ status: "ok" }))
    .get("/readyz", async (c) => {
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
      return c.json({ status: ready ? "ready" : "not_ready", checks }, ready ? 200 : 503);
    });
}
