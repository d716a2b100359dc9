import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { type BetterSQLite3Database, drizzle } from "drizzle-orm/better-sqlite3";
import { migrate } from "drizzle-orm/better-sqlite3/migrator";
import * as schema from "./schema.ts";

/** The drizzle database; `$client` is the better-sqlite3 connection under it. */
export type Db = BetterSQLite3Database<typeof schema> & { $client: Database.Database };

const MIGRATIONS = resolve(dirname(fileURLToPath(import.meta.url)), "../../migrations");

/** An open database and the handle to close it. */
export interface OpenDatabase {
  db: Db;
  sqlite: Database.Database;
}

/**
 * Opens (creating if needed) the SQLite file at `path`, or an in-memory database for ":memory:",
 * in WAL mode with foreign keys on, and applies the committed migrations. `readOnly` opens an
 * existing file (a replica's copy) without writing to it, not even migrations.
 */
export function openDatabase(path: string, options: { readOnly?: boolean } = {}): OpenDatabase {
  if (options.readOnly) {
    const sqlite = new Database(path, { readonly: true, fileMustExist: true });
    sqlite.pragma("busy_timeout = 5000");
    sqlite.pragma("cache_size = -65536");
    return { db: drizzle(sqlite, { schema }), sqlite };
  }
  if (path !== ":memory:") mkdirSync(dirname(resolve(path)), { recursive: true });
  const sqlite = new Database(path);
  sqlite.pragma("journal_mode = WAL");
  sqlite.pragma("synchronous = NORMAL");
  // When the WAL starts over from its beginning, a file grown past 256 MiB is cut back to that.
  sqlite.pragma("journal_size_limit = 268435456");
  sqlite.pragma("foreign_keys = ON");
  sqlite.pragma("busy_timeout = 5000");
  // 64 MiB of page cache (the default is 2 MiB) keeps the rows /rank reads in memory.
  sqlite.pragma("cache_size = -65536");
  const db = drizzle(sqlite, { schema });
  migrate(db, { migrationsFolder: MIGRATIONS });
  return { db, sqlite };
}
