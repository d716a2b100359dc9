import { randomUUID } from "node:crypto";
import { createReadStream, existsSync, mkdirSync, readdirSync, statSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { AppError } from "../errors.ts";

/** A backup's name: what its file is called, without `.db`. */
export const BACKUP_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

export interface BackupInfo {
  name: string;
  file: string;
  bytes: number;
  createdAt: Date;
}

/**
 * Online, consistent copies of the SQLite database (the driver's backup API: the service keeps
 * serving and writing while it runs, and the copy is one point in time), written under one
 * directory or streamed. Restoring is copying one over DATABASE_PATH while the service is stopped.
 */
export class Backups {
  constructor(
    readonly dir: string,
    /** Writes a consistent copy of the database to `file` (better-sqlite3's `backup`). */
    private readonly copy: (file: string) => Promise<unknown>,
  ) {}

  /** Writes backup `name` (default: the time, `router-2026-12-06T07-01-02-345Z`); CONFLICT when it exists. */
  async create(name = `router-${new Date().toISOString().replace(/[:.]/g, "-")}`): Promise<BackupInfo> {
    mkdirSync(this.dir, { recursive: true });
    const file = join(this.dir, `${name}.db`);
    if (existsSync(file)) throw new AppError("CONFLICT", `backup ${name} exists: choose another name`);
    await this.copy(file);
    return this.info(name);
  }

  /** Every backup in the directory, newest first. */
  list(): BackupInfo[] {
    if (!existsSync(this.dir)) return [];
    return readdirSync(this.dir)
      .filter((f) => f.endsWith(".db") && BACKUP_NAME.test(f.slice(0, -3)))
      .map((f) => this.info(f.slice(0, -3)))
      .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
  }

  /**
   * A fresh backup as a stream (written to a temporary file in the directory, removed once read or
   * abandoned), with its size.
   */
  async stream(): Promise<{ body: Readable; bytes: number }> {
    mkdirSync(this.dir, { recursive: true });
    const file = join(this.dir, `.streaming-${randomUUID()}.db`);
    try {
      await this.copy(file);
    } catch (err) {
      if (existsSync(file)) unlinkSync(file);
      throw err;
    }
    const bytes = statSync(file).size;
    const body = createReadStream(file);
    body.once("close", () => {
      if (existsSync(file)) unlinkSync(file);
    });
    return { body, bytes };
  }

  private info(name: string): BackupInfo {
    const file = join(this.dir, `${name}.db`);
    const stat = statSync(file);
    return { name, file, bytes: stat.size, createdAt: stat.mtime };
  }
}
