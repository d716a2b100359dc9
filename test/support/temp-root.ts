import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * vitest's global setup: the run's temporary files (settings files, databases, caches, child
 * servers' data) go under one directory of its own, removed when the run ends, so a test that makes
 * a temporary folder need not remember to delete it and a run leaves nothing behind.
 */
export default function setup(): () => void {
  const root = mkdtempSync(join(tmpdir(), "router-tests-"));
  process.env.TMPDIR = root;
  return () => rmSync(root, { recursive: true, force: true });
}
