import type { MiddlewareHandler } from "hono";
import { AppError } from "../errors.ts";
import type { AppEnv, Deps } from "./context.ts";

/**
 * While the process shuts down: a request that arrives is refused (503 NOT_READY, Retry-After 1),
 * and every response closes its connection, so keep-alive clients move to another instance
 * instead of being cut off when the process exits.
 */
export function drain(deps: Deps): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (deps.lifecycle.draining) {
      c.header("Connection", "close");
      throw new AppError("NOT_READY", "shutting down: send this request to another instance", {
        retryAfterSeconds: 1,
      });
    }
    await next();
    if (deps.lifecycle.draining) c.header("Connection", "close");
  };
}
