import { Worker } from "node:worker_threads";
import type Database from "better-sqlite3";
import { errorFields, type Logger } from "../logger.ts";

const WORKER_URL = new URL("./checkpoint-worker.mjs", import.meta.url);

/** How often the checkpoint thread copies the WAL into the database file. */
const INTERVAL_MS = 200;

/**
 * Keeps the WAL checkpointed from a worker thread. SQLite's own checkpoint runs in whichever commit
 * crosses 1,000 pages of WAL, on the thread that commits: in a large import that was one chunk in
 * three taking 40-60 ms instead of 20 (copying 4 MB and syncing the file), with every request
 * waiting behind it. With this running the service's connection never checkpoints
 * (`wal_autocheckpoint = 0`); if the thread stops, the connection checkpoints itself again.
 */
export class Checkpointer {
  private stopped = false;
  private readonly exited: Promise<void>;

  private constructor(
    private readonly worker: Worker,
    private readonly sqlite: Database.Database,
    private readonly logger: Logger,
  ) {
    worker.on("message", (m: { error?: string }) => {
      if (m.error) logger.warn("a WAL checkpoint failed; the next one retries", { error: m.error });
    });
    worker.on("error", (err) => this.fallBack(err));
    this.exited = new Promise((resolve) =>
      worker.once("exit", () => {
        this.fallBack();
        resolve();
      }),
    );
    sqlite.pragma("wal_autocheckpoint = 0");
  }

  /** Starts checkpointing the database file at `path` (none for an in-memory database). */
  static start(path: string, sqlite: Database.Database, logger: Logger): Checkpointer | undefined {
    if (path === ":memory:") return undefined;
    const worker = new Worker(WORKER_URL, { workerData: { path, intervalMs: INTERVAL_MS } });
    worker.unref();
    return new Checkpointer(worker, sqlite, logger);
  }

  /** Closes the thread's connection and ends the thread; resolves once it has. */
  stop(): Promise<void> {
    if (this.stopped) return this.exited;
    this.stopped = true;
    // Referenced again while it stops: a caller awaiting its exit with nothing else pending (a
    // failed start cleaning up) must not see the process end under it, silently, with exit code 0.
    this.worker.ref();
    this.worker.postMessage("stop");
    return this.exited;
  }

  private fallBack(err?: unknown): void {
    if (this.stopped) return;
    this.stopped = true;
    try {
      this.sqlite.pragma("wal_autocheckpoint = 1000");
    } catch {
      // The connection is closed: nothing to checkpoint.
    }
    this.logger.warn("the WAL checkpoint thread stopped; the database checkpoints on commit again", {
      ...(err === undefined ? {} : errorFields(err)),
    });
  }
}
