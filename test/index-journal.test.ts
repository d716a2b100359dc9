import {
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Mutex } from "../service/core/mutex.ts";
import { bootId, ImageKeeper } from "../service/index-image.ts";
import { rng } from "../service/routing/crossval.ts";
import { openDatabase } from "../service/store/database.ts";
import { QuantizedScanIndex } from "../service/vectors/embedded.ts";
import { IndexJournal, type JournalHeader, readJournal } from "../service/vectors/index-journal.ts";
import {
  example,
  RecordingLogger,
  startService,
  type TestService,
  TOPICS,
  tempDir,
} from "./support/harness.ts";

const DIM = 32;

function vectors(n: number, seed: number): Float32Array[] {
  const random = rng(seed);
  return Array.from({ length: n }, () => Float32Array.from({ length: DIM }, () => random() * 2 - 1));
}

const header = (base: string): JournalHeader => ({
  base,
  database: "db",
  bootId: bootId(),
  embedderId: "test",
  dimension: DIM,
});

describe("the embedded index's journal", () => {
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => {
    tmp = tempDir();
  });
  afterEach(() => tmp.remove());

  it("replayed on its image, gives back the index that wrote it: upserts, overwrites and deletes", async () => {
    const image = join(tmp.dir, "x.vectors");
    const log = join(tmp.dir, "x.vectors.log");
    const a = new QuantizedScanIndex(DIM);
    const first = vectors(300, 1);
    await a.upsert(first.map((v, i) => ({ id: `e${i}`, vector: v })));
    await a.saveImage(image, { embedderId: "test", dataVersion: 1, vectors: 300, snapshot: "s1" });
    let version = 1;
    a.attachJournal(IndexJournal.create(log, header("s1"), () => ++version));
    // New rows, rows overwritten with other vectors (a wider range among them: every code rescaled),
    // and deletions, in several records.
    const later = vectors(200, 2);
    await a.upsert(later.slice(0, 100).map((v, i) => ({ id: `n${i}`, vector: v })));
    await a.upsert(later.slice(100).map((v, i) => ({ id: `e${i}`, vector: v })));
    await a.upsert([{ id: "wide", vector: Float32Array.from({ length: DIM }, (_, j) => (j === 0 ? 1 : 0)) }]);
    await a.delete(["e150", "e151", "n7", "not-there"]);

    const scan = readJournal(log);
    expect(scan).toMatchObject({ records: 4, maxDataVersion: 5, upserted: 201, header: header("s1") });
    expect(scan?.validBytes).toBe(statSync(log).size);

    const b = new QuantizedScanIndex(DIM);
    expect(await b.restoreImage(image, (s) => s.snapshot === "s1")).toBe(true);
    // The range widened once, up front, as a start does (the "wide" vector is in the journal).
    b.widen(scan?.maxRange ?? 0);
    expect(scan?.maxRange).toBe(1);
    readJournal(log, (r) => b.replay(r));
    expect(await b.count()).toBe(await a.count());
    expect(new Set(await collect(b.ids()))).toEqual(new Set(await collect(a.ids())));
    for (const q of vectors(20, 3)) expect(await b.search(q, 10)).toEqual(await a.search(q, 10));
    // Replaying appends nothing.
    expect(statSync(log).size).toBe(scan?.validBytes);
    await a.close();
    await b.close();
  });

  it("removes itself when an append fails: the write stands, and no journal misses it", async () => {
    const log = join(tmp.dir, "failing.vectors.log");
    const index = new QuantizedScanIndex(DIM);
    const journal = IndexJournal.create(log, header("s1"), () => 1);
    index.attachJournal(journal);
    const [v0, v1, v2] = vectors(3, 5) as [Float32Array, Float32Array, Float32Array];
    await index.upsert([{ id: "a", vector: v0 }]);
    expect(readJournal(log)?.records).toBe(1);
    // The file's descriptor fails under it, as a full or broken disk does.
    closeSync((journal as unknown as { fd: number }).fd);
    await index.upsert([{ id: "b", vector: v1 }]);
    expect(journal.failed).toBeDefined();
    expect(existsSync(log)).toBe(false);
    await index.upsert([{ id: "c", vector: v2 }]);
    expect(await index.count()).toBe(3);
    expect((await index.search(v1, 1))[0]?.id).toBe("b");
    await index.close();
  });

  it("ends at a record cut short or changed, and continues from there", async () => {
    const log = join(tmp.dir, "torn.vectors.log");
    const journal = IndexJournal.create(log, header("s1"), () => 7);
    const [v0, v1, v2] = vectors(3, 4) as [Float32Array, Float32Array, Float32Array];
    journal.upsert(["a"], [v0], DIM, 1);
    const whole = statSync(log).size;
    journal.upsert(["b"], [v1], DIM, 1);
    journal.close();
    // A kill in the middle of the second record's write.
    truncateSync(log, whole + 20);
    const torn = readJournal(log);
    expect(torn).toMatchObject({ records: 1, validBytes: whole });

    // Continued: the torn bytes are cut off and the next record is read after the first.
    const resumed = IndexJournal.resume(log, header("s1"), whole, () => 8);
    resumed.upsert(["c"], [v2], DIM, 1);
    resumed.close();
    const seen: string[] = [];
    expect(readJournal(log, (r) => seen.push(...r.ids))).toMatchObject({ records: 2, maxDataVersion: 8 });
    expect(seen).toEqual(["a", "c"]);

    // A changed byte in a record's payload fails its CRC: the replay ends before it.
    const bytes = readFileSync(log);
    bytes[bytes.length - 3] = (bytes[bytes.length - 3] as number) ^ 0xff;
    writeFileSync(log, bytes);
    const after: string[] = [];
    expect(readJournal(log, (r) => after.push(...r.ids))?.records).toBe(1);
    expect(after).toEqual(["a"]);
    // Not a journal at all.
    writeFileSync(log, "something else");
    expect(readJournal(log)).toBeUndefined();
  });
});

