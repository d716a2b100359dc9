import type { Context, ErrorHandler, NotFoundHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import { AppError } from "../errors.ts";
import { errorFields } from "../logger.ts";
import type { AppEnv } from "./context.ts";

/** Renders every failure as `{ error: { code, message, requestId, details? } }`, logged by the request's logger. */
export const errorHandler: ErrorHandler<AppEnv> = (err, c) => renderError(err, c);

function renderError(err: unknown, c: Context<AppEnv>): Response {
  const requestId = c.get("requestId");
  const logger = c.get("logger");
  const appError = toAppError(err, c);
  if (!appError) {
    logger.error("unhandled error", {
      method: c.req.method,
      path: c.req.path,
      ...errorFields(err),
    });
    return c.json({ error: { code: "INTERNAL", message: "internal error", requestId } }, 500);
  }
  if (appError.status >= 500) {
    logger.warn("request failed", {
      code: appError.code,
      path: c.req.path,
      ...errorFields(appError),
    });
  }
  if (appError.retryAfterSeconds !== undefined) c.header("Retry-After", String(appError.retryAfterSeconds));
  if (appError.code === "UNAUTHORIZED") c.header("WWW-Authenticate", 'Bearer realm="admin"');
  const body = {
    error: {
      code: appError.code,
      message: appError.message,
      requestId,
      ...(appError.details && { details: appError.details }),
    },
  };
  return c.json(body, appError.status);
}

/** Rendered, not thrown: a path that exists for other methods is turned into a 405 afterwards. */
export const notFound: NotFoundHandler<AppEnv> = (c) =>
  renderError(new AppError("NOT_FOUND", `no route for ${c.req.method} ${c.req.path}`), c);

/** 405 METHOD_NOT_ALLOWED with `Allow`, for a known path asked with a method it does not take. */
export function notAllowed(c: Context<AppEnv>, methods: readonly string[]): Response {
  c.header("Allow", methods.join(", "));
  return renderError(
    new AppError("METHOD_NOT_ALLOWED", `${c.req.path} takes ${methods.join(", ")}, not ${c.req.method}`),
    c,
  );
}

function toAppError(err: unknown, c: Context<AppEnv>): AppError | undefined {
  if (err instanceof AppError) return err;
  if (err instanceof HTTPException && err.status === 413)
    return new AppError("PAYLOAD_TOO_LARGE", err.message);
  // The schema layer's gate on a body's declared media types.
  if (err instanceof HTTPException && err.status === 415) {
    const type = c.req.header("content-type")?.split(";")[0]?.trim() || "(none)";
    return new AppError("UNSUPPORTED_MEDIA_TYPE", `content type ${type} is not accepted by ${c.req.path}`, {
      cause: err,
    });
  }
  // The schema layer's JSON parse failure.
  if (err instanceof HTTPException && err.status === 400 && /json/i.test(err.message))
    return new AppError("INVALID_JSON", "request body is not valid JSON", { cause: err });
  return undefined;
}

/** Body-size guard answering 413 PAYLOAD_TOO_LARGE with the limit in the message. */
export function tooLarge(limit: number): () => never {
  return () => {
    throw new AppError("PAYLOAD_TOO_LARGE", `request body is larger than ${limit} bytes`);
  };
}
