import { bodyLimit } from "hono/body-limit";
import { compress } from "hono/compress";
import { etag } from "hono/etag";
import { requestId } from "hono/request-id";
import { timing } from "hono/timing";
import { adminAuth, bearerToken } from "./http/auth.ts";
import { anyTypeJson } from "./http/body.ts";
import { consoleRoutes } from "./http/console.ts";
import type { Deps } from "./http/context.ts";
import { drain } from "./http/drain.ts";
import { errorHandler, notFound, tooLarge } from "./http/errors.ts";
import { categoryRoutes, exampleRoutes } from "./http/examples.ts";
import { healthRoutes } from "./http/health.ts";
import { importRoutes } from "./http/imports.ts";
import { knnRouterRoutes } from "./http/knn-router.ts";
import { operationsRoutes } from "./http/observability.ts";
import { openApiDocument, router } from "./http/openapi.ts";
import { rankRoutes } from "./http/rank.ts";
import { requestLog } from "./http/request-log.ts";
import { settingsRoutes } from "./http/settings.ts";
import { targetRoutes } from "./http/targets.ts";

/** The HTTP API, assembled from its parts. No side effects: `main.ts` builds `deps` and serves. */
export function createApp(deps: Deps) {
  const limit = (bytes: number) => bodyLimit({ maxSize: bytes, onError: tooLarge(bytes) });
  const rankLimit = limit(deps.config.rank.bodyLimitBytes);
  const adminLimit = limit(deps.config.adminBodyLimitBytes);
  // Server-Timing only where stages are timed; the total is the access log's.
  const stageTiming = timing({ total: false, autoEnd: false });

  const metricsAuth = deps.config.metricsToken
    ? bearerToken(
        [deps.config.metricsToken, ...(deps.config.admin.token ? [deps.config.admin.token] : [])],
        "metrics token",
        "METRICS_TOKEN (or ADMIN_TOKEN)",
      )
    : undefined;

  const app = router();
  app
    .use(requestId())
    .use(requestLog(deps))
    .use(drain(deps))
    .onError(errorHandler)
    .notFound(notFound)
    .route("/", healthRoutes(deps))
    .use("/rank", stageTiming, rankLimit, anyTypeJson)
    .route("/rank", rankRoutes(deps))
    .use("/", stageTiming, rankLimit, anyTypeJson)
    .route("/", knnRouterRoutes(deps))
    .use("/metrics", async (c, next) => (metricsAuth ? metricsAuth(c, next) : next()))
    .route("/", operationsRoutes(deps))
    .use("/console", compress(), etag())
    .use("/console/*", compress(), etag())
    .route("/", consoleRoutes())
    .use("/admin/*", adminAuth(deps.config.admin.token, deps.config.database.readOnly), adminLimit)
    .use("/admin/examples/*", anyTypeJson)
    .use("/admin/targets/*", anyTypeJson)
    .use("/admin/settings", anyTypeJson)
    .route("/admin/examples", exampleRoutes(deps))
    .route("/admin/targets", targetRoutes(deps))
    .route("/admin/categories", categoryRoutes(deps))
    .route("/admin/import", importRoutes(deps))
    .route("/admin/settings", settingsRoutes(deps));
  return openApiDocument(app);
}
