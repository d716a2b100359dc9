import { afterEach, describe, expect, it } from "vitest";
import { type ErrorBody, startService, type TestService } from "./support/harness.ts";

let svc: TestService | undefined;
afterEach(async () => {
  await svc?.close();
  svc = undefined;
});

const admin = { admin: true };
const ids = (s: TestService) =>
  s.deps.stores.examples
    .list({ limit: 10_000 })
    .map((e) => e.id)
    .sort();

async function seed(s: TestService) {
  const res = await s.addExamples([
    {
      id: "sql-1",
      text: "write a sql query joining two tables",
      category: "coding",
      scores: { big: 0.9, small: 0.5 },
    },
    {
      id: "sql-2",
      text: "a sql query counting rows per day",
      category: "coding",
      scores: { big: 0.8, small: 0.6 },
    },
    {
      id: "poem-1",
      text: "write a poem about the sea",
      category: "poetry",
      scores: { big: 0.7, small: 0.7 },
    },
    {
      id: "poem-2",
      text: "a short poem about rain",
      category: "poetry",
      scores: { big: 0.6, small: 0.8, odd: 0.2 },
    },
    { id: "odd-only", text: "a prompt only odd was scored on", category: "misc", scores: { odd: 0.4 } },
  ]);
  expect(res.status).toBe(201);
}

describe("DELETE /admin/examples (by filter)", () => {
  it("deletes what matches every condition given, from the index and the totals too", async () => {
    svc = await startService();
    await seed(svc);
    const byCategory = await svc.request("DELETE", "/admin/examples?category=poetry", undefined, admin);
    expect(byCategory.status).toBe(200);
    expect(await byCategory.json()).toEqual({ deleted: 2 });
    expect(ids(svc)).toEqual(["odd-only", "sql-1", "sql-2"]);
    expect(await svc.deps.index.count()).toBe(3);
    expect(svc.deps.stores.targets.targetStats().byCategory.has("poetry")).toBe(false);

    const byPrefix = await svc.request(
      "DELETE",
      "/admin/examples?id_prefix=sql-&category=coding",
      undefined,
      admin,
    );
    expect(await byPrefix.json()).toEqual({ deleted: 2 });
    expect(ids(svc)).toEqual(["odd-only"]);
    // Nothing matches: nothing deleted, still 200.
    const none = await svc.request("DELETE", "/admin/examples?id_prefix=nothing-", undefined, admin);
    expect(await none.json()).toEqual({ deleted: 0 });
    const all = await svc.request("DELETE", "/admin/examples?all=true", undefined, admin);
    expect(await all.json()).toEqual({ deleted: 1 });
    expect(ids(svc)).toEqual([]);
    expect(await svc.deps.index.count()).toBe(0);
    expect(svc.deps.stores.targets.targetStats().overall).toEqual({});
  });

  it("deletes the examples outcomes made, keeping the operator's", async () => {
    svc = await startService({ FEEDBACK_TOKEN: "feedback-token-0123456789" });
    await seed(svc);
    const ranked = await svc.rank({ query: "write a sql query joining three tables" });
    const res = await svc.request(
      "POST",
      "/feedback",
      {
        ranking_id: (ranked.body as unknown as { ranking_id: string }).ranking_id,
        target: "small",
        score: 1,
      },
      {
        headers: { authorization: "Bearer feedback-token-0123456789" },
      },
    );
    expect(res.status).toBe(200);
    expect(ids(svc)).toHaveLength(6);
    const gone = await svc.request("DELETE", "/admin/examples?origin=outcome", undefined, admin);
    expect(await gone.json()).toEqual({ deleted: 1 });
    expect(ids(svc)).toEqual(["odd-only", "poem-1", "poem-2", "sql-1", "sql-2"]);
  });

  it("refuses a delete without a condition, and unknown ones, deleting nothing", async () => {
    svc = await startService();
    await seed(svc);
    for (const query of ["", "?all=false", "?categry=poetry", "?origin=robot", "?id_prefix="]) {
      const res = await svc.request("DELETE", `/admin/examples${query}`, undefined, admin);
      expect(res.status, query).toBe(400);
      expect(((await res.json()) as ErrorBody).error.code).toBe("VALIDATION_FAILED");
    }
    expect(ids(svc)).toHaveLength(5);
    expect((await svc.request("DELETE", "/admin/examples?all=true")).status).toBe(401);
    expect(ids(svc)).toHaveLength(5);
  });
});

