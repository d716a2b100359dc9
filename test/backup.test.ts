import { copyFileSync, existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  type ErrorBody,
  type RankBody,
  ranked,
  startService,
  type TestService,
  TOPICS,
  tempDir,
} from "./support/harness.ts";
import { TestQdrant } from "./support/qdrant.ts";

interface Backup {
  name: string;
  file: string;
  bytes: number;
  created_at: string;
}

const QUERIES = [
  { query: "python function to sort numbers", k: 4 },
  { query: "a poem about the sea", k: 3 },
  { query: "a verse about waves", k: 6, category: "poetry" },
];

const examples = (tag: string, n: number) =>
  Array.from({ length: n }, (_, i) => ({
    id: `${tag}-${i}`,
    text: `${i % 2 ? TOPICS.code[i % 3] : TOPICS.poetry[i % 3]} (${tag} ${i})`,
    category: i % 2 ? "code" : "poetry",
    scores: { big: (i % 10) / 10, small: 1 - (i % 7) / 7 },
  }));

async function answers(svc: TestService): Promise<RankBody[]> {
  const out: RankBody[] = [];
  for (const q of QUERIES) out.push(ranked((await svc.rank(q)).body) as RankBody);
  return out;
}

describe("backups (POST /admin/backup, GET /admin/backup) and restore", () => {
  let tmp: ReturnType<typeof tempDir>;
  let qdrant: TestQdrant;
  const open: TestService[] = [];
  const start = async (env: Record<string, string>) => {
    const svc = await startService(env);
    open.push(svc);
    return svc;
  };
  beforeAll(async () => {
    qdrant = await TestQdrant.start();
  });
  afterAll(async () => {
    await qdrant.stop();
  });
  afterEach(async () => {
    for (const s of open.splice(0)) await s.close();
    tmp?.remove();
  });

  it("writes a named, consistent backup while writes go on; a primary restored from it answers as before", async () => {
    tmp = tempDir();
    const env = { DATABASE_PATH: join(tmp.dir, "router.db"), BACKUP_DIR: join(tmp.dir, "backups") };
    const svc = await start(env);
    expect((await svc.addExamples(examples("a", 60))).status).toBe(201);

    // Batches of 25 keep landing while the backup runs: the copy holds whole batches only.
    let writing = true;
    const writes = (async () => {
      for (let b = 0; writing && b < 40; b++) {
        expect((await svc.addExamples(examples(`w${b}`, 25))).status).toBe(201);
      }
    })();
    const res = await svc.request("POST", "/admin/backup", { name: "nightly-1" }, { admin: true });
    writing = false;
    await writes;
    expect(res.status).toBe(201);
    const backup = (await res.json()) as Backup;
    expect(backup).toMatchObject({ name: "nightly-1", file: join(tmp.dir, "backups", "nightly-1.db") });
    const copy = new Database(backup.file, { readonly: true });
    try {
      expect(copy.pragma("integrity_check", { simple: true })).toBe("ok");
      const n = (copy.prepare("select count(*) as n from examples").get() as { n: number }).n;
      expect(n >= 60 && (n - 60) % 25 === 0).toBe(true);
      const scored = (
        copy.prepare("select count(distinct example_id) as n from scores").get() as { n: number }
      ).n;
      expect(scored).toBe(n);
    } finally {
      copy.close();
    }

    // Names: taken, malformed; the list, newest first.
    const again = await svc.request("POST", "/admin/backup", { name: "nightly-1" }, { admin: true });
    expect(again.status).toBe(409);
    expect(((await again.json()) as ErrorBody).error.code).toBe("CONFLICT");
    const bad = await svc.request("POST", "/admin/backup", { name: "../etc/passwd" }, { admin: true });
    expect(bad.status).toBe(400);
    const unnamed = await svc.app.request("/admin/backup", {
      method: "POST",
      headers: { authorization: `Bearer ${svc.config.admin.token}` },
    });
    expect(unnamed.status).toBe(201);
    const auto = (await unnamed.json()) as Backup;
    expect(auto.name).toMatch(/^router-\d{4}-\d\d-\d\dT/);
    const listed = await svc.request("GET", "/admin/backup/files", undefined, { admin: true });
    expect(((await listed.json()) as { backups: Backup[] }).backups.map((b) => b.name).sort()).toEqual(
      [auto.name, "nightly-1"].sort(),
    );
    expect((await svc.request("POST", "/admin/backup", {})).status).toBe(401);

    // Restore: a primary on a backup answers exactly as the service did when the backup was taken,
    // whatever was written after it.
    const snapshot = (await (
      await svc.request("POST", "/admin/backup", { name: "quiet" }, { admin: true })
    ).json()) as Backup;
    const atSnapshot = await answers(svc);
    // Each query's own text, scored apart: the first neighbour of each from now on.
    const later = QUERIES.map((q, i) => ({
      id: `later-${i}`,
      text: q.query,
      scores: { big: 0.01, small: 0.02 },
    }));
    expect((await svc.addExamples(later)).status).toBe(201);
    expect(await answers(svc)).not.toEqual(atSnapshot);
    const restoredDir = tempDir();
    try {
      const restored = join(restoredDir.dir, "router.db");
      copyFileSync(snapshot.file, restored);
      const back = await start({ DATABASE_PATH: restored });
      expect(await answers(back)).toEqual(atSnapshot);
    } finally {
      restoredDir.remove();
    }
  }, 60_000);

  it("streams a fresh backup, leaving no file behind", async () => {
    tmp = tempDir();
    const backups = join(tmp.dir, "backups");
    const svc = await start({ DATABASE_PATH: join(tmp.dir, "router.db"), BACKUP_DIR: backups });
    expect((await svc.addExamples(examples("s", 30))).status).toBe(201);
    const res = await svc.request("GET", "/admin/backup", undefined, { admin: true });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/vnd.sqlite3");
    expect(res.headers.get("content-disposition")).toMatch(/^attachment; filename="router-.*\.db"$/);
    const file = join(tmp.dir, "downloaded.db");
    writeFileSync(file, Buffer.from(await res.arrayBuffer()));
    const db = new Database(file, { readonly: true });
    try {
      expect((db.prepare("select count(*) as n from examples").get() as { n: number }).n).toBe(30);
    } finally {
      db.close();
    }
    await expect.poll(() => readdirSync(backups)).toEqual([]);
  });

  it("writes one name at a time: of two requests for one name, one is written and the other is a 409", async () => {
    tmp = tempDir();
    const backups = join(tmp.dir, "backups");
    const svc = await start({ DATABASE_PATH: join(tmp.dir, "router.db"), BACKUP_DIR: backups });
    expect((await svc.addExamples(examples("r", 200))).status).toBe(201);
    for (let trial = 0; trial < 3; trial++) {
      const name = `race-${trial}`;
      const answers = await Promise.all(
        [0, 1].map(() => svc.request("POST", "/admin/backup", { name }, { admin: true })),
      );
      expect(answers.map((a) => a.status).sort()).toEqual([201, 409]);
      const won = (await (answers.find((a) => a.status === 201) as Response).json()) as Backup;
      const copy = new Database(won.file, { readonly: true });
      try {
        expect(copy.pragma("integrity_check", { simple: true })).toBe("ok");
        expect((copy.prepare("select count(*) as n from examples").get() as { n: number }).n).toBe(200);
      } finally {
        copy.close();
      }
    }
    // (Reading a copy here adds its -wal and -shm files beside it.)
    expect(
      readdirSync(backups)
        .filter((f) => f.endsWith(".db"))
        .sort(),
    ).toEqual(["race-0.db", "race-1.db", "race-2.db"]);
  });

  it("takes a body of any content type, or none", async () => {
    tmp = tempDir();
    const backups = join(tmp.dir, "backups");
    const svc = await start({ DATABASE_PATH: join(tmp.dir, "router.db"), BACKUP_DIR: backups });
    const post = (headers: Record<string, string>, body?: string) =>
      svc.app.request("/admin/backup", {
        method: "POST",
        headers: { authorization: `Bearer ${svc.config.admin.token}`, ...headers },
        ...(body !== undefined && { body }),
      });
    // curl -d sends application/x-www-form-urlencoded, as docs/deployment.md's example does.
    expect(
      (await post({ "content-type": "application/x-www-form-urlencoded" }, '{"name":"form"}')).status,
    ).toBe(201);
    expect((await post({ "content-type": "text/plain" }, '{"name":"text"}')).status).toBe(201);
    expect((await post({ "content-type": "application/json" })).status).toBe(201);
    expect((await post({})).status).toBe(201);
    expect(readdirSync(backups).filter((f) => !f.startsWith("router-"))).toEqual(["form.db", "text.db"]);
  });

  it("leaves no file after HEAD, after a download cut short, or one never read", async () => {
    tmp = tempDir();
    const backups = join(tmp.dir, "backups");
    const svc = await start({ DATABASE_PATH: join(tmp.dir, "router.db"), BACKUP_DIR: backups });
    expect((await svc.addExamples(examples("h", 300))).status).toBe(201);
    const auth = { authorization: `Bearer ${svc.config.admin.token}` };
    for (let i = 0; i < 5; i++) {
      const head = await svc.app.request("/admin/backup", { method: "HEAD", headers: auth });
      expect(head.status).toBe(200);
      expect(head.headers.get("content-type")).toBe("application/vnd.sqlite3");
    }
    expect(existsSync(backups) ? readdirSync(backups) : []).toEqual([]);
    // A download read in part and cancelled, and one never read: the copy's file is gone at once.
    const cut = await svc.app.request("/admin/backup", { headers: auth });
    const reader = (cut.body as ReadableStream<Uint8Array>).getReader();
    await reader.read();
    await reader.cancel();
    const unread = await svc.app.request("/admin/backup", { headers: auth });
    expect(unread.status).toBe(200);
    expect(readdirSync(backups)).toEqual([]);
  });

  it("rebuilds a Qdrant collection from a restored database alone", async () => {
    tmp = tempDir();
    const env = {
      DATABASE_PATH: join(tmp.dir, "router.db"),
      BACKUP_DIR: join(tmp.dir, "backups"),
      VECTOR_STORE: "qdrant",
      QDRANT_URL: qdrant.url,
      QDRANT_COLLECTION: qdrant.name("before_restore"),
    };
    const svc = await start(env);
    expect((await svc.addExamples(examples("q", 40))).status).toBe(201);
    const before = await answers(svc);
    const backup = (await (
      await svc.request("POST", "/admin/backup", { name: "q" }, { admin: true })
    ).json()) as Backup;
    await svc.close();
    open.splice(0);

    // The vector store is lost; the restored primary starts on an empty collection and fills it.
    await qdrant.lose(env.QDRANT_COLLECTION);
    const restored = join(tmp.dir, "restored.db");
    copyFileSync(backup.file, restored);
    const after = qdrant.name("after_restore");
    const back = await start({ ...env, DATABASE_PATH: restored, QDRANT_COLLECTION: after });
    expect(await qdrant.count(after)).toBe(40);
    expect(await answers(back)).toEqual(before);
  });
});
