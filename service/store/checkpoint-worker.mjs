// The WAL's checkpoints, on a thread of their own (see checkpointer.ts): a connection of this
// thread copies committed pages from the WAL into the database file every `intervalMs`, PASSIVE
// (it never waits for, nor blocks, the service's own connection).
import { parentPort, workerData } from "node:worker_threads";
import Database from "better-sqlite3";

const db = new Database(workerData.path, { fileMustExist: true });
const checkpoint = () => {
  try {
    db.pragma("wal_checkpoint(PASSIVE)");
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