describe("DELETE /admin/targets/{name}", () => {
  it("takes the target out of every example, deleting those it alone scored; labels are read against what is left", async () => {
    svc = await startService();
    await seed(svc);
    await svc.importArena([
      { text: "a short poem about rain", model_a: "odd", model_b: "big", winner: "model_a" },
    ]);
    const res = await svc.request("DELETE", "/admin/targets/odd", undefined, admin);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ deleted: "odd", examples_rewritten: 1, examples_deleted: 2 });
    const { examples, targets } = svc.deps.stores;
    // odd-only scored nothing else; the arena example compared odd with big and nothing more.
    expect(examples.get("odd-only")).toBeUndefined();
    expect(ids(svc)).toEqual(["poem-1", "poem-2", "sql-1", "sql-2"]);
    expect(examples.get("poem-2")?.scores).toEqual({ big: 0.6, small: 0.8 });
    // A label's baseline is the mean of its example's other scores: now without odd's 0.2.
    const raw = (examples as unknown as { db: { $client: import("better-sqlite3").Database } }).db.$client;
    expect(
      raw.prepare("select baseline from scores where example_id = 'poem-2' and target = 'big'").pluck().get(),
    ).toBeCloseTo(0.8, 12);
    expect(targets.listTargets().map((t) => t.name)).toEqual(["big", "small"]);
    expect(Object.keys(targets.targetStats().overall).sort()).toEqual(["big", "small"]);
    expect(await svc.deps.index.count()).toBe(4);
    const ranked = await svc.rank({ query: "a poem about rain" });
    expect(ranked.body.scores.map((s) => s.target).sort()).toEqual(["big", "small"]);
    // Gone: 404 again; a later example scoring it creates it anew.
    expect((await svc.request("DELETE", "/admin/targets/odd", undefined, admin)).status).toBe(404);
    await svc.addExamples([{ text: "odd is back", scores: { odd: 0.9 } }]);
    expect(targets.listTargets().map((t) => t.name)).toContain("odd");
  });

  it("forgets the outcomes reported for it, and refuses one naming it on an older ranking", async () => {
    const token = "feedback-token-0123456789";
    svc = await startService({ FEEDBACK_TOKEN: token, FEEDBACK_REVIEW: "true" });
    await seed(svc);
    const ranking = (await svc.rank({ query: "a poem about the rain" })).body as unknown as {
      ranking_id: string;
    };
    const send = (target: string) =>
      svc?.request(
        "POST",
        "/feedback",
        { ranking_id: ranking.ranking_id, target, score: 0.5 },
        {
          headers: { authorization: `Bearer ${token}` },
        },
      ) as Promise<Response>;
    expect((await send("odd")).status).toBe(200);
    expect((await (await svc.request("DELETE", "/admin/targets/odd", undefined, admin)).json()).deleted).toBe(
      "odd",
    );
    const pending = (await (
      await svc.request("GET", "/admin/feedback/pending", undefined, admin)
    ).json()) as {
      outcomes: unknown[];
    };
    expect(pending.outcomes).toEqual([]);
    const refused = await send("odd");
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as ErrorBody).error.details?.[0]?.path).toBe("target");
    expect((await send("big")).status).toBe(200);
  });

  it("answers 404 for a target there is none of, and needs the admin token", async () => {
    svc = await startService();
    await seed(svc);
    expect((await svc.request("DELETE", "/admin/targets/never", undefined, admin)).status).toBe(404);
    const anonymous = await svc.request("DELETE", "/admin/targets/big", undefined, {
      headers: { authorization: "Bearer not-the-token" },
    });
    expect(anonymous.status).toBe(401);
    expect(svc.deps.stores.targets.listTargets()).toHaveLength(3);
  });
});

describe("starting over with mode=replace", () => {
  it("drops settings tuned on the examples it replaced; pinned ones stay", async () => {
    svc = await startService({}, { selfTuning: true });
    const lines = (prefix: string, n: number) =>
      Array.from({ length: n }, (_, i) =>
        JSON.stringify({
          id: `${prefix}-${i}`,
          text: `${prefix} prompt ${i} on topic ${i % 4}`,
          category: `c${i % 4}`,
          scores: { big: (i % 10) / 10, small: 1 - (i % 10) / 10 },
        }),
      ).join("\n");
    const post = (body: string, query = "") =>
      svc?.request("POST", `/admin/import${query}`, body, {
        admin: true,
        headers: { "content-type": "application/x-ndjson" },
      }) as Promise<Response>;
    expect((await post(lines("old", 80))).status).toBe(201);
    await svc.deps.tuning.tuneNow();
    expect(svc.deps.settings.source()).toBe("tuned");
    expect((await post(lines("mine", 30), "?mode=replace")).status).toBe(201);
    expect(svc.deps.settings.source()).toBe("default");
    expect(ids(svc)).toHaveLength(30);
    // Pinned settings are the operator's: a replace leaves them.
    const pin = await svc.request(
      "PUT",
      "/admin/settings",
      {
        pinned: true,
        settings: { k: 7, power: 1, shrinkage: 1, prior: "category", min_similarity: 0, min_support: 1 },
      },
      admin,
    );
    expect(pin.status).toBe(200);
    expect((await post(lines("again", 20), "?mode=replace")).status).toBe(201);
    expect(svc.deps.settings.source()).toBe("pinned");
  });
});
