import { Hono } from "hono";
import { requestId } from "hono/request-id";
import type { AppError } from "../errors.ts";
import type { Logger } from "../logger.ts";
import type { AppEnv } from "./context.ts";
import { errorHandler } from "./errors.ts";

/**
 * What the process serves while a backend it cannot start without (the embedding server on a first
 * start, when nothing stored gives the model's dimension) does not answer yet: alive at /healthz,
 * not ready at /readyz, and every other route the backend's 503 with its Retry-After. The full API
 * replaces it once start-up completes.
 */
export function startingApp(logger: Logger, reason: () => AppError) {
  return new Hono<AppEnv>()
    .use(requestId())
    .use(async (c, next) => {
      c.set("logger", logger.child({ requestId: c.get("requestId") }));
      await next();
    })
    .onError(errorHandler)
    .get("/healthz", (c) => c.json({ status: "ok" as const }, 200))
    .get("/readyz", (c) =>
      c.json(
        { status: "not_ready" as const, checks: { startup: { ok: false, message: reason().message } } },
        503,
      ),
    )
    .all("*", () => {
      throw reason();
    });
}
