import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  type ErrorBody,
  FEEDBACK_TOKEN,
  type RankBody,
  SPLIT_EXAMPLES,
  startService,
  type TestService,
  TOPICS,
  tempDir,
} from "./support/harness.ts";

const EXAMPLES = SPLIT_EXAMPLES;

interface Ranked extends RankBody {
  ranking_id: string;
}
interface Pending {
  outcomes: Array<Record<string, unknown>>;
  counts: { accepted: number; pending: number; rejected: number };
}

describe("FEEDBACK_REVIEW: outcomes wait for an operator", () => {
  let svc: TestService | undefined;
  let tmp: ReturnType<typeof tempDir> | undefined;
  afterEach(async () => {
    await svc?.close();
    svc = undefined;
    tmp?.remove();
    tmp = undefined;
  });
  const feedback = (s: TestService, body: unknown) =>
    s.request("POST", "/feedback", body, { headers: { authorization: `Bearer ${FEEDBACK_TOKEN}` } });
  const admin = (s: TestService, method: string, path: string) =>
    s.request(method, path, undefined, { admin: true });
  const pending = async (s: TestService) =>
    (await (await admin(s, "GET", "/admin/feedback/pending")).json()) as Pending;

  it("holds outcomes as pending (no effect on /rank) across a restart, until accepted or rejected", async () => {
    tmp = tempDir();
    const env = { FEEDBACK_TOKEN, FEEDBACK_REVIEW: "true", DATABASE_PATH: join(tmp.dir, "router.db") };
    svc = await startService(env);
    await svc.addExamples(EXAMPLES);
    const prompt = "write a limerick about a sorting algorithm";
    const first = (await svc.rank({ query: prompt, k: 3 })).body as Ranked;
    const second = (await svc.rank({ query: "sort a list in python", k: 3 })).body as Ranked;
    const before = (await svc.rank({ query: prompt, k: 3 })).body as Ranked;

    const res = await feedback(svc, { ranking_id: first.ranking_id, target: "big", score: 1 });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: "pending", indexed: false });
    expect(
      (await feedback(svc, { ranking_id: first.ranking_id, preferred: "big", over: "small" })).status,
    ).toBe(200);
    expect((await feedback(svc, { ranking_id: second.ranking_id, target: "small", score: 0 })).status).toBe(
      200,
    );
    // Nothing reaches /rank while pending.
    expect(svc.deps.stores.examples.get(`feedback-${first.ranking_id}`)).toBeUndefined();
    const during = (await svc.rank({ query: prompt, k: 3 })).body as Ranked;
    expect(during.scores).toEqual(before.scores);

    await svc.close();
    svc = await startService(env);
    const listed = await pending(svc);
    expect(listed.counts).toEqual({ accepted: 0, pending: 3, rejected: 0 });
    expect(listed.outcomes).toEqual([
      expect.objectContaining({ ranking_id: first.ranking_id, query: prompt, target: "big", score: 1 }),
      expect.objectContaining({ ranking_id: first.ranking_id, preferred: "big", over: "small", tie: false }),
      expect.objectContaining({ ranking_id: second.ranking_id, target: "small", score: 0 }),
    ]);

    const accepted = await admin(svc, "POST", `/admin/feedback/${first.ranking_id}/accept`);
    expect(accepted.status).toBe(200);
    expect(await accepted.json()).toMatchObject({ outcomes: 2, example_id: `feedback-${first.ranking_id}` });
    // Read against what the router predicted there for the other target it knew.
    const predicted = svc.deps.stores.feedback.ranking(first.ranking_id)?.predictions.small;
    expect(predicted).toBeTypeOf("number");
    expect(
      svc.deps.stores.examples.evidence([`feedback-${first.ranking_id}`]).get(`feedback-${first.ranking_id}`),
    ).toEqual({
      category: null,
      scores: { big: 1 },
      // An outcome counts half a label (FEEDBACK_OUTCOME_WEIGHT's default).
      weights: { big: 0.5 },
      preferences: [["big", "small", 1, 1]],
      baselines: { big: predicted },
    });
    const rejected = await admin(svc, "POST", `/admin/feedback/${second.ranking_id}/reject`);
    expect(rejected.status).toBe(200);
    expect(await rejected.json()).toMatchObject({ outcomes: 1, example_id: null });
    expect(svc.deps.stores.examples.get(`feedback-${second.ranking_id}`)).toBeUndefined();
    expect((await pending(svc)).counts).toEqual({ accepted: 2, pending: 0, rejected: 1 });

    // Decided already: nothing pending for it.
    const again = await admin(svc, "POST", `/admin/feedback/${second.ranking_id}/accept`);
    expect(again.status).toBe(404);
    expect(((await again.json()) as ErrorBody).error.code).toBe("NOT_FOUND");
    const bad = await admin(svc, "POST", `/admin/feedback/${second.ranking_id}/approve`);
    expect(bad.status).toBe(400);
    expect((await admin(svc, "GET", "/admin/feedback/pending?limit=0")).status).toBe(400);
    expect((await svc.request("GET", "/admin/feedback/pending")).status).toBe(401);
  });

  it("keeps an accepted outcome when a replacement of it is rejected", async () => {
    svc = await startService({ FEEDBACK_TOKEN, FEEDBACK_REVIEW: "true" });
    await svc.addExamples(EXAMPLES);
    const ranking = (await svc.rank({ query: "write a limerick about a sorting algorithm", k: 3 }))
      .body as Ranked;
    const decide = (decision: string) =>
      admin(svc as TestService, "POST", `/admin/feedback/${ranking.ranking_id}/${decision}`);
    const example = () => svc?.deps.stores.examples.get(`feedback-${ranking.ranking_id}`)?.scores;

    expect((await feedback(svc, { ranking_id: ranking.ranking_id, target: "big", score: 1 })).status).toBe(
      200,
    );
    expect((await decide("accept")).status).toBe(200);
    expect(example()).toEqual({ big: 1 });
    // A replacement waits beside the accepted score; rejected, the accepted one stays as it was.
    expect((await feedback(svc, { ranking_id: ranking.ranking_id, target: "big", score: 0 })).status).toBe(
      200,
    );
    expect(example()).toEqual({ big: 1 });
    expect((await decide("reject")).status).toBe(200);
    expect(example()).toEqual({ big: 1 });
    expect(
      (await feedback(svc, { ranking_id: ranking.ranking_id, target: "small", score: 0.5 })).status,
    ).toBe(200);
    expect((await decide("accept")).status).toBe(200);
    expect(example()).toEqual({ big: 1, small: 0.5 });
    // A replacement accepted does replace: the accepted score is the new one, once.
    expect((await feedback(svc, { ranking_id: ranking.ranking_id, target: "big", score: 0.25 })).status).toBe(
      200,
    );
    expect((await decide("accept")).status).toBe(200);
    expect(example()).toEqual({ big: 0.25, small: 0.5 });
    expect((await pending(svc)).counts).toEqual({ accepted: 2, pending: 0, rejected: 1 });
  });

  it("keeps a ranking with pending outcomes past the window, so it can still be accepted", async () => {
    svc = await startService({ FEEDBACK_TOKEN, FEEDBACK_REVIEW: "true" });
    await svc.addExamples(EXAMPLES);
    const waiting = (await svc.rank({ query: "a poem about the sea", k: 3 })).body as Ranked;
    const idle = (await svc.rank({ query: "sort a list in python", k: 3 })).body as Ranked;
    const decided = (await svc.rank({ query: "a haiku about rust", k: 3 })).body as Ranked;
    expect((await feedback(svc, { ranking_id: waiting.ranking_id, target: "small", score: 1 })).status).toBe(
      200,
    );
    expect((await feedback(svc, { ranking_id: decided.ranking_id, target: "big", score: 0 })).status).toBe(
      200,
    );
    expect((await admin(svc, "POST", `/admin/feedback/${decided.ranking_id}/accept`)).status).toBe(200);
    svc.deps.feedback?.flush();
    const gone = svc.deps.stores.feedback.prune(new Date(Date.now() + 60_000), 1_000_000);
    expect(gone).toBe(2);
    expect(svc.deps.stores.feedback.ranking(idle.ranking_id)).toBeUndefined();
    // The decided ranking's outcome went with it; what it taught stays in its example.
    expect(svc.deps.stores.feedback.counts()).toEqual({ accepted: 0, pending: 1, rejected: 0 });
    expect(svc.deps.stores.examples.get(`feedback-${decided.ranking_id}`)?.scores).toEqual({ big: 0 });
    expect((await admin(svc, "POST", `/admin/feedback/${waiting.ranking_id}/accept`)).status).toBe(200);
    expect(svc.deps.stores.examples.get(`feedback-${waiting.ranking_id}`)?.scores).toEqual({ small: 1 });
  });

  it("keeps at most FEEDBACK_MAX_BYTES of prompts: the oldest rankings go first", async () => {
    svc = await startService({ FEEDBACK_TOKEN });
    const kept = [];
    for (const word of ["first", "second", "third"]) {
      kept.push((await svc.rank({ query: `${word} ${"x".repeat(1000)}`, k: 1 })).body as Ranked);
      svc.deps.feedback?.flush();
      await new Promise((r) => setTimeout(r, 5));
    }
    // Each ranking holds about 1,000 bytes of prompt: 2,500 bytes keep the two newest.
    const gone = svc.deps.stores.feedback.prune(new Date(0), 1_000_000, 2500);
    expect(gone).toBe(1);
    expect(kept.map((r) => svc?.deps.stores.feedback.ranking(r.ranking_id) !== undefined)).toEqual([
      false,
      true,
      true,
    ]);
  });

  it("counts accepted outcomes per target over time", async () => {
    svc = await startService({ FEEDBACK_TOKEN });
    await svc.addExamples(EXAMPLES);
    for (const query of ["a poem about the sea", "sort a list in python"]) {
      const r = (await svc.rank({ query, k: 3 })).body as Ranked;
      expect((await feedback(svc, { ranking_id: r.ranking_id, target: "small", score: 1 })).status).toBe(200);
      expect(
        (await feedback(svc, { ranking_id: r.ranking_id, preferred: "big", over: "small" })).status,
      ).toBe(200);
    }
    const res = await admin(svc, "GET", "/admin/feedback/arrivals?hours=1&bucket_minutes=60");
    expect(res.status).toBe(200);
    const { buckets } = (await res.json()) as {
      buckets: Array<{ start: string; target: string; outcomes: number }>;
    };
    // Hour buckets: each starts on the hour, and the outcomes of the last second fill at most two a target.
    for (const b of buckets) expect(Date.parse(b.start) % 3_600_000).toBe(0);
    expect(buckets.filter((b) => b.target === "small").length).toBeLessThanOrEqual(2);
    const total = (t: string) => buckets.filter((b) => b.target === t).reduce((s, b) => s + b.outcomes, 0);
    expect(total("small")).toBe(4);
    expect(total("big")).toBe(2);
  });
});

