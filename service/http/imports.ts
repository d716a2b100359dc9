import { Hono } from "hono";
import { z } from "zod";
import { parseExamplesJsonl, parsePulze } from "../core/import-formats.ts";
import { parseOrThrow, validationError } from "../core/schemas.ts";
import { AppError } from "../errors.ts";
import type { AppEnv, Deps } from "./context.ts";

/** Most examples one import may hold. */
export const MAX_IMPORT = 100_000;

const ImportQuery = z.strictObject({ format: z.enum(["examples", "pulze"]).optional() });

const JSONL_TYPES = ["application/x-ndjson", "application/jsonl", "application/json", "text/plain"];

async function part(form: Record<string, unknown>, name: string): Promise<string | undefined> {
  const v = form[name];
  if (v === undefined) return undefined;
  if (typeof v === "string") return v;
  if (v instanceof File) return v.text();
  throw validationError([{ path: name, message: `send ${name} once` }]);
}

/**
 * POST /admin/import: many examples at once, all or nothing, replacing examples whose ids exist.
 * Our JSONL format as the raw body (`application/x-ndjson`) or as multipart part `examples`;
 * the knn-router format as multipart parts `points` and `targets`.
 */
export function importRoutes(deps: Deps) {
  return new Hono<AppEnv>().post("/", async (c) => {
    const { format } = parseOrThrow(ImportQuery, c.req.query());
    const type = (c.req.header("content-type") ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
    let inputs: ReturnType<typeof parseExamplesJsonl>;
    if (type === "multipart/form-data") {
      const form = await c.req.parseBody();
      const [examples, points, targets] = await Promise.all([
        part(form, "examples"),
        part(form, "points"),
        part(form, "targets"),
      ]);
      if (examples !== undefined && format !== "pulze") {
        inputs = parseExamplesJsonl(examples);
      } else if (points !== undefined && targets !== undefined && format !== "examples") {
        inputs = parsePulze(points, targets);
      } else {
        throw validationError([
          {
            path: "body",
            message: "send part `examples` (our JSONL) or parts `points` and `targets` (knn-router JSONL)",
          },
        ]);
      }
    } else if (JSONL_TYPES.includes(type)) {
      if (format === "pulze") {
        throw validationError([
          { path: "format", message: "the pulze format needs multipart parts points and targets" },
        ]);
      }
      inputs = parseExamplesJsonl(await c.req.text());
    } else {
      throw new AppError(
        "UNSUPPORTED_MEDIA_TYPE",
        `content type ${type || "(none)"} is not accepted: use application/x-ndjson or multipart/form-data`,
      );
    }
    if (inputs.length === 0)
      throw validationError([{ path: "body", message: "the import holds no examples" }]);
    if (inputs.length > MAX_IMPORT) {
      throw validationError([{ path: "body", message: `at most ${MAX_IMPORT} examples per import` }]);
    }
    const { indexed } = await deps.examples.add(inputs, "upsert");
    return c.json({ imported: inputs.length, indexed }, 201);
  });
}
