import { randomUUID } from "node:crypto";
import {
  closeSync,
  createReadStream,
  existsSync,
  fstatSync,
  linkSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
} from "node:fs";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { AppError } from "../errors.ts";

/** A backup's name: what its file is called, without `.db`. */
export const BACKUP_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/** Files a copy is written to before it takes its name (or is streamed): never listed, swept at start. */
const WORKING = /^\.(partial|streaming)-[0-9a-f-]{36}\.db(-wal|-shm|-journal)?$/;

/** A streamed backup nobody reads for this long is closed (its file is gone already). */
const STREAM_IDLE_MS = 60_000;

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
 *
 * A copy is written to a working file and then takes its name in one step that never replaces a
 * file: a backup acknowledged is never overwritten, and one name is written by one request at a
 * time (a second gets CONFLICT). A streamed copy's file is unlinked as soon as it is open, so
 * nothing is left behind however the download ends, or if it never starts.
 */
export class Backups {
  private readonly writing = new Set<string>();

  constructor(
    readonly dir: string,
    /** Writes a consistent copy of the database to `file` (better-sqlite3's `backup`). */
    private readonly copy: (file: string) => Promise<unknown>,
  ) {
    // What a process stopped midway left: working files are never anyone's backup.
    if (existsSync(dir)) {
      for (const f of readdirSync(dir)) if (WORKING.test(f)) rmSync(join(dir, f), { force: true });
    }
  }

  /** Writes backup `name` (default: the time, `router-2026-12-06T07-01-02-345Z`); CONFLICT when it exists. */
  async create(name = `router-${new Date().toISOString().replace(/[:.]/g, "-")}`): Promise<BackupInfo> {
    mkdirSync(this.dir, { recursive: true });
    const file = join(this.dir, `${name}.db`);
    if (this.writing.has(name) || existsSync(file)) {
      throw new AppError("CONFLICT", `backup ${name} exists or is being written: choose another name`);
    }
    this.writing.add(name);
    const working = join(this.dir, `.partial-${randomUUID()}.db`);
    try {
      await this.copy(working);
      claim(working, file, name);
    } finally {
      this.writing.delete(name);
      rmSync(working, { force: true });
    }
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
   * A fresh backup as a stream, with its size. The copy's file is opened and unlinked at once: its
   * bytes live as long as the stream, which closes when read to the end, when the download is cut,
   * or after STREAM_IDLE_MS without a read.
   */
  async stream(): Promise<{ body: Readable; bytes: number }> {
    mkdirSync(this.dir, { recursive: true });
    const file = join(this.dir, `.streaming-${randomUUID()}.db`);
    let fd: number;
    try {
      await this.copy(file);
      fd = openSync(file, "r");
    } finally {
      rmSync(file, { force: true });
    }
    let bytes: number;
    try {
      bytes = fstatSync(fd).size;
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    const body = createReadStream("", { fd, autoClose: true });
    const idle = setTimeout(() => body.destroy(), STREAM_IDLE_MS);
    idle.unref();
    body.on("data", () => idle.refresh());
    body.once("close", () => clearTimeout(idle));
    return { body, bytes };
  }

  private info(name: string): BackupInfo {
    const file = join(this.dir, `${name}.db`);
    const stat = statSync(file);
    return { name, file, bytes: stat.size, createdAt: stat.mtime };
  }
}

/**
 * Gives the working copy its name without ever replacing a file: a hard link fails when the name is
 * taken. Where the file system has no hard links, a rename after a check (the name is reserved
 * in this process meanwhile).
 */
function claim(working: string, file: string, name: string): void {
  try {
    linkSync(working, file);
    return;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EEXIST") throw new AppError("CONFLICT", `backup ${name} exists: choose another name`);
    if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EXDEV" && code !== "EOPNOTSUPP") throw err;
  }
  if (existsSync(file)) throw new AppError("CONFLICT", `backup ${name} exists: choose another name`);
  renameSync(working, file);
}
