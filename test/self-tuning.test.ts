import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  ADMIN_TOKEN,
  type ErrorBody,
  priceTargets,
  startService,
  type TestService,
  tempDir,
} from "./support/harness.ts";

interface Status {
  settings: {
    k: number;
    power: number;
    shrinkage: number;
    prior: string;
    min_similarity: number;
    min_support: number;
  };
  source: string;
  tuned_at: string | null;
  examples: number | null;
  changes_since: number;
  evaluation: { metric: string; value: number; baselines: Record<string, number>; curves?: unknown } | null;
  tuning: string;
  last_run: { outcome: string | null; finished_at: string | null } | null;
  warning: string | null;
}

const TOPICS = ["python code", "french poetry", "tax law", "baking bread", "chess openings", "jazz piano"];
const TARGETS = ["big", "mid", "small"];

/** Examples on separate topics; on each topic one target does well (the neighbours carry signal). */
function labelled(n: number, offset = 0) {
  return Array.from({ length: n }, (_, j) => {
    const i = j + offset;
    const topic = TOPICS[i % TOPICS.length] as string;
    const good = TARGETS[i % TARGETS.length] as string;
    const scores = Object.fromEntries(TARGETS.map((t) => [t, t === good ? 0.9 : 0.2 + ((i * 7) % 10) / 50]));
    return { text: `question ${i} about ${topic}: ${topic} details ${i % 5}`, scores };
  });
}

const FAST = { TUNE_DELAY_MS: "0", TUNE_MIN_INTERVAL_MS: "0", TUNE_CHANGE_COUNT: "10" };

