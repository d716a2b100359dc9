import type { Context, MiddlewareHandler } from "hono";
import { AppError } from "../errors.ts";
import type { AppEnv } from "./context.ts";

const JSON_TYPE = /^application\/([\w.-]+\+)?json$/i;

/** The methods whose bodies the JSON routes read. */
const WITH_BODY = new Set(["POST", "PUT", "PATCH"]);

/**
 * Request bodies are JSON whatever content type a caller sends (clients in many languages send
 * them differently, and curl's `-d` sends a form type): an empty body is INVALID_JSON here, and a
 * body without a JSON content type is read as JSON by the route's validator, whose parse failure
 * is INVALID_JSON too. Bodies that are not UTF-8 are INVALID_JSON, on every method that has one.
 */
export const anyTypeJson: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (WITH_BODY.has(c.req.method)) {
    const text = await utf8Body(c);
    if (text.trim() === "") throw new AppError("INVALID_JSON", "request body is empty; send a JSON object");
    const type = (c.req.header("content-type") ?? "").split(";")[0]?.trim() ?? "";
    if (!JSON_TYPE.test(type)) c.req.raw.headers.set("content-type", "application/json");
  }
  await next();
};

const UTF8 = new TextDecoder("utf-8", { fatal: true });

/**
 * The request body as text, refusing bytes that are not UTF-8 (INVALID_JSON) instead of storing
 * them as U+FFFD. Later reads of the body (the validators') decode the same cached bytes.
 */
export async function utf8Body(c: Context<AppEnv>): Promise<string> {
  let text: string;
  try {
    text = UTF8.decode(await c.req.arrayBuffer());
  } catch {
    throw new AppError("INVALID_JSON", "request body is not valid UTF-8");
  }
  return text;
}

/**
 * The body parsed as JSON whatever its content type (a route that validates it itself); an empty
 * body is `whenEmpty` when given (an optional body), else INVALID_JSON.
 */
export async function jsonOf(c: Context<AppEnv>, whenEmpty?: unknown): Promise<unknown> {
  const text = (await utf8Body(c)).trim();
  if (text === "") {
    if (whenEmpty !== undefined) return whenEmpty;
    throw new AppError("INVALID_JSON", "request body is empty; send a JSON object");
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new AppError("INVALID_JSON", "request body is not valid JSON");
  }
}
