/**
 * Qdrant's own REST contract (its OpenAPI document, v1.19.0, kept outside the project in
 * ../shared/data/qdrant/openapi.json) as a checker of request and response bodies: the stand-in
 * runs every request the service sends and every answer it gives through it, so neither can drift
 * from what a real Qdrant takes and answers.
 */
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { Ajv, type ValidateFunction } from "ajv";

/** Where the contract is read from: QDRANT_OPENAPI, else the shared data folder beside the project. */
export const CONTRACT_PATH = resolve(
  process.env.QDRANT_OPENAPI ?? new URL("../../../shared/data/qdrant/openapi.json", import.meta.url).pathname,
);

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

interface Operation {
  method: string;
  template: string;
  pattern: RegExp;
  request?: ValidateFunction;
  responses: Map<string, ValidateFunction>;
}

/**
 * OpenAPI 3.0's schema dialect as JSON Schema: `nullable` becomes a "null" type (alone, as Qdrant
 * writes `anyOf: [{$ref}, {nullable: true}]`, it means "or null"); the rest is JSON Schema already.
 */
function toJsonSchema(node: Json): Json {
  if (Array.isArray(node)) return node.map(toJsonSchema);
  if (node === null || typeof node !== "object") return node;
  const out: { [key: string]: Json } = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === "nullable" || k === "example" || k === "discriminator") continue;
    out[k] = toJsonSchema(v);
  }
  if (node.nullable === true) {
    if (typeof node.type === "string") out.type = [node.type, "null"];
    else if (node.type === undefined && node.$ref === undefined && Object.keys(out).length === 0)
      out.type = "null";
    else if (Array.isArray(out.anyOf)) out.anyOf = [...out.anyOf, { type: "null" }];
  }
  return out;
}

export class QdrantContract {
  readonly version: string;
  private readonly operations: Operation[] = [];

  private constructor(document: { info: { version: string }; paths: Record<string, Record<string, Json>> }) {
    this.version = document.info.version;
    const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
    ajv.addSchema(toJsonSchema(document as unknown as Json) as object, "qdrant");
    const compile = (schema: Json) => {
      const s = toJsonSchema(schema) as { [key: string]: Json };
      const ref = typeof s.$ref === "string" ? s.$ref : undefined;
      return ref
        ? (ajv.getSchema(`qdrant${ref}`) as ValidateFunction)
        : ajv.compile(rewriteRefs(s) as object);
    };
    for (const [template, methods] of Object.entries(document.paths)) {
      const pattern = new RegExp(`^${template.replace(/\{[^}]+\}/g, "[^/]+")}$`);
      for (const [method, op] of Object.entries(methods)) {
        const o = op as {
          requestBody?: { content?: Record<string, { schema?: Json }> };
          responses?: Record<string, { content?: Record<string, { schema?: Json }> }>;
        };
        const body = o.requestBody?.content?.["application/json"]?.schema;
        const responses = new Map<string, ValidateFunction>();
        for (const [status, r] of Object.entries(o.responses ?? {})) {
          const schema = r.content?.["application/json"]?.schema;
          if (schema !== undefined) responses.set(status, compile(schema));
        }
        this.operations.push({
          method: method.toUpperCase(),
          template,
          pattern,
          ...(body !== undefined && { request: compile(body) }),
          responses,
        });
      }
    }
  }

  /** The contract at `path`, or undefined when the file is absent (the checks are then skipped). */
  static load(path = CONTRACT_PATH): QdrantContract | undefined {
    if (!existsSync(path)) return undefined;
    return new QdrantContract(JSON.parse(readFileSync(path, "utf8")));
  }

  /** The operation a request names, by method and path (literal paths before templated ones). */
  operation(method: string, path: string): Operation | undefined {
    const matches = this.operations.filter((o) => o.method === method && o.pattern.test(path));
    return matches.sort((a, b) => braces(a.template) - braces(b.template))[0];
  }

  /** What is wrong with a request body, as messages; [] when it fits (or the operation takes none). */
  checkRequest(method: string, path: string, body: unknown): string[] {
    const op = this.operation(method, path);
    if (!op) return [`${method} ${path}: no such operation in Qdrant ${this.version}`];
    if (!op.request || body === undefined) return [];
    return problems(op.request, body, `${method} ${op.template} request`);
  }

  /** What is wrong with an answer's body, against the schema of its status; [] when it fits. */
  checkResponse(method: string, path: string, status: number, body: unknown): string[] {
    const op = this.operation(method, path);
    if (!op) return [];
    const schema =
      op.responses.get(String(status)) ??
      op.responses.get(`${String(status)[0]}XX`) ??
      op.responses.get("default");
    if (!schema) return status < 300 ? [`${method} ${op.template}: no ${status} answer in the contract`] : [];
    return problems(schema, body, `${method} ${op.template} ${status} answer`);
  }
}

function braces(template: string): number {
  return (template.match(/\{/g) ?? []).length;
}

/** Local `#/components/...` references of an inline schema, pointed at the registered document. */
function rewriteRefs(node: Json): Json {
  if (Array.isArray(node)) return node.map(rewriteRefs);
  if (node === null || typeof node !== "object") return node;
  return Object.fromEntries(
    Object.entries(node).map(([k, v]) => [
      k,
      k === "$ref" && typeof v === "string" ? `qdrant${v}` : rewriteRefs(v),
    ]),
  );
}

function problems(validate: ValidateFunction, body: unknown, where: string): string[] {
  if (validate(body)) return [];
  return (validate.errors ?? [])
    .slice(0, 5)
    .map((e) => `${where}: ${e.instancePath || "(body)"} ${e.message ?? "is invalid"}`);
}
