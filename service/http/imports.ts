import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { ImportSource } from "../core/import-formats.ts";
import { validationError } from "../core/schemas.ts";
import { AppError } from "../errors.ts";
import { utf8Body } from "./body.ts";
import type { AdminDeps, AppEnv } from "./context.ts";
import { ADMIN, errors, json, router } from "./openapi.ts";

const ImportQuery = z.strictObject({
  /** examples (our JSONL, the default), pulze (knn-router's two files), arena (battles, one a line). */
  format: z.enum(["examples", "pulze", "arena"]).optional(),
  /** What a target an example does not score means (see UnlistedPolicy); default: absent for our JSONL, zero for knn-router's. */
  unlisted: z.enum(["absent", "zero"]).optional(),
  /** A line without an id whose text is stored already: added again (default), skipped, or replacing the stored example. */
  existing_text: z.enum(["add", "skip", "replace"]).optional(),
  /**
   * add (the default): the examples join those stored, replacing those with their ids. replace:
   * they become all the examples; every example stored before the import and not in it is deleted.
   */
  mode: z.enum(["add", "replace"]).optional(),
});

const JSONL_TYPES = ["application/x-ndjson", "application/jsonl", "application/json", "text/plain"];

async function part(form: Record<string, unknown>, name: string): Promise<string | undefined> {
  const v = form[name];
  if (v === undefined) return undefined;
  if (typeof v === "string") return v;
  if (v instanceof File) return v.text();
  throw validationError([{ path: name, message: `send part ${name} once` }]);
}

async function multipart(c: Context<AppEnv>): Promise<Record<string, unknown>> {
  try {
    // `all`: a repeated part arrives as an array and is refused, instead of the last one silently winning.
    return await c.req.parseBody({ all: true });
  } catch (err) {
    throw new AppError(
      "VALIDATION_FAILED",
      "the multipart body could not be read (truncated, or no boundary)",
      {
        cause: err,
        details: [{ path: "body", message: "malformed multipart/form-data" }],
      },
    );
  }
}

const file = { type: "string", format: "binary" } as const;

const route = createRoute({
  operationId: "importExamples",
  method: "post",
  path: "/",
  tags: ["examples"],
  security: ADMIN,
  summary: "Import many examples, all or nothing: added to those stored, or replacing them all",
  request: {
    query: ImportQuery,
    // Read by the handler (one line at a time, errors naming file and line), so declared, not validated here.
    body: {
      content: {
        "application/x-ndjson": {
          schema: { type: "string", description: "one example object a line" },
          example:
            '{"id":"sql-1","text":"Write a SQL query that lists the ten customers who spent the most last month","category":"coding","scores":{"gpt-4o":0.92,"gpt-4o-mini":0.81}}\n' +
            '{"id":"haiku-1","text":"write a haiku about rain","category":"creative-writing","scores":{"gpt-4o":0.85,"gpt-4o-mini":0.7}}\n',
        },
        "multipart/form-data": {
          schema: {
            type: "object",
            properties: {
              examples: { ...file, description: "our JSONL" },
              points: { ...file, description: "knn-router points.jsonl" },
              targets: { ...file, description: "knn-router targets.jsonl" },
              battles: {
                ...file,
                description:
                  'with format=arena: arena battles, {"text", "model_a", "model_b", "winner": "model_a" | "model_b" | "tie"} a line',
              },
              embedder: {
                type: "string",
                description: "the embedder the points' embeddings came from (store them as the vectors)",
              },
            },
          },
        },
      },
    },
  },
  responses: {
    201: json(
      z.object({
        imported: z.number().int().describe("examples written"),
        skipped: z
          .number()
          .int()
          .describe("lines left out: their text is stored already (existing_text=skip)"),
        deleted: z
          .number()
          .int()
          .describe("examples deleted because the import replaced them all (mode=replace); 0 otherwise"),
        indexed: z.boolean().describe("false when the vector store could not take them yet"),
      }),
      "Imported",
    ),
    ...errors(400, 401, 413, 415, 503),
  },
});

/**
 * POST /admin/import: many examples at once, all or nothing, replacing examples whose ids exist;
 * with `mode=replace`, replacing every stored example (the way to start over with one's own data).
 * Our JSONL format as the raw body (`application/x-ndjson`) or as multipart part `examples`;
 * the knn-router format as multipart parts `points` and `targets` (and `embedder`, naming the
 * embedder its embeddings came from, to store them as the vectors).
 */
export function importRoutes(deps: AdminDeps) {
  return router().openapi(route, async (c) => {
    try {
      const imported = await importBody(c, deps, c.req.valid("query"));
      deps.metrics.imports.inc({ result: "ok" });
      deps.metrics.importedExamples.inc(imported.imported);
      return c.json(imported, 201);
    } catch (err) {
      deps.metrics.imports.inc({ result: "rejected" });
      throw err;
    }
  });
}

async function importBody(
  c: Context<AppEnv>,
  deps: AdminDeps,
  { format, unlisted, existing_text, mode }: z.infer<typeof ImportQuery>,
): Promise<{ imported: number; skipped: number; deleted: number; indexed: boolean }> {
  const type = (c.req.header("content-type") ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
  let source: ImportSource;
  if (type === "multipart/form-data") {
    const form = await multipart(c);
    const [examples, points, targets, embedder] = await Promise.all([
      part(form, "examples"),
      part(form, "points"),
      part(form, "targets"),
      part(form, "embedder"),
    ]);
    const battles = await part(form, "battles");
    if (battles !== undefined && format === "arena") {
      source = { format: "arena", text: battles };
    } else if (examples !== undefined && format !== "pulze" && format !== "arena") {
      source = { format: "examples", text: examples };
    } else if (points !== undefined && targets !== undefined && format !== "examples") {
      source = { format: "pulze", points, targets, vectorsFrom: embedder?.trim() || undefined };
    } else {
      throw validationError([
        {
          path: "body",
          message:
            "send part `examples` (our JSONL), parts `points` and `targets` (knn-router JSONL), or with format=arena part `battles`",
        },
      ]);
    }
  } else if (JSONL_TYPES.includes(type)) {
    if (format === "pulze") {
      throw validationError([
        { path: "format", message: "the pulze format needs multipart parts points and targets" },
      ]);
    }
    source = { format: format === "arena" ? "arena" : "examples", text: await utf8Body(c) };
  } else {
    throw new AppError(
      "UNSUPPORTED_MEDIA_TYPE",
      `content type ${type || "(none)"} is not accepted: use application/x-ndjson or multipart/form-data`,
    );
  }
  if (mode === "replace" && existing_text !== undefined) {
    throw validationError([
      {
        path: "existing_text",
        message: "mode=replace deletes every stored example: there is no stored text to match",
      },
    ]);
  }
  return deps.examples.import(source, { unlisted, existingText: existing_text, mode });
}