async function collect(ids: AsyncGenerator<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const id of ids) out.push(id);
  return out;
}

/** Without a boot id (a system that does not give one) no journal is ever replayed. */
const BOOT = bootId();

describe.skipIf(BOOT === "")(
  `a start after a kill${BOOT === "" ? " (skipped: /proc/sys/kernel/random/boot_id is not readable here)" : ""}`,
  () => {
    let tmp: ReturnType<typeof tempDir>;
    let svc: TestService | undefined;
    beforeEach(() => {
      tmp = tempDir();
    });
    afterEach(async () => {
      await svc?.close();
      svc = undefined;
      tmp.remove();
    });

    /**
     * What a kill -9 leaves: a running service's database, copied whole by a backup between two
     * writes, and its image and journal as they are then (every write appended before it is confirmed).
     */
    async function killed(running: TestService, db: string, into: string): Promise<string> {
      mkdirSync(join(tmp.dir, into), { recursive: true });
      const copy = join(tmp.dir, into, "router.db");
      const made = await running.request("POST", "/admin/backup", { name: into }, { admin: true });
      expect(made.status).toBe(201);
      copyFileSync(join(tmp.dir, "backups", `${into}.db`), copy);
      copyFileSync(`${db}.vectors`, `${copy}.vectors`);
      copyFileSync(`${db}.vectors.log`, `${copy}.vectors.log`);
      return copy;
    }

    async function journaled(db: string): Promise<TestService> {
      const running = await startService({ DATABASE_PATH: db, BACKUP_DIR: join(tmp.dir, "backups") });
      // The first image is saved and its journal started as soon as the service is up.
      for (let i = 0; i < 200 && !existsSync(`${db}.vectors.log`); i++)
        await new Promise((r) => setTimeout(r, 10));
      expect(existsSync(`${db}.vectors.log`)).toBe(true);
      return running;
    }

    /** Starts a service on the database at `path`, hands `check` it and what it logged, and stops it. */
    async function restartOn(
      path: string,
      check: (restarted: TestService, log: RecordingLogger) => Promise<void>,
    ): Promise<void> {
      const log = new RecordingLogger();
      const restarted = await startService({ DATABASE_PATH: path }, { logger: log });
      try {
        await check(restarted, log);
      } finally {
        await restarted.close();
      }
    }

    /**
     * Another database with the three poetry examples the tests write first: the same counts and
     * write counter, its own id. Returns its backup's path.
     */
    async function otherDatabase(): Promise<string> {
      const other = await startService({
        DATABASE_PATH: join(tmp.dir, "other.db"),
        BACKUP_DIR: join(tmp.dir, "backups"),
      });
      try {
        await other.addExamples(TOPICS.poetry.map((t) => example(t, { poet: 0.8 }, "poetry")));
        expect(
          (await other.request("POST", "/admin/backup", { name: "other" }, { admin: true })).status,
        ).toBe(201);
      } finally {
        await other.close();
      }
      return join(tmp.dir, "backups", "other.db");
    }

    /** Every vector the service's index holds is an example of its own database. */
    async function expectOwnVectors(s: TestService): Promise<void> {
      const ids = new Set(s.deps.stores.ledger.allIds());
      for await (const id of s.deps.index.ids()) expect(ids.has(id)).toBe(true);
    }

    it("reads the image and replays the journal: the writes since, and the deletions, are there", async () => {
      const db = join(tmp.dir, "router.db");
      svc = await journaled(db);
      await svc.addExamples(TOPICS.poetry.map((t) => example(t, { poet: 0.8 }, "poetry")));
      const { body } = await svc.addExamples(TOPICS.code.map((t) => example(t, { coder: 0.9 }, "code")));
      const deleted = body.ids[0] as string;
      expect(
        (await svc.request("DELETE", `/admin/examples/${deleted}`, undefined, { admin: true })).status,
      ).toBe(204);
      const copy = await killed(svc, db, "after");

      await restartOn(copy, async (restarted, log) => {
        expect(log.find("vector index loaded")).toMatchObject({ from: "image and journal" });
        expect(log.find("index journal replayed")).toMatchObject({ copied: 0, deleted: 0 });
        const stored = restarted.deps.stores.examples.countExamples();
        expect(await restarted.deps.index.count()).toBe(stored);
        const held = new Set(await collect(restarted.deps.index.ids()));
        expect(held.has(deleted)).toBe(false);
        for (const id of body.ids.slice(1)) expect(held.has(id)).toBe(true);
        const res = await restarted.rank({ query: TOPICS.code[1] as string, k: 1 });
        expect(res.body.hits[0]?.id).toBe(body.ids[1]);
      });
    });

    it("copies what SQLite has and the journal lacks (a write cut between the two)", async () => {
      const db = join(tmp.dir, "router.db");
      svc = await journaled(db);
      await svc.addExamples(TOPICS.poetry.map((t) => example(t, { poet: 0.8 }, "poetry")));
      const copy = await killed(svc, db, "after");
      // The journal as it was before the last write reached it; that write's rows are in SQLite.
      const last = await svc.addExamples([example("sort a list in python", { coder: 1 }, "code")]);
      await svc.request("POST", "/admin/backup", { name: "later" }, { admin: true });
      copyFileSync(join(tmp.dir, "backups", "later.db"), copy);
      // Marked unconfirmed, as a kill between its SQLite write and its index write leaves it.
      const opened = openDatabase(copy);
      opened.sqlite.prepare("update examples set indexed = 0 where id = ?").run(last.body.ids[0]);
      opened.sqlite.close();

      await restartOn(copy, async (restarted, log) => {
        expect(log.find("vector index loaded")).toMatchObject({ from: "image and journal" });
        expect(log.find("index journal replayed")).toMatchObject({ copied: 1 });
        const res = await restarted.rank({ query: "sort a list in python", k: 1 });
        expect(res.body.hits[0]?.id).toBe(last.body.ids[0]);
      });
    });

    it("does not replay a journal from another boot, or one ahead of the database (restored from a backup)", async () => {
      const db = join(tmp.dir, "router.db");
      svc = await journaled(db);
      await svc.addExamples(TOPICS.poetry.map((t) => example(t, { poet: 0.8 }, "poetry")));
      // A backup taken here, and restored after more writes and a kill.
      await svc.request("POST", "/admin/backup", { name: "earlier" }, { admin: true });
      const later = await svc.addExamples(TOPICS.code.map((t) => example(t, { coder: 0.9 }, "code")));
      const copy = await killed(svc, db, "restored");
      copyFileSync(join(tmp.dir, "backups", "earlier.db"), copy);
      await restartOn(copy, async (restored, log) => {
        expect(log.find("index journal not used")).toMatchObject({
          why: "it records writes the database does not have (a database restored since?)",
        });
        expect(log.find("vector index loaded")).toMatchObject({ from: "database", vectors: 3 });
        const held = new Set(await collect(restored.deps.index.ids()));
        for (const id of later.body.ids) expect(held.has(id)).toBe(false);
      });

      // The same files, the journal marked as written in another boot of the machine.
      const other = await killed(svc, db, "rebooted");
      const bytes = readFileSync(`${other}.vectors.log`);
      const text = bytes.toString("latin1");
      const boot = bootId();
      expect(boot).not.toBe("");
      writeFileSync(
        `${other}.vectors.log`,
        Buffer.from(
          text.replace(
            boot,
            boot.replace(/[0-9a-f]/, (c) => (c === "0" ? "1" : "0")),
          ),
          "latin1",
        ),
      );
      await restartOn(other, async (_rebooted, log) => {
        expect(log.find("index journal not used")).toMatchObject({
          why: "the machine restarted since it was written",
        });
        expect(log.find("vector index loaded")).toMatchObject({ from: "database", vectors: 6 });
      });
    });

    it("does not replay a journal beside another database put in its place", async () => {
      const db = join(tmp.dir, "router.db");
      svc = await journaled(db);
      await svc.addExamples(TOPICS.poetry.map((t) => example(t, { poet: 0.8 }, "poetry")));
      const copy = await killed(svc, db, "swapped");
      copyFileSync(await otherDatabase(), copy);
      await restartOn(copy, async (swapped, log) => {
        expect(log.find("index journal not used")).toMatchObject({
          why: "it was written for another database",
        });
        expect(log.find("vector index loaded")).toMatchObject({ from: "database", vectors: 3 });
        await expectOwnVectors(swapped);
      });
    });

    it("does not read an image beside another database put in its place after a clean stop", async () => {
      const db = join(tmp.dir, "router.db");
      const first = await startService({ DATABASE_PATH: db });
      await first.addExamples(TOPICS.poetry.map((t) => example(t, { poet: 0.8 }, "poetry")));
      await first.close();
      expect(existsSync(`${db}.vectors`)).toBe(true);
      const other = await otherDatabase();
      for (const suffix of ["", "-wal", "-shm"]) rmSync(`${db}${suffix}`, { force: true });
      copyFileSync(other, db);
      await restartOn(db, async (swapped, log) => {
        expect(log.find("index image is stale: filling the index from the database")).toBeDefined();
        expect(log.find("vector index loaded")).toMatchObject({ from: "database", vectors: 3 });
        await expectOwnVectors(swapped);
      });
    });

    it("saves a new image when the journal outgrows an eighth of it, and a kill after that replays the new journal", async () => {
      const db = join(tmp.dir, "router.db");
      svc = await journaled(db);
      const running = svc;
      const keeper = new ImageKeeper(
        running.deps.config,
        running.deps.stores,
        () => ({ index: running.deps.index, embedderId: running.deps.embedder.id }),
        new Mutex(),
        new RecordingLogger(),
        { everyMs: 60_000, floorBytes: 0 },
      );
      // The image was saved on an empty index: three examples journaled are more than an eighth of it.
      await svc.addExamples(TOPICS.poetry.map((t) => example(t, { poet: 0.8 }, "poetry")));
      const grown = statSync(`${db}.vectors.log`).size;
      expect(await keeper.check()).toBe(true);
      expect(statSync(`${db}.vectors.log`).size).toBeLessThan(grown);
      expect(readJournal(`${db}.vectors.log`)?.records).toBe(0);
      // Nothing due right after.
      expect(await keeper.check()).toBe(false);
      const { body } = await svc.addExamples(TOPICS.code.map((t) => example(t, { coder: 0.9 }, "code")));
      const copy = await killed(svc, db, "compacted");
      await restartOn(copy, async (restarted, log) => {
        expect(log.find("vector index loaded")).toMatchObject({ from: "image and journal", vectors: 6 });
        expect((await restarted.rank({ query: TOPICS.code[2] as string, k: 1 })).body.hits[0]?.id).toBe(
          body.ids[2],
        );
      });
    });
  },
);
