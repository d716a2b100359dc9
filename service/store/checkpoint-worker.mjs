// The WAL's checkpoints, on a thread of their own (see checkpointer.ts): a connection of this
// thread copies committed pages from the WAL into the database file every `intervalMs`, PASSIVE
// (it never waits for, nor blocks, the service's own connection).
import { parentPort, workerData } from "node:worker_threads";
import Database from "better-sqlite3";

// No busy wait: a checkpoint that cannot take a lock at once does what it can without it.
const db = new Database(workerData.path, { fileMustExist: true, timeout: 0 });
/** 256 MiB of 4 KiB pages: a WAL this long is restarted from its beginning at the next chance. */
const RESTART_FRAMES = 65_536;
const checkpoint = () => {
  try {
    const [{ log }] = db.pragma("wal_checkpoint(PASSIVE)");
    // The WAL starts again from its beginning only when a write begins while every frame is copied
    // and no reader uses it; under a stream of writes that moment rarely comes, and the file grew
    // to five times the database in an import. RESTART takes the write lock for the moment it
    // needs (never waiting for it, timeout 0) so that the next write starts the WAL over.
    if (log >= RESTART_FRAMES) db.pragma("wal_checkpoint(RESTART)");
  } catch (err) {
    parentPort?.postMessage({ error: err instanceof Error ? err.message : String(err) });
  }
};
const timer = setInterval(checkpoint, workerData.intervalMs);
// Stopping closes this connection first: the service's own connection, closed after, is then the
// last one, and its close checkpoints the WAL and removes it.
parentPort?.on("message", (message) => {
  if (message !== "stop") return;
  clearInterval(timer);
  db.close();
  parentPort?.close();
});
