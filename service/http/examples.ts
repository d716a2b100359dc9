import { createRoute, z } from "@hono/zod-openapi";
import type { ExampleRecord } from "../core/example-service.ts";
import { ExampleId, ExampleInput, ExamplePatch, MAX_BATCH, validationError } from "../core/schemas.ts";
import { AppError } from "../errors.ts";
import type { AdminDeps } from "./context.ts";
import { ADMIN, errors, json, jsonBody, router } from "./openapi.ts";

const AddBody = z
  .strictObject({
    examples: z
      .array(ExampleInput)
      .min(1, "examples must hold at least one example")
      .max(MAX_BATCH, `at most ${MAX_BATCH} examples per call; use POST /admin/import for more`)
      .describe(`1..${MAX_BATCH} examples, written all or nothing`),
  })
  .openapi("AddExamplesRequest", {
    example: {
      examples: [
        {
          id: "sql-1",
          text: "Write a SQL query that lists the ten customers who spent the most last month",
          category: "coding",
          scores: { "gpt-4o": 0.92, "gpt-4o-mini": 0.81, "llama-3.1-8b-instruct": 0.55 },
        },
      ],
    },
  });

const EXAMPLE = {
  text: "Write a SQL query that lists the ten customers who spent the most last month",
  category: "coding",
  scores: { "gpt-4o": 0.92, "gpt-4o-mini": 0.81 },
};

const ListQuery = z.strictObject({
  category: z.string().min(1).optional().describe("only examples of this category"),
  limit: z.coerce.number().int().min(1).max(1000).default(100).describe("examples per page"),
  cursor: z.string().min(1).optional().describe("the next_cursor of the previous page"),
});

// Declared here with the OpenAPI-aware zod (the domain's schemas are plain zod), checked by the domain's rule.
const IdParam = z.object({
  id: z
    .string()
    .pipe(ExampleId)
    .openapi({ param: { name: "id", in: "path" }, description: "the example's id" }),
});

const ExampleJson = z
  .object({
    id: z.string().describe("the example's id"),
    text: z.string().describe("the example prompt"),
    category: z.string().nullable().describe("its category, or null"),
    scores: z.record(z.string(), z.number()).describe("each scored target's score, in [0, 1]"),
    weights: z
      .record(z.string(), z.number())
      .optional()
      .describe(
        "only when some score counts for other than 1: what each such score counts for against a label (an outcome counts FEEDBACK_OUTCOME_WEIGHT, times 1 / the probability it had of being recommended up to FEEDBACK_MAX_WEIGHT; a label counts 1)",
      ),
    preferences: z
      .array(
        z.object({
          target_a: z.string().describe("one target (the pair in name order)"),
          target_b: z.string().describe("the other"),
          a_wins: z.number().describe("games target_a won (a tie is half a win each)"),
          games: z.number().int().describe("comparisons of the two on this prompt"),
        }),
      )
      .optional()
      .describe(
        "only when it has some: comparisons between targets on this prompt (arena battles, preference outcomes)",
      ),
    origin: z
      .enum(["label", "outcome"])
      .describe(
        "who wrote it: `label`, an operator (the admin API, an import, the seed); `outcome`, the outcomes reported on a ranking (`feedback-<ranking_id>`)",
      ),
    created_at: z.string().describe("when it was first written (ISO 8601)"),
    updated_at: z.string().describe("when it last changed (ISO 8601)"),
  })
  .openapi("Example");

/** The wire shape of a stored example. */
export function exampleJson(e: ExampleRecord): z.infer<typeof ExampleJson> {
  return {
    id: e.id,
    text: e.text,
    category: e.category,
    scores: e.scores,
    ...(e.weights && { weights: e.weights }),
    ...(e.preferences && {
      preferences: e.preferences.map(([a, b, aWins, games]) => ({
        target_a: a,
        target_b: b,
        a_wins: aWins,
        games,
      })),
    }),
    origin: e.origin,
    created_at: e.createdAt.toISOString(),
    updated_at: e.updatedAt.toISOString(),
  };
}

