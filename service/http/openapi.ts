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
    error: z
      .object({
        code: z
          .enum(Object.keys(ERROR_STATUS) as [ErrorCode, ...ErrorCode[]])
          .describe("what went wrong, one of a closed set: the status follows from it"),
        message: z.string().describe("what went wrong and what to do, for a person"),
        requestId: z.string().describe("this request's id, as in X-Request-Id and the log line"),
        details: z
          .array(
            z.object({
              path: z.string().describe("the field, dotted (`examples.0.scores`; `body` for the whole body)"),
              message: z.string().describe("what is wrong with it"),
            }),
          )
          .optional()
          .describe("one entry per bad field (VALIDATION_FAILED, UNKNOWN_TARGET, CONFLICT)"),
      })
      .describe("the one error envelope"),
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

/** An example body of each error code, as the service answers it. */
const SAMPLE: Record<ErrorCode, { message: string; details?: Array<{ path: string; message: string }> }> = {
  INVALID_JSON: { message: "request body is not valid JSON" },
  VALIDATION_FAILED: {
    message: "query: query must not be empty",
    details: [{ path: "query", message: "query must not be empty" }],
  },
  UNKNOWN_TARGET: {
    message: "unknown targets: gpt-5",
    details: [{ path: "targets.0", message: "no example scores gpt-5" }],
  },
  UNAUTHORIZED: { message: "missing or wrong admin token: send Authorization: Bearer <ADMIN_TOKEN>" },
  NOT_FOUND: { message: "no example sql-9" },
  METHOD_NOT_ALLOWED: { message: "/rank takes POST, OPTIONS, not GET" },
  CONFLICT: {
    message: "examples already exist: sql-1",
    details: [
      { path: "examples.0.id", message: "sql-1 already exists; use PUT /admin/examples/{id} to replace it" },
    ],
  },
  PAYLOAD_TOO_LARGE: { message: "request body is larger than 1048576 bytes" },
  UNSUPPORTED_MEDIA_TYPE: {
    message: "content type text/csv is not accepted: use application/x-ndjson or multipart/form-data",
  },
  ADMIN_DISABLED: { message: "the admin API is disabled: set ADMIN_TOKEN to enable it" },
  FEEDBACK_DISABLED: { message: "feedback is off: set FEEDBACK_TOKEN to keep rankings and take outcomes" },
  NOT_READY: { message: "shutting down: send this request to another instance" },
  EMBEDDER_UNAVAILABLE: { message: "local embedding model is restarting" },
  VECTOR_STORE_UNAVAILABLE: { message: "vector store could not search: connect ECONNREFUSED 127.0.0.1:6333" },
  INTERNAL: { message: "internal error" },
};

/** The error codes answered with `status`, each as an example of the envelope. */
function errorExamples(status: number) {
  const codes = (Object.keys(ERROR_STATUS) as ErrorCode[]).filter((code) => ERROR_STATUS[code] === status);
  return Object.fromEntries(
    codes.map((code) => [
      code,
      {
        summary: code,
        value: { error: { code, ...SAMPLE[code], requestId: "5d0c7a3e-1f2b-4c8d-9e6f-0a1b2c3d4e5f" } },
      },
    ]),
  );
}

/** Error responses of a route, each in the envelope with an example per code. 500 is added to every route. */
export function errors(...statuses: Array<keyof typeof WHY>) {
  return Object.fromEntries(
    [...statuses, 500].map((s) => [
      s,
      {
        description: WHY[s] as string,
        content: { "application/json": { schema: ErrorBody, examples: errorExamples(s) } },
      },
    ]),
  );
}

/** A JSON response. */
export function json<T extends z.ZodType>(schema: T, description: string) {
  return { description, content: { "application/json": { schema } } };
}

/** A required JSON request body, with an example of it when its schema has none. */
export function jsonBody<T extends z.ZodType>(schema: T, example?: unknown) {
  return {
    required: true,
    content: { "application/json": { schema, ...(example !== undefined && { example }) } },
  };
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
  responses: {
    200: json(z.object({ openapi: z.string().describe("3.1.0") }).passthrough(), "The OpenAPI document"),
  },
});

/** Serves the app's own OpenAPI 3.1 document at GET /openapi.json (generated once, on first request). */
export function openApiDocument<T extends OpenAPIHono<AppEnv>>(app: T): T {
  app.openAPIRegistry.registerComponent("securitySchemes", "feedbackToken", {
    type: "http",
    scheme: "bearer",
    description: "FEEDBACK_TOKEN",
  });
  app.openAPIRegistry.registerComponent("securitySchemes", "replicaToken", {
    type: "http",
    scheme: "bearer",
    description: "REPLICA_TOKEN",
  });
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
            "Ranks target models for a prompt from labelled examples. Errors are `{error: {code, message, requestId, details?}}`; each response lists its codes with an example. A known path asked with a method it does not take answers 405 METHOD_NOT_ALLOWED with `Allow`.",
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
