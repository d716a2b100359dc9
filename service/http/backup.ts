import { Readable } from "node:stream";
import { createRoute, z } from "@hono/zod-openapi";
import { BACKUP_NAME, type BackupInfo } from "../core/backups.ts";
import { parseOrThrow } from "../core/schemas.ts";
import { jsonOf } from "./body.ts";
import type { AdminDeps } from "./context.ts";
import { ADMIN, errors, json, router } from "./openapi.ts";

const BackupJson = z
  .object({
    name: z.string().describe("the backup's name (its file is `<name>.db`)"),
    file: z.string().describe("where it was written, on the service's machine"),
    bytes: z.number().int().describe("its size"),
    created_at: z.string().describe("when it was written (ISO 8601)"),
  })
  .openapi("Backup");

const CreateBody = z.strictObject({
  name: z
    .string()
    .regex(BACKUP_NAME, "name is 1-100 letters, digits, . _ - and starts with a letter or digit")
    .optional(),
});

function backupJson(b: BackupInfo): z.infer<typeof BackupJson> {
  return { name: b.name, file: b.file, bytes: b.bytes, created_at: b.createdAt.toISOString() };
}

const tags = ["operations"];

const create = createRoute({
  operationId: "createBackup",
  method: "post",
  path: "/",
  tags,
  security: ADMIN,
  summary: "Write an online, consistent backup of the database under BACKUP_DIR",
  description:
    "The service keeps serving and writing meanwhile; the copy is one point in time. Restore: stop the service, copy the file over DATABASE_PATH (removing its -wal and -shm files), start it.",
  // Declared for the document, read by the handler: the body may be absent, and is JSON whatever its type.
  request: {
    body: {
      required: false,
      content: {
        "application/json": {
          schema: {
            type: "object",
            additionalProperties: false,
            properties: {
              name: {
                type: "string",
                pattern: BACKUP_NAME.source,
                description: "the backup's name (default: router-<the time>)",
              },
            },
          },
          example: { name: "before-upgrade" },
        },
      },
    },
  },
  responses: { 201: json(BackupJson, "Written"), ...errors(400, 401, 409, 413, 503) },
});

const download = createRoute({
  operationId: "downloadBackup",
  method: "get",
  path: "/",
  tags,
  security: ADMIN,
  summary: "Stream a fresh online, consistent backup of the database (a SQLite file)",
  responses: {
    200: {
      description: "The database file",
      content: { "application/vnd.sqlite3": { schema: z.string().describe("the SQLite file") } },
    },
    ...errors(401, 503),
  },
});

const list = createRoute({
  operationId: "listBackups",
  method: "get",
  path: "/files",
  tags,
  security: ADMIN,
  summary: "The backups under BACKUP_DIR, newest first",
  responses: {
    200: json(z.object({ backups: z.array(BackupJson).describe("newest first") }), "The backups"),
    ...errors(401, 503),
  },
});

/** /admin/backup: write a backup to a file, stream one, list them. */
export function backupRoutes(deps: AdminDeps) {
  return router()
    .openapi(create, async (c) => {
      // The body is optional (none takes the default name), and JSON whatever its content type.
      const { name } = parseOrThrow(CreateBody, await jsonOf(c, {}));
      const written = await deps.backups.create(name);
      c.get("logger").info("database backed up", { name: written.name, bytes: written.bytes });
      return c.json(backupJson(written), 201);
    })
    .openapi(download, async (c) => {
      const name = `router-${new Date().toISOString().replace(/[:.]/g, "-")}.db`;
      const headers = {
        "content-type": "application/vnd.sqlite3",
        "content-disposition": `attachment; filename="${name}"`,
      };
      // HEAD says what GET would send without making a copy: nobody reads a HEAD's body.
      if (c.req.method === "HEAD") return new Response(null, { status: 200, headers }) as never;
      const { body, bytes } = await deps.backups.stream();
      return new Response(Readable.toWeb(body) as ReadableStream, {
        status: 200,
        headers: { ...headers, "content-length": String(bytes) },
      }) as never;
    })
    .openapi(list, (c) => c.json({ backups: deps.backups.list().map(backupJson) }, 200));
}
