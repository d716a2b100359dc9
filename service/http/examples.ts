import { Hono } from "hono";
import { z } from "zod";
import { ExampleInput, MAX_BATCH, parseOrThrow, validationError } from "../core/schemas.ts";
import { AppError } from "../errors.ts";
import type { ExampleRecord } from "../store/example-store.ts";
import type { AppEnv, Deps } from "./context.ts";
import { readJson } from "./errors.ts";

const AddBody = z.strictObject({
  examples: z
    .array(ExampleInput)
    .min(1, "examples must hold at least one example")
    .max(MAX_BATCH, `at most ${MAX_BATCH} examples per call; use POST /admin/import for more`),
});

const PutBody = ExampleInput;

const ListQuery = z.strictObject({
  category: z.string().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: z.string().min(1).optional(),
});

const Id = z.uuid("id must be a UUID").transform((s) => s.toLowerCase());

/** The wire shape of a stored example. */
export function exampleJson(e: ExampleRecord) {
  return {
    id: e.id,
    text: e.text,
    category: e.category,
    scores: e.scores,
    created_at: e.createdAt.toISOString(),
    updated_at: e.updatedAt.toISOString(),
  };
}

function encodeCursor(id: string): string {
  return Buffer.from(id, "utf8").toString("base64url");
}

function decodeCursor(cursor: string): string {
  const id = Buffer.from(cursor, "base64url").toString("utf8");
  if (!Id.safeParse(id).success) {
    throw validationError([{ path: "cursor", message: "cursor is not one this API returned" }]);
  }
  return id;
}

/** /admin/examples: add in batches, list, read, replace, delete. */
export function exampleRoutes(deps: Deps) {
  return new Hono<AppEnv>()
    .post("/", async (c) => {
      const { examples } = parseOrThrow(AddBody, await readJson(c));
      const seen = new Map<string, number>();
      const dupes = examples.flatMap((e, i) => {
        if (e.id === undefined) return [];
        const first = seen.get(e.id);
        seen.set(e.id, i);
        return first === undefined
          ? []
          : [{ path: `examples.${i}.id`, message: `same id as examples.${first}` }];
      });
      if (dupes.length > 0) throw validationError(dupes);
      const { ids, indexed } = await deps.examples.add(examples, "insert");
      return c.json({ ids, indexed }, 201);
    })
    .get("/", (c) => {
      const q = parseOrThrow(ListQuery, c.req.query());
      const after = q.cursor === undefined ? undefined : decodeCursor(q.cursor);
      const page = deps.store.list({ category: q.category, limit: q.limit + 1, after });
      const more = page.length > q.limit;
      const items = more ? page.slice(0, q.limit) : page;
      const last = items.at(-1);
      return c.json({
        examples: items.map(exampleJson),
        next_cursor: more && last ? encodeCursor(last.id) : null,
      });
    })
    .get("/:id", (c) => {
      const id = parseOrThrow(Id, c.req.param("id"), ["id"]);
      const e = deps.store.get(id);
      if (!e) throw new AppError("NOT_FOUND", `no example ${id}`);
      return c.json(exampleJson(e));
    })
    .put("/:id", async (c) => {
      const id = parseOrThrow(Id, c.req.param("id"), ["id"]);
      const body = parseOrThrow(PutBody, await readJson(c));
      if (body.id !== undefined && body.id !== id) {
        throw validationError([{ path: "id", message: "id in the body differs from the id in the path" }]);
      }
      const { created, indexed } = await deps.examples.put(id, body);
      return c.json({ ...exampleJson(deps.store.get(id) as ExampleRecord), indexed }, created ? 201 : 200);
    })
    .delete("/:id", async (c) => {
      const id = parseOrThrow(Id, c.req.param("id"), ["id"]);
      if (!(await deps.examples.delete(id))) throw new AppError("NOT_FOUND", `no example ${id}`);
      return c.body(null, 204);
    });
}
