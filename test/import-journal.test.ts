import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ONE_TRANSACTION, recoverImports } from "../service/core/example-writer.ts";
import { type EmbedPriority, WrappedEmbedder } from "../service/embedding/embedder.ts";
import { HashEmbedder } from "../service/embedding/hash.ts";
import { createLogger } from "../service/logger.ts";
import { openDatabase } from "../service/store/database.ts";
import { ExampleStore, type NewExample } from "../service/store/example-store.ts";
import { ImportJournal } from "../service/store/import-journal.ts";
import { TargetStore } from "../service/store/target-store.ts";
import { QuantizedScanIndex } from "../service/vectors/embedded.ts";
import type { VectorRecord } from "../service/vectors/vector-index.ts";
import {
  type ErrorBody,
  RecordingLogger,
  startService,
  type TestService,
  tempDir,
} from "./support/harness.ts";

/** An embedded index whose `failOn`-th upsert (counting from when it is armed) fails as a broken disk would. */
class FailingIndex extends QuantizedScanIndex {
  failOn = 0;
  private calls = 0;
  arm(n: number) {
    this.failOn = n;
    this.calls = 0;
  }
  override async upsert(records: readonly VectorRecord[]) {
    if (this.failOn > 0 && ++this.calls === this.failOn) throw new Error("the index's disk failed");
    return super.upsert(records);
  }
}

const line = (i: number, score: number, prefix = "imported") =>
  JSON.stringify({
    id: `${prefix}-${i}`,
    text: `${prefix} prompt ${i} about topic ${i % 37} and theme ${i % 11}`,
    category: `topic-${i % 5}`,
    scores: { big: score, small: Math.round((1 - score) * 100) / 100 },
  });

