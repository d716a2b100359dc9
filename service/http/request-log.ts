import type { MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import { inLogScope } from "../logger.ts";
import type { AppEnv, Deps } from "./context.ts";

/** A W3C trace context header: version-traceid-parentid-flags, lower-case hex, no all-zero ids. */
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The trace id of a valid `traceparent`, or undefined (an invalid one is ignored, as the spec says). */
export function traceIdOf(header: string | undefined): string | undefined {
  const m = header === undefined ? null : TRACEPARENT.exec(header.trim());
  if (!m || m[1] === "ff" || /^0+$/.test(m[2] as string) || /^0+$/.test(m[3] as string)) return undefined;
  return m[2];
}

/** The route pattern that answered (`/admin/examples/:id`), so labels stay few; `unmatched` for a 404. */
function routeOf(c: Parameters<typeof matchedRoutes>[0]): string {
  return matchedRoutes(c).findLast((r) => r.method !== "ALL")?.path ?? "unmatched";
}

/**
 * Per request: a child logger carrying the request id (and the incoming `traceparent`, echoed
 * back), through which every line logged while serving it goes; then one access line at info
 * (method, route, status, duration; never bodies or headers) and the request metrics.
 */
export function requestLog(deps: Deps): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const started = performance.now();
    const traceparent = c.req.header("traceparent");
    const traceId = traceIdOf(traceparent);
    const log = deps.logger.child({
      requestId: c.get("requestId"),
      ...(traceId && { traceId, traceparent: traceparent?.trim() }),
    });
    c.set("logger", log);
    await inLogScope(deps.logger, log, next);
    if (traceId) c.header("traceparent", traceparent?.trim());
    const ms = performance.now() - started;
    const route = routeOf(c);
    const status = c.res.status;
    log.info("request", {
      method: c.req.method,
      route,
      path: c.req.path,
      status,
      ms: Math.round(ms * 10) / 10,
    });
    deps.metrics.requests.inc({ method: c.req.method, route, status });
    if (c.req.method === "POST" && (route === "/rank" || route === "/") && status === 200) {
      deps.metrics.rankSeconds.observe(ms / 1000);
    }
  };
}