describe("the label queue: what to label next", () => {
  let svc: TestService | undefined;
  afterEach(async () => {
    await svc?.close();
    svc = undefined;
  });

  it("lists unsure rankings least sure first with why, leaves out labelled ones, and exports import lines", async () => {
    svc = await startService({ FEEDBACK_TOKEN });
    await svc.addExamples([
      ...EXAMPLES,
      // A near tie on cooking prompts.
      { text: "how long to boil an egg", scores: { big: 0.6, small: 0.595 } },
      { text: "how long to roast a chicken", scores: { big: 0.6, small: 0.595 } },
    ]);
    const sure = (await svc.rank({ query: TOPICS.code[0], k: 3 })).body as Ranked;
    const thin = (await svc.rank({ query: "sort a list in python", k: 1 })).body as Ranked;
    const tie = (await svc.rank({ query: "how long to boil an egg", k: 2 })).body as Ranked;
    const labelled = (await svc.rank({ query: "how long to roast a chicken", k: 2 })).body as Ranked;
    expect(
      (
        await svc.request(
          "POST",
          "/feedback",
          { ranking_id: labelled.ranking_id, target: "big", score: 1 },
          { headers: { authorization: `Bearer ${FEEDBACK_TOKEN}` } },
        )
      ).status,
    ).toBe(200);

    const res = await svc.request("GET", "/admin/label-queue", undefined, { admin: true });
    expect(res.status).toBe(200);
    const { queue } = (await res.json()) as {
      queue: Array<{
        ranking_id: string;
        uncertainty: number;
        why: string[];
        targets: string[];
        query: string;
      }>;
    };
    const ids = queue.map((q) => q.ranking_id);
    expect(ids).not.toContain(sure.ranking_id);
    expect(ids).not.toContain(labelled.ranking_id);
    expect(ids).toContain(thin.ranking_id);
    expect(ids).toContain(tie.ranking_id);
    const entry = (id: string) => queue.find((q) => q.ranking_id === id);
    expect(entry(thin.ranking_id)?.why.join(" ")).toMatch(/thin support: 1 neighbours/);
    expect(entry(tie.ranking_id)?.why.join(" ")).toMatch(/near tie: big 0\.600 against small 0\.595/);
    const order = queue.map((q) => q.uncertainty);
    expect(order).toEqual([...order].sort((a, b) => b - a));

    const jsonl = await svc.request("GET", "/admin/label-queue?format=jsonl", undefined, { admin: true });
    expect(jsonl.status).toBe(200);
    expect(jsonl.headers.get("content-type")).toContain("application/x-ndjson");
    const lines = (await jsonl.text())
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { text: string; scores: Record<string, number | null> });
    expect(lines.map((l) => l.text)).toEqual(queue.map((q) => q.query));
    expect(lines[0]?.scores).toEqual({ big: null, small: null });

    // Labelled offline and imported back: the prompts become examples.
    const filled = lines
      .map((l) => JSON.stringify({ text: l.text, scores: { big: 0.5, small: 0.7 } }))
      .join("\n");
    const imported = await svc.request("POST", "/admin/import", filled, {
      admin: true,
      headers: { "content-type": "application/x-ndjson" },
    });
    expect(imported.status).toBe(201);
    expect(await imported.json()).toMatchObject({ imported: lines.length });
  });

  it("is refused while feedback is off, and for bad parameters", async () => {
    svc = await startService();
    const off = await svc.request("GET", "/admin/label-queue", undefined, { admin: true });
    expect(off.status).toBe(503);
    expect(((await off.json()) as ErrorBody).error.code).toBe("FEEDBACK_DISABLED");
    await svc.close();
    svc = await startService({ FEEDBACK_TOKEN });
    const bad = await svc.request("GET", "/admin/label-queue?format=csv", undefined, { admin: true });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as ErrorBody).error.code).toBe("VALIDATION_FAILED");
  });
});
