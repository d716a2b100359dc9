import { afterEach, describe, expect, it } from "vitest";
import type { TuningPolicy } from "../service/config.ts";
import type { TuneResult } from "../service/routing/tuning.ts";
import { callsForRun, outgrown, runAt } from "../service/tuning/schedule.ts";
import { runInWorker, type TuningInput, type TuningRunner } from "../service/tuning/worker.ts";
import { startService, type TestService } from "./support/harness.ts";

const POLICY: TuningPolicy = {
  auto: true,
  changeShare: 0.1,
  changeCount: 1000,
  minIntervalMs: 600_000,
  delayMs: 5_000,
  maxWaitMs: 60_000,
  templates: true,
};

describe("the tuning schedule (pure)", () => {
  it("calls for a run once enough changed since the settings in force were tuned", () => {
    const never = { examples: 100, changed: 100, tunedOn: undefined };
    expect(callsForRun(POLICY, never, 30)).toBe(true);
    expect(callsForRun(POLICY, { ...never, examples: 20 }, 30)).toBe(false);
    expect(callsForRun(POLICY, { examples: 1000, changed: 99, tunedOn: 1000 }, 30)).toBe(false);
    expect(callsForRun(POLICY, { examples: 1100, changed: 100, tunedOn: 1000 }, 30)).toBe(true);
    expect(callsForRun(POLICY, { examples: 90_000, changed: 1000, tunedOn: 90_000 }, 30)).toBe(true);
    expect(callsForRun(POLICY, { examples: 1000, changed: 0, tunedOn: undefined }, 30)).toBe(false);
  });

  it("waits for a quiet period after the last write, at most maxWaitMs after the call", () => {
    const calledAt = 1_000_000;
    // Writes keep coming: the start moves with the last one...
    expect(runAt(POLICY, { calledAt, lastWriteAt: calledAt + 3_000, lastRunEndedAt: undefined }, true)).toBe(
      calledAt + 8_000,
    );
    // ... but no further than maxWaitMs from the call.
    expect(runAt(POLICY, { calledAt, lastWriteAt: calledAt + 59_000, lastRunEndedAt: undefined }, true)).toBe(
      calledAt + 60_000,
    );
  });

  it("keeps the minimum interval after a run, unless the data outgrew the settings in force", () => {
    const calledAt = 1_000_000;
    const times = { calledAt, lastWriteAt: calledAt, lastRunEndedAt: calledAt - 1_000 };
    expect(runAt(POLICY, times, false)).toBe(calledAt - 1_000 + 600_000);
    expect(runAt(POLICY, times, true)).toBe(calledAt + 5_000);
    expect(outgrown({ changed: 819, tunedOn: 200 })).toBe(true);
    expect(outgrown({ changed: 100, tunedOn: 1000 })).toBe(false);
    expect(outgrown({ changed: 100, tunedOn: undefined })).toBe(true);
  });
});

const TOPICS = ["python code", "french poetry", "tax law", "baking bread", "chess openings", "jazz piano"];
const TARGETS = ["big", "mid", "small"];

function labelled(n: number, offset: number, prefix = "", suffix = "") {
  return Array.from({ length: n }, (_, j) => {
    const i = j + offset;
    const topic = TOPICS[i % TOPICS.length] as string;
    const good = TARGETS[i % TARGETS.length] as string;
    const scores = Object.fromEntries(TARGETS.map((t) => [t, t === good ? 0.9 : 0.2 + ((i * 7) % 10) / 50]));
    return { text: `${prefix}question ${i} about ${topic}: ${topic} details ${i % 5}${suffix}`, scores };
  });
}

/** Imports `lines` through POST /admin/import, as an operator's batch would arrive. */
async function importBatch(svc: TestService, lines: ReturnType<typeof labelled>): Promise<void> {
  const body = lines.map((l) => JSON.stringify(l)).join("\n");
  const res = await svc.request("POST", "/admin/import", body, {
    admin: true,
    headers: { "content-type": "application/x-ndjson" },
  });
  expect(res.status).toBe(201);
}

/** A runner that records what each run was given and what it found, and can be held. */
class WatchedRunner {
  readonly calls: Array<{ examples: number; prices: Record<string, number>; metric?: string }> = [];
  private gate: Promise<void> | undefined;
  private open: (() => void) | undefined;
  /** Runs before each computation (after it was recorded). */
  before: (call: number) => Promise<void> = async () => undefined;

  hold(): void {
    this.gate = new Promise((r) => {
      this.open = r;
    });
  }

  release(): void {
    this.open?.();
    this.gate = undefined;
  }

  readonly run: TuningRunner = async (input: TuningInput): Promise<TuneResult> => {
    const call = {
      examples: input.items.length,
      prices: { ...input.prices },
    } as WatchedRunner["calls"][number];
    this.calls.push(call);
    await this.before(this.calls.length);
    await this.gate;
    const result = await runInWorker(input);
    call.metric = result.metric;
    return result;
  };

  async waitFor(n: number, ms = 20_000): Promise<void> {
    for (const end = Date.now() + ms; Date.now() < end; ) {
      if (this.calls.length >= n) return;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`expected ${n} tuning computations, saw ${this.calls.length}`);
  }
}