async function settled(svc: TestService): Promise<Status> {
  for (let i = 0; i < 300; i++) {
    const s = (await (
      await svc.request("GET", "/admin/settings", undefined, { admin: true })
    ).json()) as Status;
    if (s.tuning === "idle") return s;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("tuning did not finish in 15 s");
}

const status = async (svc: TestService) =>
  (await (await svc.request("GET", "/admin/settings", undefined, { admin: true })).json()) as Status;

describe("self-tuning in the service", () => {
  let svc: TestService | undefined;
  afterEach(async () => {
    await svc?.close();
    svc = undefined;
  });

  it("starts on the defaults for a few examples, tunes itself once examples arrive, and says so", async () => {
    svc = await startService(FAST, { selfTuning: true });
    const fresh = await status(svc);
    expect(fresh).toMatchObject({ source: "default", tuning: "idle", evaluation: null, last_run: null });
    // Few examples: the neighbours decide (a small k, a shrinkage of one label's worth).
    expect(fresh.settings).toMatchObject({ k: 5, shrinkage: 1, prior: "category" });
    expect(fresh.warning).toMatch(/at least 10 labelled examples and there are 0: add examples/);

    expect((await svc.addExamples(labelled(90))).status).toBe(201);
    expect(["scheduled", "running"]).toContain((await status(svc)).tuning);
    const tuned = await settled(svc);
    expect(tuned.source).toBe("tuned");
    expect(tuned.examples).toBe(90);
    expect(tuned.changes_since).toBe(0);
    expect(tuned.last_run?.outcome).toBe("replaced");
    expect(tuned.evaluation?.metric).toBe("score_fit");
    expect(tuned.evaluation?.value).toBeGreaterThan(tuned.evaluation?.baselines.priorOnly as number);
    // The tuned settings use the neighbours: a poetry prompt goes to poetry's good target.
    expect(tuned.settings.shrinkage).toBeLessThan(1000);
    const ranked = await svc.rank({ query: "question about french poetry: french poetry details 1" });
    expect(ranked.body.scores[0]?.target).toBe("mid");
    const metrics = await (await svc.request("GET", "/metrics")).text();
    expect(metrics).toContain('router_tuning_runs_total{outcome="replaced"} 1');
  });

  it("with prices, tunes on the cost-quality curve and reports the best single model beside it", async () => {
    svc = await startService(FAST, { selfTuning: true });
    await svc.addExamples(labelled(12));
    await priceTargets(svc, { big: 10, mid: 3, small: 0.5 });
    await svc.addExamples(labelled(78, 12));
    const tuned = await settled(svc);
    expect(tuned.evaluation?.metric).toBe("aiq");
    expect(tuned.evaluation?.value).toBeGreaterThanOrEqual(tuned.evaluation?.baselines.bestSingle as number);
    expect(tuned.evaluation?.curves).toBeDefined();
  });

  it("pins by hand, refuses to tune pinned settings, and unpins back to tuning", async () => {
    svc = await startService(FAST, { selfTuning: true });
    const pinned = { k: 7, power: 2, shrinkage: 3, prior: "category", min_similarity: 0.1, min_support: 2 };
    const put = await svc.request(
      "PUT",
      "/admin/settings",
      { pinned: true, settings: pinned },
      { admin: true },
    );
    expect(put.status).toBe(200);
    expect(((await put.json()) as Status).source).toBe("pinned");
    await svc.addExamples(labelled(60));
    expect((await status(svc)).tuning).toBe("idle");
    expect((await status(svc)).settings).toEqual(pinned);
    const tune = await svc.request("POST", "/admin/settings/tune", undefined, { admin: true });
    expect(tune.status).toBe(409);
    expect(((await tune.json()) as ErrorBody).error.code).toBe("CONFLICT");
    // The pinned k is what /rank uses.
    expect((await svc.rank({ query: "tax law question" })).body.k).toBe(7);

    const unpin = await svc.request("PUT", "/admin/settings", { pinned: false }, { admin: true });
    expect(unpin.status).toBe(200);
    expect(((await unpin.json()) as Status).source).toBe("default");
    expect((await settled(svc)).source).toBe("tuned");
  });

  it("POST /admin/settings/tune starts a run now; too few examples is a 409", async () => {
    svc = await startService({ TUNING: "off" }, { selfTuning: true });
    await svc.addExamples(labelled(6));
    const few = await svc.request("POST", "/admin/settings/tune", undefined, { admin: true });
    expect(few.status).toBe(409);
    const refused = (await few.json()) as ErrorBody;
    expect(refused.error.message).toContain("at least 10 labelled examples and there are 6");
    expect(refused.error.message).toContain("POST /admin/import");
    expect(refused.error.details?.[0]?.path).toBe("examples");
    await svc.addExamples(labelled(14, 6));
    expect((await status(svc)).warning).toBeNull();
    // TUNING=off: nothing runs by itself.
    expect((await status(svc)).tuning).toBe("idle");
    const res = await svc.request("POST", "/admin/settings/tune", undefined, { admin: true });
    expect(res.status).toBe(202);
    expect(((await res.json()) as Status).tuning).toBe("running");
    expect((await settled(svc)).last_run?.outcome).toMatch(/replaced|kept/);
  });

  it.each([
    [{ pinned: true }, "settings"],
    [{ pinned: false, settings: {} }, "settings"],
    [
      {
        pinned: true,
        settings: { k: 5, power: 1, shrinkage: 0, prior: "category", min_similarity: 0, min_support: 9 },
      },
      "min_support",
    ],
    [
      {
        pinned: true,
        settings: { k: 0, power: 1, shrinkage: 0, prior: "category", min_similarity: 0, min_support: 1 },
      },
      "k",
    ],
    [{ pinned: "yes" }, "pinned"],
    [{ pinned: false, extra: 1 }, "extra"],
  ])("refuses %j with a 400 naming the field, changing nothing", async (body, field) => {
    svc = await startService(FAST, { selfTuning: true });
    const res = await svc.request("PUT", "/admin/settings", body, { admin: true });
    expect(res.status).toBe(400);
    expect(JSON.stringify(await res.json())).toContain(field);
    expect((await status(svc)).source).toBe("default");
  });

  it("keeps tuned settings across a restart, and tunes at start when examples changed while down", async () => {
    const tmp = tempDir();
    const env = { ...FAST, DATABASE_PATH: join(tmp.dir, "t.db") };
    svc = await startService(env, { selfTuning: true });
    await svc.addExamples(labelled(60));
    const first = await settled(svc);
    await svc.close();

    svc = await startService({ ...env, TUNING: "off" }, { selfTuning: true });
    expect(await status(svc)).toMatchObject({
      source: "tuned",
      settings: first.settings,
      tuned_at: first.tuned_at,
    });
    await svc.addExamples(labelled(30, 60));
    expect((await status(svc)).changes_since).toBe(30);
    await svc.close();

    svc = await startService(env, { selfTuning: true });
    expect(["scheduled", "running"]).toContain((await status(svc)).tuning);
    const again = await settled(svc);
    expect(again.examples).toBe(90);
    expect(again.tuned_at).not.toBe(first.tuned_at);
    await svc.close();
    svc = undefined;
    tmp.remove();
  });

  it("a ROUTING_SETTINGS file pins the settings while it is configured", async () => {
    svc = await startService({}, {});
    const s = await status(svc);
    expect(s.source).toBe("file");
    const put = await svc.request("PUT", "/admin/settings", { pinned: false }, { admin: true });
    expect(put.status).toBe(409);
    expect(((await put.json()) as ErrorBody).error.message).toContain("ROUTING_SETTINGS");
  });

  it("requires the admin token", async () => {
    svc = await startService(FAST, { selfTuning: true });
    const res = await svc.app.request("/admin/settings", {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}x` },
    });
    expect(res.status).toBe(401);
  });
});
