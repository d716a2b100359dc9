import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { issuesOf, validationError } from "../core/schemas.ts";
import { ERROR_STATUS, type ErrorCode } from "../errors.ts";
import type { AppEnv } from "./context.ts";

/** What an unnamed (root-level) problem in each part of a request is called in `details`. */
const ROOT: Record<string, string> = { json: "body", query: "query", param: "path", form: "body" };

/**
 * A router whose routes are declared by their schemas (`createRoute`): the request schemas
 * validate, and a failure is a 400 VALIDATION_FAILED naming each field, in the one error envelope.
 */
export function router(): OpenAPIHono<AppEnv> {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (result.success) return;
      const issues = issuesOf(result.error).map((i) => ({ ...i, path: i.path || ROOT[result.target] || "" }));
      throw validationError(issues);
    },
  });
}

/** The error envelope, as every error is answered. */
export const ErrorBody = z
  .object({
    error: z.object({
      code: z.enum(Object.keys(ERROR_STATUS) as [ErrorCode, ...ErrorCode[]]),
      message: z.string(),
      requestId: z.string(),
      details: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
    }),
  })
  .openapi("Error");

const WHY: Record<number, string> = {
  400: "Bad input (INVALID_JSON, VALIDATION_FAILED or UNKNOWN_TARGET); nothing was changed",
  401: "Missing or wrong admin token",
  404: "No such resource",
  409: "Conflict with what is stored",
  413: "Body over the size limit",
  415: "Content type not read here",
  500: "Internal error (logged, never echoed)",
  503: "A backend is unavailable, or the admin API is off; Retry-After when a retry can help",
};

/** Error responses of a route, each in the envelope. 500 is added to every route. */
export function errors(...statuses: Array<keyof typeof WHY>) {
  return Object.fromEntries(
    [...statuses, 500].map((s) => [
      s,
      { description: WHY[s] as string, content: { "application/json": { schema: ErrorBody } } },
    ]),
  );
}

/** A JSON response. */
export function json<T extends z.ZodType>(schema: T, description: string) {
  return { description, content: { "application/json": { schema } } };
}

/** A required JSON request body. */
export function jsonBody<T extends z.ZodType>(schema: T) {
  return { required: true, content: { "application/json": { schema } } };
}

/** Admin routes carry the bearer token. */
export const ADMIN = [{ adminToken: [] }];

/** GET `path`: a page of the service's own (HTML), in the operations tag. */
export function pageRoute(path: string, summary: string) {
  return createRoute({
    operationId: `${path.replace(/[^a-z]/g, "")}Page`,
    method: "get",
    path,
    tags: ["operations"],
    summary,
    responses: { 200: { description: "An HTML page", content: { "text/html": { schema: z.string() } } } },
  });
}

/** GET `prefix/{file}`: one of a page's script and style files, named in `files` (any other is a 400). */
export function pageFilesRoute<F extends string>(prefix: string, files: readonly F[], summary: string) {
  return createRoute({
    // A page's own files, not part of the API: answered, left out of the document.
    hide: true,
    method: "get",
    path: `${prefix}/{file}`,
    tags: ["operations"],
    summary,
    request: {
      params: z.object({
        file: z.enum(files as [F, ...F[]]).openapi({ param: { name: "file", in: "path" } }),
      }),
    },
    responses: {
      200: {
        description: "The file",
        content: { "text/css": { schema: z.string() }, "text/javascript": { schema: z.string() } },
      },
      ...errors(400),
    },
  });
}

const documentRoute = createRoute({
  operationId: "openapiDocument",
  method: "get",
  path: "/openapi.json",
  tags: ["operations"],
  summary: "This document: the OpenAPI 3.1 description of every route",
  responses: { 200: json(z.object({ openapi: z.string() }).passthrough(), "The OpenAPI document") },
});

/** Serves the app's own OpenAPI 3.1 document at GET /openapi.json (generated once, on first request). */
export function openApiDocument<T extends OpenAPIHono<AppEnv>>(app: T): T {
  app.openAPIRegistry.registerComponent("securitySchemes", "adminToken", {
    type: "http",
    scheme: "bearer",
    description: "ADMIN_TOKEN",
  });
  let document: unknown;
  app.openapi(documentRoute, (c) => {
    document ??= withConventions(
      app.getOpenAPI31Document({
        openapi: "3.1.0",
        info: {
          title: "knn-llm-router",
          version: "0.1.0",
          description:
            "Ranks target models for a prompt from labelled examples. Errors are `{error: {code, message, requestId, details?}}`.",
          license: { name: "Apache-2.0", url: "https://www.apache.org/licenses/LICENSE-2.0" },
        },
        servers: [{ url: "/", description: "the service that serves this document" }],
      }) as unknown as OpenApiDocument,
    );
    return c.json(document as { openapi: string }, 200);
  });
  return app;
}

interface OpenApiResponse {
  headers?: Record<string, unknown>;
}
interface OpenApiOperation {
  security?: unknown[];
  responses?: Record<string, OpenApiResponse>;
}
interface OpenApiDocument {
  paths?: Record<string, Record<string, OpenApiOperation>>;
}

const header = (description: string, schema: Record<string, unknown> = { type: "string" }) => ({
  description,
  schema,
});

/**
 * What every route shares, written into the document once: a route with no `security` is public
 * (`security: []`); every answer carries `X-Request-Id`; a 503 says when to retry (`Retry-After`),
 * a 401 how to authenticate (`WWW-Authenticate`).
 */
function withConventions(document: OpenApiDocument): OpenApiDocument {
  for (const operations of Object.values(document.paths ?? {})) {
    for (const operation of Object.values(operations)) {
      operation.security ??= [];
      for (const [status, response] of Object.entries(operation.responses ?? {})) {
        response.headers = {
          ...response.headers,
          "X-Request-Id": header(
            "This request's id: the one the client sent, or a new one; in every log line and error body",
          ),
          ...(status === "503" && {
            "Retry-After": header("Seconds after which a retry can help", { type: "integer" }),
          }),
          ...(status === "401" && { "WWW-Authenticate": header('`Bearer realm="admin"`') }),
        };
      }
    }
  }
  return document;
}