interface Status {
  tuning: string;
  examples: number | null;
  last_run: { outcome: string | null } | null;
  evaluation: { metric: string; templates?: { tried: boolean; value?: number } } | null;
}

const status = async (svc: TestService) =>
  (await (await svc.request("GET", "/admin/settings", undefined, { admin: true })).json()) as Status;

async function idle(svc: TestService): Promise<Status> {
  for (let i = 0; i < 600; i++) {
    const s = await status(svc);
    if (s.tuning === "idle" && s.last_run?.outcome) return s;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("tuning did not finish in 30 s");
}

describe("a schedule that follows the data", () => {
  let svc: TestService | undefined;
  afterEach(async () => {
    await svc?.close();
    svc = undefined;
  });

  it("waits out an import in batches, then tunes once on every example", async () => {
    const runner = new WatchedRunner();
    svc = await startService(
      { TUNE_DELAY_MS: "400", TUNE_MAX_WAIT_MS: "20000", TUNE_CHANGE_COUNT: "10", TUNE_TEMPLATES: "false" },
      { selfTuning: true, tuningRunner: runner.run },
    );
    for (let b = 0; b < 5; b++) {
      await importBatch(svc, labelled(60, b * 60));
      await new Promise((r) => setTimeout(r, 100));
    }
    await runner.waitFor(1);
    const s = await idle(svc);
    expect(runner.calls.map((c) => c.examples)).toEqual([300]);
    expect(s.examples).toBe(300);
  });

  it("follows a run promptly when the data outgrew it while it ran; otherwise keeps the minimum interval", async () => {
    const runner = new WatchedRunner();
    svc = await startService(
      {
        TUNE_DELAY_MS: "100",
        TUNE_CHANGE_COUNT: "10",
        TUNE_MIN_INTERVAL_MS: "600000",
        TUNE_TEMPLATES: "false",
      },
      { selfTuning: true, tuningRunner: runner.run },
    );
    runner.hold();
    await importBatch(svc, labelled(60, 0));
    await runner.waitFor(1);
    // While the first run (on 60) computes, the rest of the data arrives: 240 more.
    for (let b = 1; b < 5; b++) await importBatch(svc, labelled(60, b * 60));
    runner.release();
    await runner.waitFor(2);
    expect(runner.calls.map((c) => c.examples)).toEqual([60, 300]);
    expect((await idle(svc)).examples).toBe(300);

    // A change that calls for a run but leaves most of the data as tuned waits the interval out.
    await importBatch(svc, labelled(40, 300));
    await new Promise((r) => setTimeout(r, 1_000));
    expect((await status(svc)).tuning).toBe("scheduled");
    expect(runner.calls).toHaveLength(2);
  });

  it("does not retry a failed run before the minimum interval, even on data never tuned", async () => {
    let calls = 0;
    const failing: TuningRunner = async () => {
      calls++;
      throw new Error("the worker died");
    };
    svc = await startService(
      {
        TUNE_DELAY_MS: "50",
        TUNE_CHANGE_COUNT: "10",
        TUNE_MIN_INTERVAL_MS: "600000",
        TUNE_TEMPLATES: "false",
      },
      { selfTuning: true, tuningRunner: failing },
    );
    await importBatch(svc, labelled(60, 0));
    for (let i = 0; i < 200 && (await status(svc)).last_run?.outcome !== "failed"; i++)
      await new Promise((r) => setTimeout(r, 50));
    expect((await status(svc)).last_run?.outcome).toBe("failed");
    await new Promise((r) => setTimeout(r, 1_000));
    expect(calls).toBe(1);
    expect((await status(svc)).tuning).toBe("scheduled");
  });

  it("scores a template trial on the same examples, prices and metric as the settings it competes with", async () => {
    const runner = new WatchedRunner();
    const prefix =
      "You are an expert assistant. Read each example carefully before answering. Example one: the " +
      "capital of France is Paris. Now the question follows.\nQuestion: ";
    const suffix = "\nThink step by step and end with the line 'The answer is' followed by the answer alone.";
    svc = await startService(
      { TUNING: "off", EMBED_MAX_TOKENS: "32" },
      { selfTuning: true, tuningRunner: runner.run },
    );
    await importBatch(svc, labelled(90, 0, prefix, suffix));
    // The operator prices the targets while the run computes (as after an import in real use).
    const service = svc;
    runner.before = async (call) => {
      if (call !== 1) return;
      for (const [i, name] of TARGETS.entries()) {
        const price = { input_price_per_mtok: i + 1, output_price_per_mtok: i + 1 };
        const res = await service.request("PUT", `/admin/targets/${name}`, price, { admin: true });
        expect(res.status).toBe(200);
      }
    };
    const tune = await svc.request("POST", "/admin/settings/tune", undefined, { admin: true });
    expect(tune.status).toBe(202);
    const s = await idle(svc);
    expect(s.evaluation?.templates?.tried).toBe(true);
    const [main, trial] = runner.calls;
    expect(runner.calls).toHaveLength(2);
    expect(trial?.examples).toBe(main?.examples);
    expect(trial?.prices).toEqual(main?.prices);
    expect(main?.prices).toEqual({});
    expect(trial?.metric).toBe(main?.metric);
  });
});