function encodeCursor(id: string): string {
  return Buffer.from(id, "utf8").toString("base64url");
}

function decodeCursor(cursor: string): string {
  const id = Buffer.from(cursor, "base64url").toString("utf8");
  if (!ExampleId.safeParse(id).success) {
    throw validationError([{ path: "cursor", message: "cursor is not one this API returned" }]);
  }
  return id;
}

const INDEXED = z
  .boolean()
  .describe(
    "false when the examples are stored but the vector store could not take them yet: they are copied in the background",
  );

const tags = ["examples"];
const security = ADMIN;

const add = createRoute({
  operationId: "addExamples",
  method: "post",
  path: "/",
  tags,
  security,
  summary: "Add 1..1000 examples, all or nothing",
  request: { body: jsonBody(AddBody) },
  responses: {
    201: json(
      z.object({ ids: z.array(z.string()).describe("the examples' ids, in input order"), indexed: INDEXED }),
      "Added, in input order",
    ),
    ...errors(400, 401, 409, 413, 503),
  },
});

const list = createRoute({
  operationId: "listExamples",
  method: "get",
  path: "/",
  tags,
  security,
  summary: "A page of examples in id order",
  request: { query: ListQuery },
  responses: {
    200: json(
      z.object({
        examples: z.array(ExampleJson).describe("this page, in id order"),
        next_cursor: z.string().nullable().describe("pass as cursor for the next page; null on the last"),
      }),
      "A page; next_cursor is null on the last",
    ),
    ...errors(400, 401, 503),
  },
});

const get = createRoute({
  operationId: "getExample",
  method: "get",
  path: "/{id}",
  tags,
  security,
  summary: "One example with its scores",
  request: { params: IdParam },
  responses: { 200: json(ExampleJson, "The example"), ...errors(400, 401, 404, 503) },
});

const put = createRoute({
  operationId: "putExample",
  method: "put",
  path: "/{id}",
  tags,
  security,
  summary: "Create or replace one example (re-embedded only when its text changed)",
  request: { params: IdParam, body: jsonBody(ExampleInput, EXAMPLE) },
  responses: {
    200: json(ExampleJson.extend({ indexed: INDEXED }), "Replaced"),
    201: json(ExampleJson.extend({ indexed: INDEXED }), "Created"),
    ...errors(400, 401, 413, 503),
  },
});

const patch = createRoute({
  operationId: "patchExample",
  method: "patch",
  path: "/{id}",
  tags,
  security,
  summary:
    "Change part of one example: its text or category, and scores merged into its own (null removes one)",
  request: {
    params: IdParam,
    body: jsonBody(ExamplePatch, { scores: { "gpt-4o-mini": 0.85, "llama-3.1-8b-instruct": null } }),
  },
  responses: {
    200: json(ExampleJson.extend({ indexed: INDEXED }), "Changed"),
    ...errors(400, 401, 404, 413, 503),
  },
});

const remove = createRoute({
  operationId: "deleteExample",
  method: "delete",
  path: "/{id}",
  tags,
  security,
  summary: "Delete one example",
  request: { params: IdParam },
  responses: { 204: { description: "Deleted" }, ...errors(400, 401, 404, 503) },
});

const categories = createRoute({
  operationId: "listCategories",
  method: "get",
  path: "/",
  tags,
  security,
  summary: "Every category with its example count (name null: examples without a category)",
  responses: {
    200: json(
      z.object({
        categories: z
          .array(
            z.object({
              name: z.string().nullable().describe("the category; null for examples without one"),
              examples: z.number().int().describe("how many examples have it"),
            }),
          )
          .describe("every category, by name"),
      }),
      "Categories by name",
    ),
    ...errors(401, 503),
  },
});

/** /admin/categories: what the examples' categories are, for browsing them. */
export function categoryRoutes(deps: AdminDeps) {
  return router().openapi(categories, (c) => c.json({ categories: deps.examples.categories() }, 200));
}

