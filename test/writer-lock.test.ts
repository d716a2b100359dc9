import { hostname } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { reindex } from "../service/cli/reindex.ts";
import { loadConfig } from "../service/config.ts";
import { HashEmbedder } from "../service/embedding/hash.ts";
import { StartupError } from "../service/errors.ts";
import { createLogger } from "../service/logger.ts";
import { openDatabase } from "../service/store/database.ts";
import { StateStore } from "../service/store/state-store.ts";
import { startService, tempDir } from "./support/harness.ts";

describe("one read-write instance per SQLite file", () => {
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => {
    tmp = tempDir();
  });
  afterEach(() => tmp.remove());

  const claim = (path: string, value: object) => {
    const { db, sqlite } = openDatabase(path);
    new StateStore(db).set("writer", JSON.stringify(value));
    sqlite.close();
  };

  /** The claim the database records now (read through a connection of its own). */
  const holder = (path: string) => {
    const { db, sqlite } = openDatabase(path, { readOnly: true });
    const raw = new StateStore(db).get("writer");
    sqlite.close();
    return raw === undefined ? undefined : (JSON.parse(raw) as { owner: string; pid: number; host: string });
  };
  const me = { pid: process.pid, host: hostname() };

  it("refuses a second writer with a message naming DATABASE_PATH, and lets it start once the first stops", async () => {
    const env = { DATABASE_PATH: join(tmp.dir, "one.db") };
    const first = await startService(env);
    const held = holder(env.DATABASE_PATH);
    expect(held).toMatchObject(me);
    const second = startService(env);
    await expect(second).rejects.toThrow(StartupError);
    await expect(second).rejects.toThrow(`DATABASE_PATH=${env.DATABASE_PATH}`);
    // The refused start left the claim alone.
    expect(holder(env.DATABASE_PATH)?.owner).toBe(held?.owner);
    await first.close();
    expect(holder(env.DATABASE_PATH)).toBeUndefined();
    const third = await startService(env);
    const next = holder(env.DATABASE_PATH);
    expect(next).toMatchObject(me);
    expect(next?.owner).not.toBe(held?.owner);
    await third.close();
  });

  it("takes over a claim left by a process that died (kill -9) on this host", async () => {
    const path = join(tmp.dir, "crashed.db");
    // A pid that is not running: the highest possible pid is never in use here.
    claim(path, { owner: "gone", pid: 2 ** 22 + 7, host: hostname(), heartbeat: Date.now() });
    const svc = await startService({ DATABASE_PATH: path });
    expect(holder(path)).toMatchObject(me);
    expect(holder(path)?.owner).not.toBe("gone");
    await svc.close();
  });

  it("refuses a fresh claim from another host, and takes over a stale one", async () => {
    const path = join(tmp.dir, "shared.db");
    claim(path, { owner: "other", pid: 1, host: "elsewhere", heartbeat: Date.now() });
    await expect(startService({ DATABASE_PATH: path })).rejects.toThrow(/pid 1 on elsewhere/);
    expect(holder(path)).toMatchObject({ owner: "other", host: "elsewhere" });
    claim(path, { owner: "other", pid: 1, host: "elsewhere", heartbeat: Date.now() - 60_000 });
    const svc = await startService({ DATABASE_PATH: path });
    expect(holder(path)).toMatchObject(me);
    await svc.close();
  });

  it("npm run reindex is a writer too: refused while the service writes; it gives the claim up when done", async () => {
    const path = join(tmp.dir, "reindex.db");
    const svc = await startService({ DATABASE_PATH: path });
    const config = loadConfig({ DATABASE_PATH: path, EMBEDDER: "hash", LOG_LEVEL: "silent" });
    const quiet = () => undefined;
    await expect(
      reindex(config, createLogger("silent"), { embedder: new HashEmbedder(32), progress: quiet }),
    ).rejects.toThrow(/another read-write instance/);
    await svc.close();
    const result = await reindex(config, createLogger("silent"), {
      embedder: new HashEmbedder(32),
      progress: quiet,
    });
    expect(result.reembedded).toBe(0);
    expect(holder(path)).toBeUndefined();
  });
});

describe("first-start seeding", () => {
  it("resumes when a start was killed between writing the examples and pricing the targets", async () => {
    const tmp = tempDir();
    const env = { DATABASE_PATH: join(tmp.dir, "seed.db"), SEED_ON_EMPTY: "true" };
    const first = await startService(env);
    const n = first.deps.stores.examples.countExamples();
    await first.close();
    // What a kill -9 after the examples' commit leaves: examples, unpriced targets, seeding "started".
    const { db, sqlite } = openDatabase(env.DATABASE_PATH);
    sqlite.exec("UPDATE targets SET input_price_per_mtok = NULL, output_price_per_mtok = NULL");
    new StateStore(db).set("seed", "started");
    sqlite.close();

    const second = await startService(env);
    expect(second.deps.stores.examples.countExamples()).toBe(n);
    const targets = second.deps.stores.targets.listTargets();
    expect(targets.every((t) => t.inputPricePerMtok !== null && t.outputPricePerMtok !== null)).toBe(true);
    await second.close();
    const { db: db2, sqlite: s2 } = openDatabase(env.DATABASE_PATH);
    expect(new StateStore(db2).get("seed")).toBe("done");
    s2.close();
    tmp.remove();
  });
});
