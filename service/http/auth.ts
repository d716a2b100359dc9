import { createHash, timingSafeEqual } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import { AppError } from "../errors.ts";
import type { AppEnv } from "./context.ts";

/**
 * Admin guard: `Authorization: Bearer <token>`, compared in constant time (both sides hashed to
 * the same length first). Without a configured token the admin API is off: 503 ADMIN_DISABLED.
 */
export function adminAuth(token: string | undefined, readOnly = false): MiddlewareHandler<AppEnv> {
  const expected = token === undefined ? undefined : digest(token);
  return async (c, next) => {
    if (readOnly) {
      throw new AppError(
        "ADMIN_DISABLED",
        "this is a read-only replica (READ_ONLY=true): send admin calls to the primary",
      );
    }
    if (!expected) {
      throw new AppError("ADMIN_DISABLED", "the admin API is disabled: set ADMIN_TOKEN to enable it");
    }
    const header = c.req.header("authorization") ?? "";
    const match = /^Bearer\s+(.+)$/i.exec(header.trim());
    if (!match || !timingSafeEqual(digest(match[1] as string), expected)) {
      throw new AppError(
        "UNAUTHORIZED",
        "missing or wrong admin token: send Authorization: Bearer <ADMIN_TOKEN>",
      );
    }
    await next();
  };
}

function digest(s: string): Buffer {
  return createHash("sha256").update(s).digest();
}