const BulkDeleteQuery = z.strictObject({
  category: z.string().min(1).optional().describe("only examples of this category"),
  id_prefix: z.string().min(1).max(200).optional().describe("only examples whose id starts with this"),
  origin: z
    .enum(["label", "outcome"])
    .optional()
    .describe("only operators' examples (label) or those outcomes made (outcome)"),
  all: z
    .enum(["true"])
    .optional()
    .describe("true: every example (required when no other condition is given)"),
});

const removeMany = createRoute({
  operationId: "deleteExamples",
  method: "delete",
  path: "/",
  tags: ["examples"],
  security: ADMIN,
  summary: "Delete every example matching a filter, all or nothing",
  description:
    "The conditions given all hold: category, id_prefix, origin. Without any, all=true is required (every example). Written a chunk at a time, each chunk its own transaction: /rank may see some of them gone before the answer; if it fails, those come back. Targets stay (DELETE /admin/targets/{name} removes one).",
  request: { query: BulkDeleteQuery },
  responses: {
    200: json(z.object({ deleted: z.number().int().describe("examples deleted") }), "Deleted"),
    ...errors(400, 401, 503),
  },
});

/** /admin/examples: add in batches, list, read, replace, delete one or many. */
export function exampleRoutes(deps: AdminDeps) {
  return router()
    .openapi(add, async (c) => {
      const { examples } = c.req.valid("json");
      try {
        const { ids, indexed } = await deps.examples.add(examples, "insert");
        return c.json({ ids, indexed }, 201);
      } catch (err) {
        if (err instanceof AppError && err.code === "CONFLICT") {
          // The HTTP answer to a taken id: this API replaces with PUT.
          const details = err.details?.map((d) => ({
            ...d,
            message: `${d.message}; use PUT /admin/examples/{id} to replace it`,
          }));
          throw new AppError("CONFLICT", err.message, { cause: err, details });
        }
        throw err;
      }
    })
    .openapi(list, (c) => {
      const q = c.req.valid("query");
      const after = q.cursor === undefined ? undefined : decodeCursor(q.cursor);
      const { items, more } = deps.examples.list({ category: q.category, limit: q.limit, after });
      const last = items.at(-1);
      return c.json(
        { examples: items.map(exampleJson), next_cursor: more && last ? encodeCursor(last.id) : null },
        200,
      );
    })
    .openapi(get, (c) => {
      const { id } = c.req.valid("param");
      const e = deps.examples.get(id);
      if (!e) throw new AppError("NOT_FOUND", `no example ${id}`);
      return c.json(exampleJson(e), 200);
    })
    .openapi(patch, async (c) => {
      const { id } = c.req.valid("param");
      const { indexed } = await deps.examples.patch(id, c.req.valid("json"));
      return c.json({ ...exampleJson(deps.examples.get(id) as ExampleRecord), indexed }, 200);
    })
    .openapi(put, async (c) => {
      const { id } = c.req.valid("param");
      const body = c.req.valid("json");
      if (body.id !== undefined && body.id !== id) {
        throw validationError([{ path: "id", message: "id in the body differs from the id in the path" }]);
      }
      const { created, indexed } = await deps.examples.put(id, body);
      const stored = exampleJson(deps.examples.get(id) as ExampleRecord);
      return created ? c.json({ ...stored, indexed }, 201) : c.json({ ...stored, indexed }, 200);
    })
    .openapi(remove, async (c) => {
      const { id } = c.req.valid("param");
      if (!(await deps.examples.delete(id))) throw new AppError("NOT_FOUND", `no example ${id}`);
      return c.body(null, 204);
    })
    .openapi(removeMany, async (c) => {
      const { category, id_prefix: idPrefix, origin, all } = c.req.valid("query");
      if (category === undefined && idPrefix === undefined && origin === undefined && all === undefined) {
        throw validationError([
          {
            path: "all",
            message: "give category, id_prefix or origin, or all=true to delete every example",
          },
        ]);
      }
      const deleted = await deps.examples.deleteWhere({
        ...(category !== undefined && { category }),
        ...(idPrefix !== undefined && { idPrefix }),
        ...(origin !== undefined && { origin }),
      });
      return c.json({ deleted }, 200);
    });
}
