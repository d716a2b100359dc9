import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { requestId } from "hono/request-id";
import { adminAuth } from "./http/auth.ts";
import type { AppEnv, Deps } from "./http/context.ts";
import { errorHandler, notFound, tooLarge } from "./http/errors.ts";
import { exampleRoutes } from "./http/examples.ts";
import { healthRoutes } from "./http/health.ts";
import { importRoutes } from "./http/imports.ts";
import { knnRouterRoutes } from "./http/knn-router.ts";
import { rankRoutes } from "./http/rank.ts";
import { targetRoutes } from "./http/targets.ts";

/** The HTTP API, assembled from its parts. No side effects: `main.ts` builds `deps` and serves. */
export function createApp(deps: Deps) {
  const rankLimit = bodyLimit({
    maxSize: deps.config.rank.bodyLimitBytes,
    onError: tooLarge(deps.config.rank.bodyLimitBytes),
  });
  const adminLimit = bodyLimit({
    maxSize: deps.config.adminBodyLimitBytes,
    onError: tooLarge(deps.config.adminBodyLimitBytes),
  });

  return new Hono<AppEnv>()
    .use(requestId())
    .use(async (c, next) => {
      const started = performance.now();
      await next();
      // One line a request at LOG_LEVEL=debug; never the body (prompts may be sensitive).
      deps.logger.debug("request", {
        requestId: c.get("requestId"),
        method: c.req.method,
        path: c.req.path,
        status: c.res.status,
        ms: Math.round((performance.now() - started) * 10) / 10,
      });
    })
    .onError(errorHandler(deps.logger))
    .notFound(notFound)
    .route("/", healthRoutes(deps))
    .use("/rank", rankLimit)
    .route("/rank", rankRoutes(deps))
    .use("/", rankLimit)
    .route("/", knnRouterRoutes(deps))
    .use("/admin/*", adminAuth(deps.config.admin.token, deps.config.database.readOnly), adminLimit)
    .route("/admin/examples", exampleRoutes(deps))
    .route("/admin/targets", targetRoutes(deps))
    .route("/admin/import", importRoutes(deps));
}
