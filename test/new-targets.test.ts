import { afterEach, describe, expect, it } from "vitest";
import { rng } from "../service/routing/crossval.ts";
import {
  ADMIN_TOKEN,
  type ErrorBody,
  FEEDBACK_TOKEN,
  startService,
  type TestService,
} from "./support/harness.ts";

/** Word bags per topic: prompts of a topic embed near each other with the hash embedder. */
const WORDS: Record<string, string[]> = {
  sql: ["select", "join", "table", "index", "query", "rows", "schema", "sql", "where", "group"],
  poems: ["poem", "rhyme", "verse", "sonnet", "stanza", "haiku", "metre", "muse", "lyric", "ode"],
  tax: ["tax", "deduction", "invoice", "vat", "receipt", "audit", "income", "refund", "filing", "levy"],
  cooking: ["bake", "oven", "flour", "recipe", "sauce", "knead", "simmer", "pastry", "whisk", "yeast"],
  chess: ["chess", "opening", "gambit", "bishop", "rook", "castle", "endgame", "pawn", "knight", "mate"],
};

function prompt(topic: string, next: () => number): string {
  const vocab = WORDS[topic] as string[];
  return Array.from({ length: 8 }, () => vocab[Math.floor(next() * vocab.length)]).join(" ");
}

/** `perTopic` examples of each topic; on each, `best[topic]` scores 0.85 and the others 0.45 (with noise). */
function examples(topics: string[], best: Record<string, string>, perTopic: number, seed: number) {
  const next = rng(seed);
  const models = [...new Set(Object.values(best))];
  return topics.flatMap((topic) =>
    Array.from({ length: perTopic }, () => ({
      text: prompt(topic, next),
      category: topic,
      scores: Object.fromEntries(
        models.map((m) => [
          m,
          Math.round(((m === best[topic] ? 0.85 : 0.45) + (next() - 0.5) * 0.1) * 100) / 100,
        ]),
      ),
    })),
  );
}

const feedback = (svc: TestService, body: unknown) =>
  svc.request("POST", "/feedback", body, { headers: { authorization: `Bearer ${FEEDBACK_TOKEN}` } });

interface Answer {
  scores: Array<{ target: string; score: number; support: number }>;
  recommended?: string | null;
  exploration?: { explored: boolean; propensity: number; trial: boolean };
  ranking_id: string;
  fallback: boolean;
}

