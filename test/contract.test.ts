import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ERROR_STATUS, type ErrorCode } from "../service/errors.ts";
import { type ErrorBody, example, startService, type TestService, tempDir } from "./support/harness.ts";

interface Schema {
  $ref?: string;
  description?: string;
  properties?: Record<string, Schema>;
  items?: Schema;
  additionalProperties?: Schema | boolean;
  anyOf?: Schema[];
  oneOf?: Schema[];
  allOf?: Schema[];
}
interface Media {
  schema?: Schema;
  example?: unknown;
  examples?: Record<string, { value: ErrorBody }>;
}
interface Operation {
  operationId?: string;
  requestBody?: { content: Record<string, Media> };
  responses: Record<string, { content?: Record<string, Media> }>;
}
interface Document {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Schema & { example?: unknown }> };
}

/** Every property under `schema` that has no description, as `where.name`. */
function undescribed(schema: Schema | undefined, where: string, out: string[] = []): string[] {
  if (!schema || typeof schema !== "object") return out;
  for (const [name, property] of Object.entries(schema.properties ?? {})) {
    // A described reference is written `allOf: [{$ref}, {description}]`.
    const described =
      property.description || property.$ref || property.allOf?.some((s) => s.description !== undefined);
    if (!described) out.push(`${where}.${name}`);
    undescribed(property, `${where}.${name}`, out);
  }
  if (schema.items) undescribed(schema.items, `${where}[]`, out);
  if (typeof schema.additionalProperties === "object")
    undescribed(schema.additionalProperties, `${where}{}`, out);
  for (const list of [schema.anyOf, schema.oneOf, schema.allOf]) {
    for (const [i, s] of (list ?? []).entries()) undescribed(s, `${where}|${i}`, out);
  }
  return out;
}

/** The resolved schema of a media entry (one level of `$ref`). */
function resolve(doc: Document, schema: Schema | undefined): (Schema & { example?: unknown }) | undefined {
  const ref = schema?.$ref?.replace("#/components/schemas/", "");
  return ref ? doc.components.schemas[ref] : schema;
}

