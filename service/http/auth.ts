import { createHash, timingSafeEqual } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import { AppError } from "../errors.ts";
import type { AppEnv } from "./context.ts";

/**
 * `Authorization: Bearer <token>` for any of `tokens`, compared in constant time (both sides hashed
 * to the same length first); 401 UNAUTHORIZED naming `name` and the `variable` that configures it otherwise.
 */
export function bearerToken(
  tokens: string | readonly string[],
  name: string,
  variable: string,
): MiddlewareHandler<AppEnv> {
  const expected = (typeof tokens === "string" ? [tokens] : tokens).map(digest);
  return async (c, next) => {
    const header = c.req.header("authorization") ?? "";
    const match = /^Bearer\s+(.+)$/i.exec(header.trim());
    const given = match ? digest(match[1] as string) : undefined;
    // Every token is compared, so the time taken does not say which one matched.
    const ok = expected.reduce(
      (found, e) => (given !== undefined && timingSafeEqual(given, e)) || found,
      false,
    );
    if (!ok) {
      throw new AppError(
        "UNAUTHORIZED",
        `missing or wrong ${name}: send Authorization: Bearer <${variable}>`,
      );
    }
    await next();
  };
}

/**
 * Admin guard: the bearer token ADMIN_TOKEN. Without a configured token the admin API is off: 503
 * ADMIN_DISABLED.
 */
export function adminAuth(token: string | undefined): MiddlewareHandler<AppEnv> {
  const check = token === undefined ? undefined : bearerToken(token, "admin token", "ADMIN_TOKEN");
  return async (c, next) => {
    if (!check) {
      throw new AppError("ADMIN_DISABLED", "the admin API is disabled: set ADMIN_TOKEN to enable it");
    }
    return check(c, next);
  };
}

function digest(s: string): Buffer {
  return createHash("sha256").update(s).digest();
}
