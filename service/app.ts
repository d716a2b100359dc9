import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { compress } from "hono/compress";
import { cors } from "hono/cors";
import { etag } from "hono/etag";
import { methodNotAllowed } from "hono/method-not-allowed";
import { requestId } from "hono/request-id";
import { timing } from "hono/timing";
import { AppError } from "./errors.ts";
import { adminAuth, bearerToken } from "./http/auth.ts";
import { backupRoutes } from "./http/backup.ts";
import { anyTypeJson } from "./http/body.ts";
import { consoleRoutes } from "./http/console.ts";
import type { AdminDeps, Deps } from "./http/context.ts";
import { drain } from "./http/drain.ts";
import { errorHandler, notAllowed, notFound, tooLarge } from "./http/errors.ts";
import { categoryRoutes, exampleRoutes } from "./http/examples.ts";
import {
  feedbackAdminRoutes,
  feedbackAuth,
  feedbackRoutes,
  labelQueueRoutes,
  replicaAuth,
} from "./http/feedback.ts";
import { healthRoutes } from "./http/health.ts";
import { homeRoutes } from "./http/home.ts";
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
  // Server-Timing only where stages are timed (the total is the access log's), and never empty:
  // a request refused before its stages ran (404, 405, 400) sends none.
  const timed = timing({ total: false, autoEnd: false });
  const stageTiming: MiddlewareHandler = async (c, next) => {
    await timed(c, next);
    if (c.res.headers.get("server-timing") === "") c.res.headers.delete("server-timing");
  };

  const metricsAuth = deps.config.metricsToken
    ? bearerToken(
        [deps.config.metricsToken, ...(deps.config.admin.token ? [deps.config.admin.token] : [])],
        "metrics token",
        "METRICS_TOKEN (or ADMIN_TOKEN)",
      )
    : undefined;

  const app = router();
  const { traffic } = deps;
  app
    .use(async (_c, next) => {
      // Counted for the bulk work that lets requests go first (see Traffic).
      const leave = traffic?.enter();
      try {
        await next();
      } finally {
        leave?.();
      }
    })
    .use(requestId())
    .use(requestLog(deps))
    .use(methodNotAllowed({ app, onMethodNotAllowed: notAllowed }))
    .use(crossOrigin(deps.config.corsOrigins))
    .use(drain(deps))
    .onError(errorHandler)
    .notFound(notFound)
    .route("/", healthRoutes(deps))
    .route("/", homeRoutes())
    .use("/rank", stageTiming, rankLimit, anyTypeJson)
    .route("/rank", rankRoutes(deps))
    .use("/", stageTiming, rankLimit, anyTypeJson)
    .route("/", knnRouterRoutes(deps))
    .use("/metrics", async (c, next) => (metricsAuth ? metricsAuth(c, next) : next()))
    .route("/", operationsRoutes(deps))
    .use("/console", compress(), etag())
    .use("/console/*", compress(), etag())
    .route("/", consoleRoutes());
  if (deps.feedback) {
    const withFeedback = Object.assign(Object.create(deps) as Deps, { feedback: deps.feedback });
    const outcomeLimit = limit(deps.config.rank.bodyLimitBytes);
    const handOverLimit = limit(deps.config.adminBodyLimitBytes);
    app
      // Outcomes take the feedback token; the hand-over of a replica's rankings (a batch: the admin
      // body limit) takes the replica token, never the feedback token.
      .use("/feedback", feedbackAuth(deps.config), outcomeLimit, anyTypeJson)
      .use("/feedback/rankings", replicaAuth(deps.config), handOverLimit)
      .route("/feedback", feedbackRoutes(withFeedback));
  }
  if (!deps.admin) {
    // A replica: no admin API here; every admin call is told where the primary is.
    const primary = deps.config.replica.primaryUrl;
    app.all("/admin/*", () => {
      throw new AppError(
        "ADMIN_DISABLED",
        `this is a replica (ROLE=replica): send admin calls to the primary${primary ? ` at ${primary}` : ""}`,
      );
    });
    return openApiDocument(app);
  }
  // The edge's dependencies with the admin services beside them (getters kept: the embedder in force).
  const admin = Object.assign(Object.create(deps) as Deps, deps.admin) as AdminDeps;
  app
    .use("/admin/*", adminAuth(deps.config.admin.token), adminLimit)
    .use("/admin/examples/*", anyTypeJson)
    .use("/admin/targets/*", anyTypeJson)
    .use("/admin/settings", anyTypeJson)
    .route("/admin/examples", exampleRoutes(admin))
    .route("/admin/targets", targetRoutes(admin))
    .route("/admin/categories", categoryRoutes(admin))
    .route("/admin/import", importRoutes(admin))
    .route("/admin/settings", settingsRoutes(admin))
    .route("/admin/backup", backupRoutes(admin));
  if (deps.feedback) {
    const withFeedback = Object.assign(Object.create(admin) as AdminDeps, { feedback: deps.feedback });
    app
      .route("/admin/feedback", feedbackAdminRoutes(withFeedback))
      .route("/admin/label-queue", labelQueueRoutes(withFeedback));
  }
  return openApiDocument(app);
}

/**
 * CORS for the origins CORS_ORIGINS names (off when unset): preflights are answered before any
 * auth, and a browser may read the headers a client needs (request id, retry hint, timings).
 */
function crossOrigin(origins: string[] | "*" | undefined): MiddlewareHandler {
  if (origins === undefined) return async (_c, next) => next();
  return cors({
    origin: origins,
    allowMethods: ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
    allowHeaders: ["Authorization", "Content-Type", "X-Request-Id", "traceparent"],
    exposeHeaders: ["X-Request-Id", "Retry-After", "Server-Timing"],
    maxAge: 600,
  });
}