describe("small data: the neighbours decide from the first examples", () => {
  let svc: TestService | undefined;
  afterEach(async () => {
    await svc?.close();
    svc = undefined;
  });

  it("30 examples, 3 topics, 3 models, nothing pinned: each topic's held-out prompts go to its model", async () => {
    const best = { sql: "acme-sql-7b", poems: "bard-lite", tax: "ledger-pro" };
    svc = await startService({ TUNE_DELAY_MS: "0", TUNE_MIN_INTERVAL_MS: "0" }, { selfTuning: true });
    expect((await svc.addExamples(examples(Object.keys(best), best, 10, 1))).status).toBe(201);
    const held = rng(99);
    const check = async () => {
      for (const [topic, model] of Object.entries(best)) {
        for (let i = 0; i < 5; i++) {
          const r = (await svc?.request("POST", "/rank", { query: prompt(topic, held) })) as Response;
          const body = (await r.json()) as Answer;
          expect(body.fallback).toBe(false);
          expect(body.scores[0]?.target, `${topic} prompt ${i}`).toBe(model);
        }
      }
    };
    // The defaults for 30 examples, then what self-tuning chose on them (leave-one-out).
    const before = (await (
      await svc.request("GET", "/admin/settings", undefined, { admin: true })
    ).json()) as {
      settings: { k: number; shrinkage: number };
      source: string;
    };
    expect(before.settings.shrinkage).toBeLessThan(1000);
    await check();
    let after: { source: string; tuning: string; warning: string | null } | undefined;
    for (let i = 0; i < 300; i++) {
      after = (await (
        await svc.request("GET", "/admin/settings", undefined, { admin: true })
      ).json()) as typeof after;
      if (after?.source === "tuned" && after.tuning === "idle") break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(after?.source).toBe("tuned");
    expect(after?.warning).toBeNull();
    await check();
  });

  it("says why it cannot tune, and what to do, when there are too few examples", async () => {
    svc = await startService({ TUNING: "off" }, { selfTuning: true });
    await svc.addExamples(examples(["sql"], { sql: "a", x: "b" }, 4, 2));
    const status = (await (
      await svc.request("GET", "/admin/settings", undefined, { admin: true })
    ).json()) as {
      warning: string;
    };
    expect(status.warning).toMatch(/at least 10 labelled examples and there are 4: add examples/);
    const tune = await svc.request("POST", "/admin/settings/tune", undefined, { admin: true });
    expect(tune.status).toBe(409);
    expect(((await tune.json()) as ErrorBody).error.details?.[0]?.path).toBe("examples");
  });
});

describe("a new target earns its place from its first outcomes", () => {
  let svc: TestService | undefined;
  afterEach(async () => {
    await svc?.close();
    svc = undefined;
  });

  it("is tried on a guaranteed share of each region until it has enough outcomes there, its propensity exact", async () => {
    const best = { sql: "acme-sql-7b", poems: "bard-lite" };
    svc = await startService(
      { FEEDBACK_TOKEN, TRIAL_SHARE: "0.3", TRIAL_OUTCOMES: "3", EXPLORATION_SHARE: "0" },
      { random: rng(5) },
    );
    await svc.addExamples(examples(Object.keys(best), best, 10, 3));
    const put = await svc.request("PUT", "/admin/targets/newcomer", { enabled: true }, { admin: true });
    expect(put.status).toBe(201);
    const next = rng(11);
    const rank = async (topic: string) =>
      (await (
        await (svc as TestService).request("POST", "/rank", { query: prompt(topic, next) })
      ).json()) as Answer;
    // On sql prompts, 30% recommend the newcomer, each as a trial with propensity 0.3.
    const n = 400;
    let tried = 0;
    for (let i = 0; i < n; i++) {
      const a = await rank("sql");
      if (a.recommended === "newcomer") {
        tried++;
        expect(a.exploration).toMatchObject({ trial: true, explored: true });
        expect(a.exploration?.propensity).toBeCloseTo(0.3, 4);
      } else {
        expect(a.exploration?.propensity).toBeCloseTo(0.7, 4);
      }
    }
    const z = (tried - n * 0.3) / Math.sqrt(n * 0.3 * 0.7);
    expect(Math.abs(z)).toBeLessThan(4);
    // Three outcomes on sql prompts end its trial there (and only there).
    let reported = 0;
    while (reported < 3) {
      const a = await rank("sql");
      if (a.recommended !== "newcomer") continue;
      expect((await feedback(svc, { ranking_id: a.ranking_id, target: "newcomer", score: 0.5 })).status).toBe(
        200,
      );
      reported++;
    }
    for (let i = 0; i < 60; i++) expect((await rank("sql")).exploration?.trial ?? false).toBe(false);
    let poems = 0;
    for (let i = 0; i < 60; i++) if ((await rank("poems")).exploration?.trial) poems++;
    expect(poems).toBeGreaterThan(5);
  });

  it("30 examples, 3 topics, 3 models: a new model 0.12 better on one topic comes first there from the outcomes of what /rank recommends", async () => {
    const best = { sql: "acme-sql-7b", poems: "bard-lite", tax: "ledger-pro" };
    svc = await startService(
      { FEEDBACK_TOKEN, EXPLORATION_SHARE: "0.1", TUNING: "off" },
      { selfTuning: true, random: rng(7) },
    );
    await svc.addExamples(examples(Object.keys(best), best, 10, 4));
    await svc.request("PUT", "/admin/targets/sql-wizard", { enabled: true }, { admin: true });
    // The truth: sql-wizard scores 0.97 on sql (0.12 above acme), 0.3 elsewhere; the others as in the examples.
    const truth = (topic: string, target: string) =>
      target === "sql-wizard"
        ? topic === "sql"
          ? 0.97
          : 0.3
        : target === best[topic as keyof typeof best]
          ? 0.85
          : 0.45;
    const next = rng(12);
    const topics = Object.keys(best);
    const heldOut = Object.fromEntries(
      topics.map((t) => [t, Array.from({ length: 5 }, () => prompt(t, rng(98 + t.length)))]),
    );
    const firstOn = async (topic: string) => {
      const tops = [];
      for (const query of heldOut[topic] as string[]) {
        const r = (await (await (svc as TestService).request("POST", "/rank", { query })).json()) as Answer;
        tops.push(r.scores[0]?.target);
      }
      return tops;
    };
    // Before a single outcome: the incumbents everywhere.
    for (const topic of topics)
      expect(new Set(await firstOn(topic))).toEqual(new Set([best[topic as keyof typeof best]]));
    // Outcomes of whatever /rank recommends, a topic at a time in turn, until sql's held-out prompts go
    // to the new model (the new user waited 145 outcomes for one of them, and 1,310 with tuning).
    let outcomes = 0;
    let learned: number | undefined;
    while (outcomes < 145 && learned === undefined) {
      const topic = topics[outcomes % topics.length] as string;
      const a = (await (await svc.request("POST", "/rank", { query: prompt(topic, next) })).json()) as Answer;
      const called = a.recommended ?? (a.scores[0]?.target as string);
      const res = await feedback(svc, {
        ranking_id: a.ranking_id,
        target: called,
        score: truth(topic, called),
      });
      expect(res.status).toBe(200);
      outcomes++;
      if (outcomes % 15 === 0 && (await firstOn("sql")).every((t) => t === "sql-wizard")) learned = outcomes;
    }
    expect(learned, "outcomes until every held-out sql prompt went to the new model").toBeDefined();
    expect(learned as number).toBeLessThan(145);
    // And the other topics' prompts still go to their own models.
    for (const topic of ["poems", "tax"]) {
      expect(new Set(await firstOn(topic))).toEqual(new Set([best[topic as keyof typeof best]]));
    }
  });
});

describe("a new target's quiz", () => {
  let svc: TestService | undefined;
  afterEach(async () => {
    await svc?.close();
    svc = undefined;
  });

  it("covers the example space: one prompt a topic, each importable as it is once scored", async () => {
    const topics = Object.keys(WORDS);
    const best = Object.fromEntries(topics.map((t) => [t, "old"]));
    svc = await startService();
    await svc.addExamples(examples(topics, { ...best, sql: "other" }, 8, 5));
    expect(
      (await svc.request("PUT", "/admin/targets/newcomer", { enabled: true }, { admin: true })).status,
    ).toBe(201);
    const quiz = (await (
      await svc.request("GET", "/admin/targets/newcomer/quiz?n=5", undefined, { admin: true })
    ).json()) as {
      quiz: Array<{ id: string; text: string; category: string; scores: Record<string, number> }>;
    };
    expect(quiz.quiz).toHaveLength(5);
    expect(new Set(quiz.quiz.map((q) => q.category))).toEqual(new Set(topics));
    for (const q of quiz.quiz) expect(q.scores).not.toHaveProperty("newcomer");
    // The JSONL form: the newcomer's score null, the others as stored; filled in, it imports as it is.
    const jsonl = await (
      await svc.request("GET", "/admin/targets/newcomer/quiz?n=5&format=jsonl", undefined, { admin: true })
    ).text();
    const lines = jsonl
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { id: string; scores: Record<string, number | null> });
    expect(lines.map((l) => l.id).sort()).toEqual(quiz.quiz.map((q) => q.id).sort());
    for (const l of lines) expect(l.scores.newcomer).toBeNull();
    const scored = lines
      .map((l) => JSON.stringify({ ...l, scores: { ...l.scores, newcomer: 0.9 } }))
      .join("\n");
    const imported = await svc.app.request("/admin/import", {
      method: "POST",
      body: scored,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/x-ndjson" },
    });
    expect(imported.status).toBe(201);
    for (const q of quiz.quiz) {
      expect(svc.deps.stores.examples.get(q.id)?.scores).toEqual({ ...q.scores, newcomer: 0.9 });
    }
    // Quizzed already: the next quiz leaves those prompts out.
    const again = (await (
      await svc.request("GET", "/admin/targets/newcomer/quiz?n=5", undefined, { admin: true })
    ).json()) as {
      quiz: Array<{ id: string }>;
    };
    for (const q of again.quiz) expect(quiz.quiz.map((x) => x.id)).not.toContain(q.id);
  });

  it("refuses an unknown target and bad sizes", async () => {
    svc = await startService();
    const missing = await svc.request("GET", "/admin/targets/nobody/quiz", undefined, { admin: true });
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as ErrorBody).error.code).toBe("NOT_FOUND");
    for (const n of ["0", "501", "x"]) {
      const bad = await svc.request("GET", `/admin/targets/nobody/quiz?n=${n}`, undefined, { admin: true });
      expect(bad.status).toBe(400);
    }
    expect((await svc.request("GET", "/admin/targets/nobody/quiz")).status).toBe(401);
  });
});