async function importLines(svc: TestService, lines: string[], query = "") {
  const res = await svc.request("POST", `/admin/import${query}`, lines.join("\n"), {
    admin: true,
    headers: { "content-type": "application/x-ndjson" },
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> & ErrorBody };
}

/** Everything a client can see of the examples, and the totals the ranking reads. */
function snapshot(svc: TestService) {
  const { examples, targets } = svc.deps.stores;
  const stored = examples.list({ limit: 100_000 }).map(({ createdAt, updatedAt, ...rest }) => ({
    ...rest,
    createdAt: createdAt.getTime(),
  }));
  const stats = targets.targetStats();
  const round = (m: Record<string, number>) =>
    Object.fromEntries(Object.entries(m).map(([k, v]) => [k, Number(v.toFixed(9))]));
  return { stored, overall: round(stats.overall), counts: stats.counts?.overall };
}

/** Journaled writes not finished (none once a write has answered). */
const journalRows = (svc: TestService) => svc.deps.stores.journal.unfinished().length;

let svc: TestService | undefined;
afterEach(async () => {
  await svc?.close();
  svc = undefined;
});

describe("an import larger than one transaction", () => {
  it("is written a chunk at a time: requests are answered while it runs", async () => {
    svc = await startService();
    const lines = Array.from({ length: 6000 }, (_, i) => line(i, 0.5));
    let done = false;
    const importing = importLines(svc, lines).finally(() => {
      done = true;
    });
    let answeredMeanwhile = 0;
    while (!done) {
      // A request arrives as I/O does: in a turn of the event loop of its own.
      await new Promise((r) => setImmediate(r));
      const res = await svc.request("GET", "/healthz");
      expect(res.status).toBe(200);
      if (!done) answeredMeanwhile++;
    }
    const { status, body } = await importing;
    expect(status).toBe(201);
    expect(body).toMatchObject({ imported: 6000, deleted: 0, indexed: true });
    // Parsing yields every 1,000 lines, embedding and writing every chunk (256 at first): a
    // /healthz got through between every one of them, dozens in all.
    expect(answeredMeanwhile).toBeGreaterThan(6000 / ONE_TRANSACTION);
    expect(svc.deps.stores.examples.countExamples()).toBe(6000);
    expect(await svc.deps.index.count()).toBe(6000);
    expect(journalRows(svc)).toBe(0);
  });

  it("embeds the next chunk while it writes this one: an embedder off this thread gets two at once", async () => {
    // A model in worker threads, as the event loop sees it: each call answers after 20 ms, and
    // this thread is idle meanwhile.
    class OffThread extends WrappedEmbedder {
      inFlight = 0;
      most = 0;
      async embed(texts: readonly string[], priority?: EmbedPriority) {
        this.inFlight++;
        this.most = Math.max(this.most, this.inFlight);
        await new Promise((r) => setTimeout(r, 20));
        this.inFlight--;
        return this.inner.embed(texts, priority);
      }
    }
    const embedder = new OffThread(new HashEmbedder(256));
    svc = await startService({}, { embedder });
    const lines = Array.from({ length: 3000 }, (_, i) => line(i, 0.5));
    const { status, body } = await importLines(svc, lines);
    expect(status).toBe(201);
    expect(body).toMatchObject({ imported: 3000, indexed: true });
    expect(embedder.most).toBe(2);
    // Every row once, with its own vector: the last example is found by its text.
    expect(svc.deps.stores.examples.countExamples()).toBe(3000);
    const hit = await svc.rank({ query: "imported prompt 2999 about topic 2 and theme 7", k: 1 });
    expect(hit.body.hits[0]?.id).toBe("imported-2999");
  });

  it("re-runs changing nothing, its journal forgotten each time", async () => {
    svc = await startService();
    const lines = Array.from({ length: 700 }, (_, i) => line(i, 0.25));
    expect((await importLines(svc, lines)).status).toBe(201);
    const first = snapshot(svc);
    expect((await importLines(svc, lines)).status).toBe(201);
    expect(snapshot(svc)).toEqual(first);
    const raw = svc.deps.stores.examples as unknown as { db: { $client: import("better-sqlite3").Database } };
    expect(raw.db.$client.prepare("select count(*) from import_journal").pluck().get()).toBe(0);
    expect(raw.db.$client.prepare("select count(*) from batch_writes").pluck().get()).toBe(0);
  });

  it("that fails half way is taken back whole: examples, totals and the index as before", async () => {
    const index = new FailingIndex(256);
    svc = await startService({}, { index });
    // Before: 300 examples, 100 of which the import will replace with other scores and categories.
    expect(
      (
        await importLines(
          svc,
          Array.from({ length: 300 }, (_, i) => line(i, 0.9)),
        )
      ).status,
    ).toBe(201);
    const before = snapshot(svc);
    const service = svc;
    const ranked = async () => {
      const { body } = await service.rank({ query: "imported prompt 7 about topic 7 and theme 7", k: 3 });
      const { ranking_id: _, ...rest } = body as unknown as Record<string, unknown>;
      return rest;
    };
    const probe = await ranked();
    index.arm(4);
    const lines = [
      ...Array.from({ length: 100 }, (_, i) => line(i, 0.1).replace(/topic-\d/, "moved")),
      ...Array.from({ length: 1500 }, (_, i) => line(i, 0.3, "fresh")),
    ];
    const failed = await importLines(svc, lines);
    expect(failed.status).toBe(500);
    expect(snapshot(svc)).toEqual(before);
    expect(await index.count()).toBe(300);
    expect(await ranked()).toEqual(probe);
    expect(journalRows(svc)).toBe(0);
    // The same import, the index healthy again, lands whole.
    index.arm(0);
    expect((await importLines(svc, lines)).body).toMatchObject({ imported: 1600 });
    expect(svc.deps.stores.examples.countExamples()).toBe(1800);
    expect(svc.deps.stores.examples.get("imported-3")?.scores).toEqual({ big: 0.1, small: 0.9 });
  });

  it("of examples under ids, one of them taken by the time its chunk is written: 409, nothing of it kept", async () => {
    svc = await startService();
    await svc.addExamples([{ id: "taken", text: "already here", scores: { big: 0.5 } }]);
    const examples = [
      ...Array.from({ length: 900 }, (_, i) => ({
        id: `batch-${i}`,
        text: `batch prompt ${i}`,
        scores: { big: 0.7 },
      })),
      { id: "taken", text: "clash", scores: { big: 0.1 } },
    ];
    const { status, body } = await svc.addExamples(examples);
    expect(status).toBe(409);
    expect(body.error.details).toHaveLength(1);
    expect(body.error.details?.[0]).toMatchObject({
      path: "examples.900.id",
      message: expect.stringContaining("taken"),
    });
    expect(svc.deps.stores.examples.countExamples()).toBe(1);
    expect(svc.deps.stores.examples.get("taken")?.text).toBe("already here");
    expect(await svc.deps.index.count()).toBe(1);
  });
});

describe("POST /admin/import?mode=replace", () => {
  it("makes the import all the examples: the rest are deleted, from the index too; targets stay", async () => {
    svc = await startService();
    expect(
      (
        await importLines(
          svc,
          Array.from({ length: 40 }, (_, i) => line(i, 0.8, "seeded")),
        )
      ).status,
    ).toBe(201);
    await svc.addExamples([{ text: "the operator's own sql prompt", scores: { sql: 0.9, big: 0.2 } }]);
    const mine = [0, 1, 2].map((i) => line(i, 0.4, "mine"));
    const { status, body } = await importLines(svc, [...mine, line(5, 0.6, "seeded")], "?mode=replace");
    expect(status).toBe(201);
    expect(body).toEqual({ imported: 4, skipped: 0, deleted: 40, indexed: true });
    const ids = svc.deps.stores.examples.list({ limit: 100 }).map((e) => e.id);
    expect(ids.sort()).toEqual(["mine-0", "mine-1", "mine-2", "seeded-5"]);
    expect(await svc.deps.index.count()).toBe(4);
    const hits = (await svc.rank({ query: "seeded prompt 9 about topic 9 and theme 9", k: 10 })).body.hits;
    expect(hits.map((h) => h.id).sort()).toEqual(["mine-0", "mine-1", "mine-2", "seeded-5"]);
    // Only examples go: targets are configuration (DELETE /admin/targets/{name} removes one).
    const targets = (await (
      await svc.request("GET", "/admin/targets", undefined, { admin: true })
    ).json()) as {
      targets: Array<{ name: string }>;
    };
    expect(targets.targets.map((t) => t.name).sort()).toEqual(["big", "small", "sql"]);
    // The totals follow: only the import's labels count.
    expect(svc.deps.stores.targets.targetStats().counts?.overall).toEqual({ big: 4, small: 4 });
  });

  it("that fails is taken back, the deleted examples restored", async () => {
    const index = new FailingIndex(256);
    svc = await startService({}, { index });
    expect(
      (
        await importLines(
          svc,
          Array.from({ length: 500 }, (_, i) => line(i, 0.8, "seeded")),
        )
      ).status,
    ).toBe(201);
    const before = snapshot(svc);
    index.arm(3);
    const failed = await importLines(
      svc,
      Array.from({ length: 800 }, (_, i) => line(i, 0.2, "mine")),
      "?mode=replace",
    );
    expect(failed.status).toBe(500);
    expect(snapshot(svc)).toEqual(before);
    expect(await index.count()).toBe(500);
  });

  it("refuses existing_text beside it (there is no stored text left to match)", async () => {
    svc = await startService();
    const { status, body } = await importLines(svc, [line(1, 0.5)], "?mode=replace&existing_text=skip");
    expect(status).toBe(400);
    expect(body.error.details?.[0]?.path).toBe("existing_text");
    expect(svc.deps.stores.examples.countExamples()).toBe(0);
  });
});

describe("a journaled write a stop interrupted", () => {
  const example = (id: string, score: number, category = "a"): NewExample => ({
    id,
    text: `text of ${id}`,
    category,
    scores: { big: score, small: 1 - score },
    embedding: new HashEmbedder(256).embedOne(`text of ${id}`),
    embedderId: "hash:v1:256",
  });

  it("is taken back at the next start, whatever it had done; a finished one is kept", async () => {
    const tmp = tempDir();
    try {
      const path = join(tmp.dir, "interrupted.db");
      const { db, sqlite } = openDatabase(path);
      const store = new ExampleStore(db);
      const journal = new ImportJournal(db);
      store.write([example("kept", 0.6), example("replaced", 0.7), example("deleted", 0.8)], "upsert");
      const before = {
        kept: store.get("kept"),
        replaced: store.get("replaced"),
        deleted: store.get("deleted"),
      };
      const totals = new TargetStore(db).targetStats();
      // An import that wrote one chunk (a replacement and a new example) and deleted one example
      // (mode=replace), then the process died.
      journal.begin("cut-short", "replace", new Date());
      store.write(
        [example("replaced", 0.1, "b"), example("new", 0.2)],
        "upsert",
        journal.recorder("cut-short", "write"),
      );
      store.deleteMany(["deleted"], journal.recorder("cut-short", "delete"));
      // One that had finished and was forgetting its journal.
      journal.begin("finished", "add", new Date());
      store.write([example("landed", 0.3)], "upsert", journal.recorder("finished", "write"));
      journal.setState("finished", "done");
      sqlite.close();

      const logger = new RecordingLogger();
      svc = await startService({ DATABASE_PATH: path }, { logger });
      const examples = svc.deps.stores.examples;
      // Written back as they were (a new version: the write that restores them is a write).
      const { updatedAt: _, ...replaced } = before.replaced as NonNullable<typeof before.replaced>;
      expect(examples.get("replaced")).toMatchObject(replaced);
      expect(examples.get("deleted")?.scores).toEqual(before.deleted?.scores);
      expect(examples.get("deleted")?.createdAt).toEqual(before.deleted?.createdAt);
      expect(examples.get("kept")).toEqual(before.kept);
      expect(examples.get("new")).toBeUndefined();
      expect(examples.get("landed")?.scores).toEqual({ big: 0.3, small: 0.7 });
      expect(svc.deps.stores.journal.unfinished()).toEqual([]);
      // The totals as before, plus the finished import's example.
      const after = svc.deps.stores.targets.targetStats();
      expect(after.counts?.overall).toEqual({ big: (totals.counts?.overall.big ?? 0) + 1, small: 4 });
      expect(await svc.deps.index.count()).toBe(4);
      expect(
        logger.lines.find((l) => l.message === "a write a stop interrupted was taken back")?.fields,
      ).toMatchObject({
        write: "cut-short",
        mode: "replace",
        restored: 2,
        deleted: 1,
      });
    } finally {
      await svc?.close();
      svc = undefined;
      tmp.remove();
    }
  });

  it("leaves an example alone that something wrote after the import did", async () => {
    const { db, sqlite } = openDatabase(":memory:");
    const store = new ExampleStore(db);
    const journal = new ImportJournal(db);
    store.write([example("x", 0.5)], "upsert");
    journal.begin("j", "add", new Date());
    store.write([example("x", 0.1)], "upsert", journal.recorder("j", "write"));
    await new Promise((r) => setTimeout(r, 5));
    store.write([example("x", 0.9)], "upsert");
    await recoverImports(store, journal, createLogger("silent"));
    expect(store.get("x")?.scores.big).toBe(0.9);
    expect(journal.unfinished()).toEqual([]);
    sqlite.close();
  });
});