describe("the OpenAPI document", () => {
  let svc: TestService;
  let doc: Document;
  beforeAll(async () => {
    svc = await startService();
    await svc.addExamples([
      example("a question about python code", { big: 0.9, small: 0.4 }, undefined, "sql-1"),
    ]);
    doc = (await (await svc.request("GET", "/openapi.json")).json()) as Document;
  });
  afterAll(() => svc.close());

  it("describes every field of every schema, request and answer", () => {
    const bare: string[] = [];
    for (const [name, schema] of Object.entries(doc.components.schemas)) undescribed(schema, name, bare);
    for (const [path, operations] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(operations)) {
        for (const media of Object.values(op.requestBody?.content ?? {})) {
          undescribed(media.schema, `${method} ${path} body`, bare);
        }
        for (const [status, response] of Object.entries(op.responses)) {
          for (const media of Object.values(response.content ?? {})) {
            undescribed(media.schema, `${method} ${path} ${status}`, bare);
          }
        }
      }
    }
    expect(bare).toEqual([]);
  });

  it("has an example for every JSON and JSONL request body", () => {
    const without: string[] = [];
    for (const [path, operations] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(operations)) {
        for (const [type, media] of Object.entries(op.requestBody?.content ?? {})) {
          const hasExample =
            media.example !== undefined ||
            media.examples !== undefined ||
            resolve(doc, media.schema)?.example !== undefined;
          const json = type === "application/json" || type === "application/x-ndjson";
          if (json && !hasExample) without.push(`${method} ${path} ${type}`);
        }
      }
    }
    expect(without).toEqual([]);
  });

  it("has request examples the service accepts", async () => {
    // Self-tuning on, as by default: settings from a file could not be pinned.
    const backups = tempDir();
    const fresh = await startService({ BACKUP_DIR: backups.dir }, { selfTuning: true });
    try {
      const media = (path: string, method: string, type = "application/json") => {
        const m = doc.paths[path]?.[method]?.requestBody?.content[type] as Media;
        return m.example ?? resolve(doc, m.schema)?.example;
      };
      const send = async (method: string, path: string, template: string, type?: string) => {
        const body = media(template, method.toLowerCase(), type);
        const res = type
          ? await fresh.request(method, path, body as string, {
              admin: true,
              headers: { "content-type": type },
            })
          : await fresh.request(method, path, body, { admin: true });
        return res.status;
      };
      expect(await send("POST", "/admin/examples", "/admin/examples")).toBe(201);
      expect(await send("POST", "/admin/import", "/admin/import", "application/x-ndjson")).toBe(201);
      expect(await send("PUT", "/admin/examples/sql-2", "/admin/examples/{id}")).toBe(201);
      expect(await send("PATCH", "/admin/examples/sql-1", "/admin/examples/{id}")).toBe(200);
      expect(await send("PUT", "/admin/targets/gpt-4o", "/admin/targets/{name}")).toBe(200);
      expect(await send("PUT", "/admin/settings", "/admin/settings")).toBe(200);
      expect(await send("POST", "/rank", "/rank")).toBe(200);
      expect(await send("POST", "/", "/")).toBe(200);
      expect(await send("POST", "/admin/backup", "/admin/backup")).toBe(201);
    } finally {
      backups.remove();
      await fresh.close();
    }
  });

  it("uses the README's /rank call and answer as the /rank example", () => {
    const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
    const call = /curl -s localhost:8888\/rank .* -d '(\{.*\})'\n(\{.*\})\n/.exec(readme);
    expect(call, "the README's curl example").not.toBeNull();
    const [, request, answer] = call as RegExpExecArray;
    const op = doc.paths["/rank"]?.post as Operation;
    expect(resolve(doc, op.requestBody?.content["application/json"]?.schema)?.example).toEqual(
      JSON.parse(request as string),
    );
    expect(resolve(doc, op.responses["200"]?.content?.["application/json"]?.schema)?.example).toEqual(
      JSON.parse(answer as string),
    );
  });

  it("gives every error code an example under its status, with the message the service answers", async () => {
    const samples = new Map<string, ErrorBody["error"]>();
    for (const operations of Object.values(doc.paths)) {
      for (const op of Object.values(operations)) {
        for (const [status, response] of Object.entries(op.responses)) {
          for (const [code, { value }] of Object.entries(
            response.content?.["application/json"]?.examples ?? {},
          )) {
            expect(ERROR_STATUS[code as ErrorCode], code).toBe(Number(status));
            expect(value.error.code).toBe(code);
            samples.set(code, value.error);
          }
        }
      }
    }
    // Every code the service can answer appears somewhere in the document.
    expect([...samples.keys()].sort()).toEqual(
      Object.keys(ERROR_STATUS)
        .filter((c) => c !== "METHOD_NOT_ALLOWED")
        .sort(),
    );

    // The sample's message is the service's own, for every code a request can provoke here.
    const answered = async (res: Response, code: ErrorCode) => {
      const body = (await res.json()) as ErrorBody;
      const { requestId: _answered, ...error } = body.error;
      const { requestId: _sample, ...sample } = samples.get(code) ?? { requestId: "" };
      expect(error, code).toEqual(sample);
    };
    const raw = { "content-type": "application/json" };
    await answered(
      await svc.app.request("/rank", { method: "POST", headers: raw, body: "{nope" }),
      "INVALID_JSON",
    );
    await answered(await svc.request("POST", "/rank", { query: "" }), "VALIDATION_FAILED");
    await answered(
      await svc.request("POST", "/rank", { query: "sql", targets: ["gpt-5"] }),
      "UNKNOWN_TARGET",
    );
    await answered(await svc.request("GET", "/admin/examples"), "UNAUTHORIZED");
    await answered(
      await svc.request("GET", "/admin/examples/sql-9", undefined, { admin: true }),
      "NOT_FOUND",
    );
    await answered(
      await svc.request(
        "POST",
        "/admin/examples",
        { examples: [example("another", { big: 1 }, undefined, "sql-1")] },
        {
          admin: true,
        },
      ),
      "CONFLICT",
    );
    await answered(await svc.request("POST", "/rank", { query: "x".repeat(1 << 20) }), "PAYLOAD_TOO_LARGE");
    await answered(
      await svc.request("POST", "/admin/import", "hello", {
        admin: true,
        headers: { "content-type": "text/csv" },
      }),
      "UNSUPPORTED_MEDIA_TYPE",
    );
    await answered(
      await svc.request("POST", "/feedback", { ranking_id: "r", target: "big", score: 1 }),
      "FEEDBACK_DISABLED",
    );
    const closed = await startService({ ADMIN_TOKEN: "" });
    try {
      await answered(await closed.request("GET", "/admin/examples"), "ADMIN_DISABLED");
    } finally {
      await closed.close();
    }
  });
});
