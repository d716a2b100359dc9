import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ADMIN_TOKEN,
  FEEDBACK_TOKEN,
  REPLICA_TOKEN,
  startService,
  type TestService,
  TOPICS,
  tempDir,
} from "./support/harness.ts";

/** Codes a body of the wrong type (or bytes that are not UTF-8) may be answered with; never a 5xx. */
const CLIENT_ERRORS = new Set([
  "INVALID_JSON",
  "VALIDATION_FAILED",
  "UNSUPPORTED_MEDIA_TYPE",
  "NOT_FOUND",
  "CONFLICT",
  "UNKNOWN_TARGET",
]);

/** The content types clients send by mistake, curl's `-d` default among them. */
const TYPES = [
  "text/plain",
  "application/x-www-form-urlencoded",
  "application/xml",
  "multipart/form-data; boundary=x",
  undefined,
];

interface Operation {
  method: string;
  path: string;
  example: unknown;
}

/**
 * Every route that takes a body (read from the service's own OpenAPI document, so a new route is
 * covered without being listed here), sent bodies of each wrong content type and bytes that are
 * not UTF-8: a 2xx (the body read as its documented type) or a 4xx with a code, never a 5xx.
 */
describe("every route that takes a body, sent the wrong content type", () => {
  let svc: TestService;
  let tmp: ReturnType<typeof tempDir>;
  let operations: Operation[] = [];
  let exampleId: string;

  beforeAll(async () => {
    tmp = tempDir();
    svc = await startService({ FEEDBACK_TOKEN, REPLICA_TOKEN, BACKUP_DIR: tmp.dir });
    const added = await svc.addExamples(
      TOPICS.code.map((text) => ({ text, scores: { big: 0.9, small: 0.3 } })),
    );
    exampleId = added.body.ids[0] as string;
    const doc = (await (await svc.request("GET", "/openapi.json")).json()) as {
      paths: Record<
        string,
        Record<string, { requestBody?: { content: Record<string, { example?: unknown }> } }>
      >;
    };
    operations = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.entries(methods).flatMap(([method, op]) =>
        op.requestBody
          ? [
              {
                method: method.toUpperCase(),
                path,
                example: Object.values(op.requestBody.content)[0]?.example,
              },
            ]
          : [],
      ),
    );
  });
  afterAll(async () => {
    await svc.close();
    tmp.remove();
  });

  const concrete = (path: string) =>
    path
      .replace("{id}", exampleId)
      .replace("{name}", "big")
      .replace("{ranking_id}", "00000000-0000-4000-8000-000000000001")
      .replace("{decision}", "accept")
      .replace(/\{[^}]+\}/g, "x");
  const token = (path: string) =>
    path === "/feedback/rankings" ? REPLICA_TOKEN : path === "/feedback" ? FEEDBACK_TOKEN : ADMIN_TOKEN;

  it("finds the routes that take a body in the document", () => {
    const listed = operations.map((o) => `${o.method} ${o.path}`);
    for (const route of [
      "POST /rank",
      "POST /admin/examples",
      "PATCH /admin/examples/{id}",
      "PUT /admin/examples/{id}",
      "POST /admin/import",
      "POST /admin/backup",
      "POST /feedback",
      "POST /feedback/rankings",
      "PUT /admin/settings",
    ]) {
      expect(listed).toContain(route);
    }
  });

  it("answers each with a 2xx or a 4xx code, never a 5xx", async () => {
    const seen: string[] = [];
    for (const op of operations) {
      const body = typeof op.example === "string" ? op.example : JSON.stringify(op.example ?? {});
      const bodies: Array<[string | undefined, BodyInit]> = [
        ...TYPES.map((type): [string | undefined, BodyInit] => [type, body]),
        ["application/json", new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d])],
      ];
      for (const [type, payload] of bodies) {
        const res = await svc.app.request(concrete(op.path), {
          method: op.method,
          headers: { authorization: `Bearer ${token(op.path)}`, ...(type && { "content-type": type }) },
          body: payload,
        });
        const where = `${op.method} ${op.path} as ${type ?? "(no type)"}`;
        seen.push(where);
        expect(res.status, where).toBeLessThan(500);
        if (res.status >= 400) {
          const err = (await res.json()) as { error: { code: string } };
          expect(CLIENT_ERRORS.has(err.error.code), `${where}: ${err.error.code}`).toBe(true);
        }
        if (payload instanceof Uint8Array) {
          expect(res.status, `${where}: not UTF-8`).toBe(400);
        }
      }
    }
    expect(seen.length).toBe(operations.length * (TYPES.length + 1));
  });
});
