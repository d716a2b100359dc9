import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import { Worker } from "node:worker_threads";
import type { Embedder } from "../embedding/embedder.ts";
import { NO_TEMPLATES, sameTemplates, type Templates, templatesDigest } from "../embedding/templates.ts";
import { AppError } from "../errors.ts";
import { errorFields, type Logger } from "../logger.ts";
import type { Metrics } from "../metrics.ts";
import type { LabelledItem } from "../routing/crossval.ts";
import { MIN_TUNING_EXAMPLES, type RoutingChoice, SAFE_CHOICE, type TuneResult } from "../routing/tuning.ts";
import type { ExampleStore } from "../store/example-store.ts";
import type { SettingsStore, StoredSettings } from "../store/settings-store.ts";
import type { StateStore } from "../store/state-store.ts";
import type { ActiveEmbedding } from "./active-embedding.ts";
import type { TemplateSwitch } from "./template-switch.ts";

/** Where the settings in force come from. */
export type SettingsSource = "default" | "tuned" | "pinned" | "file";
export type TuningState = "idle" | "scheduled" | "running";

/** When the service re-tunes itself. */
export interface TuningPolicy {
  /** Tune in the background at all (TUNING=auto). Default true. */
  auto: boolean;
  /** Re-tune once this share of the examples tuned on has changed. Default 0.1. */
  changeShare: number;
  /** ... or once this many example writes and deletes happened. Default 1000. */
  changeCount: number;
  /** Least time between two runs, in ms. Default 600000 (10 minutes). */
  minIntervalMs: number;
  /** Wait after the change that calls for a run, so a burst of writes lands first, in ms. Default 5000. */
  delayMs: number;
  /** Learn shared prompt boilerplate as part of tuning, and switch to it when it ranks better. Default true. */
  templates: boolean;
}

export interface LastRun {
  startedAt: Date;
  finishedAt?: Date;
  /** replaced: better settings now in force; kept: the old ones stay (not beaten); failed. */
  outcome?: "replaced" | "kept" | "failed";
  message?: string;
}

/** What GET /admin/settings shows. */
export interface SettingsStatus {
  choice: RoutingChoice;
  source: SettingsSource;
  stored: StoredSettings | undefined;
  /** Example writes and deletes since the settings were tuned (all of them when never tuned). */
  changesSince: number;
  tuning: TuningState;
  lastRun: LastRun | undefined;
  /** The learned boilerplate stripped from prompts before they are embedded. */
  templates: Templates;
}

/** Runs one tuning computation (in a worker thread by default). */
export type TuningRunner = (input: {
  items: LabelledItem[];
  flat: Float32Array;
  dim: number;
  prices: Record<string, number>;
  tokens: number[];
  current: RoutingChoice;
}) => Promise<TuneResult>;

/** What a run reports about learned templates (in the stored evaluation). */
export interface TemplatesReport {
  in_force: { prefixes: number; suffixes: number };
  learned: { prefixes: number; suffixes: number };
  /** Whether the examples were embedded without the learned templates and cross-validated. */
  tried: boolean;
  /** Their best cross-validated metric. */
  value?: number;
  /** Whether they ranked better and are now in force. */
  switched?: boolean;
  /** Examples embedded for the trial (fewer when a stopped trial had staged some), and how long it took. */
  embedded?: number;
  embed_seconds?: number;
  seconds?: number;
  note?: string;
}

/** `service_state` keys: the templates in force (JSON), and the last that lost (digest, examples). */
export const TEMPLATES_KEY = "templates";
const REJECTED_KEY = "templates_rejected";

/** The learned templates in force, as the database records them. */
export function readTemplates(state: StateStore): Templates {
  const raw = state.get(TEMPLATES_KEY);
  return raw === undefined ? NO_TEMPLATES : (JSON.parse(raw) as Templates);
}

/** The templates that last lost a trial, and on how many examples. */
function readRejected(state: StateStore): { digest: string; examples: number } | undefined {
  const raw = state.get(REJECTED_KEY);
  return raw === undefined ? undefined : (JSON.parse(raw) as { digest: string; examples: number });
}

const count = (t: Templates) => ({ prefixes: t.prefixes.length, suffixes: t.suffixes.length });

/** A replica re-reads the primary's settings this often. */
const REPLICA_REFRESH_MS = 30_000;

/**
 * The ranking settings in force and the service's own tuning of them. Settings live in SQLite
 * (`routing_settings`): `tuned` by cross-validation on the stored examples, `pinned` by hand
 * (PUT /admin/settings), or pinned by a ROUTING_SETTINGS file (`file`); with none, the safe
 * defaults (SAFE_CHOICE), which rank as the best single model per budget would. Tuning runs in a
 * worker thread when the examples have changed enough (the policy), at start too; a new set
 * replaces the old in one write and only when its cross-validated metric is better on the same folds.
 */
export class SettingsService {
  private stored: StoredSettings | undefined;
  private readAt = 0;
  private state: TuningState = "idle";
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private lastRun: LastRun | undefined;
  private lastRunEnded = 0;
  private closed = false;
  private adopting: Promise<void> | undefined;

  constructor(
    private readonly settings: SettingsStore,
    private readonly examples: ExampleStore,
    /** The embedder and index in force: tuning reads their vectors, and may switch them. */
    private readonly embedding: ActiveEmbedding,
    private readonly logger: Logger,
    private readonly metrics: Metrics,
    private readonly policy: TuningPolicy,
    private readonly options: {
      readOnly: boolean;
      /** Settings pinned by a ROUTING_SETTINGS file: in force while the file is configured. */
      file?: RoutingChoice;
      /** DEFAULT_K: overrides the k of whatever settings are in force. */
      defaultK?: number;
      /** Replaces the worker thread (tests). */
      runner?: TuningRunner;
      /**
       * Learned templates: tuning tries the boilerplate the stored prompts share now, and switches
       * to it when it ranks better; a replica follows the primary's. Absent: templates stay as they are.
       */
      templates?: { switcher: TemplateSwitch; state: StateStore };
    },
  ) {
    this.reload();
  }

  /** The settings /rank uses now: memory only (a replica re-reads the primary's every 30 s). */
  choice(): RoutingChoice {
    if (this.options.readOnly && Date.now() - this.readAt > REPLICA_REFRESH_MS) this.reload();
    const base =
      this.options.file ?? (this.stored ? { k: this.stored.k, settings: this.stored.settings } : SAFE_CHOICE);
    return this.options.defaultK === undefined ? base : { ...base, k: this.options.defaultK };
  }

  source(): SettingsSource {
    if (this.options.file) return "file";
    return this.stored?.source ?? "default";
  }

  status(): SettingsStatus {
    const version = this.settings.dataVersion();
    return {
      choice: this.choice(),
      source: this.source(),
      stored: this.stored,
      changesSince: version - (this.stored?.dataVersion ?? 0),
      tuning: this.state,
      lastRun: this.lastRun,
      templates: this.embedding.templates,
    };
  }

  /** At start: tunes when the examples changed enough while the service was down (or never tuned). */
  start(): void {
    this.maybeSchedule();
  }

  /** After every committed example write: schedules a run when enough has changed. */
  noteWrite(): void {
    this.maybeSchedule();
  }

  /** Pins settings by hand: tuning leaves them alone until `unpin`. */
  pin(choice: RoutingChoice): void {
    this.assertWritable();
    this.settings.write({
      k: choice.k,
      settings: choice.settings,
      source: "pinned",
      examples: this.examples.countExamples(),
      dataVersion: this.settings.dataVersion(),
      evaluation: null,
      tunedAt: null,
    });
    this.cancelSchedule();
    this.reload();
    this.logger.info("ranking settings pinned", { ...choice });
  }

  /** Unpins: the safe defaults are in force again and a tuning run is scheduled. */
  unpin(): void {
    this.assertWritable();
    if (this.stored?.source === "pinned") {
      this.settings.clear();
      this.reload();
      this.logger.info("ranking settings unpinned; back to the safe defaults until tuned");
    }
    this.maybeSchedule();
  }

  /** Starts a run now (or joins the one running). CONFLICT when pinned or too few examples. */
  tuneNow(): Promise<void> {
    this.assertWritable();
    if (this.stored?.source === "pinned") {
      throw new AppError(
        "CONFLICT",
        'the settings are pinned: unpin them (PUT /admin/settings {"pinned": false}) to tune',
      );
    }
    if (this.running) return this.running;
    const n = this.examples.countExamples();
    if (n < MIN_TUNING_EXAMPLES) {
      throw new AppError("CONFLICT", `tuning needs at least ${MIN_TUNING_EXAMPLES} examples; there are ${n}`);
    }
    this.cancelSchedule();
    return this.run();
  }

  /** Cancels a scheduled run and waits for a running one to stop. */
  async stop(): Promise<void> {
    this.closed = true;
    this.cancelSchedule();
    await this.running?.catch(() => undefined);
  }

  private assertWritable(): void {
    if (this.options.readOnly) {
      throw new AppError("ADMIN_DISABLED", "a read-only replica uses the primary's settings");
    }
    if (this.options.file) {
      throw new AppError(
        "CONFLICT",
        "the settings are pinned by the ROUTING_SETTINGS file: unset it to manage them through the API",
      );
    }
  }

  private reload(): void {
    this.stored = this.settings.read();
    this.readAt = Date.now();
    if (this.options.readOnly) this.followTemplates();
  }

  /** A replica: when the primary has switched templates, switch to its vectors (in the background). */
  private followTemplates(): void {
    const t = this.options.templates;
    if (!t || this.adopting) return;
    const stored = readTemplates(t.state);
    if (sameTemplates(stored, this.embedding.templates)) return;
    // Not adopted while the primary is still storing the new vectors: the next refresh tries again.
    this.adopting = t.switcher
      .adopt(stored)
      .then(() => undefined)
      .catch((err: unknown) =>
        this.logger.error("could not follow the primary's templates", errorFields(err)),
      )
      .finally(() => {
        this.adopting = undefined;
      });
  }

  private cancelSchedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.state === "scheduled") this.state = "idle";
  }

  private maybeSchedule(): void {
    if (!this.policy.auto || this.options.readOnly || this.closed) return;
    if (this.source() === "pinned" || this.source() === "file" || this.state !== "idle") return;
    const n = this.examples.countExamples();
    if (n < MIN_TUNING_EXAMPLES) return;
    const tuned = this.stored;
    const changed = this.settings.dataVersion() - (tuned?.dataVersion ?? 0);
    const enough =
      tuned === undefined ||
      changed >= this.policy.changeCount ||
      changed >= this.policy.changeShare * Math.max(tuned.examples ?? 0, 1);
    if (!enough || changed <= 0) return;
    const wait = Math.max(this.policy.delayMs, this.lastRunEnded + this.policy.minIntervalMs - Date.now());
    this.state = "scheduled";
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.run().catch(() => undefined);
    }, wait);
    this.timer.unref();
  }

  private run(): Promise<void> {
    const started = new Date();
    this.state = "running";
    this.lastRun = { startedAt: started };
    const run = this.tuneOnce(started)
      .then(
        (outcome) => {
          this.lastRun = { startedAt: started, finishedAt: new Date(), outcome };
          this.metrics.tuningRuns.inc({ outcome });
        },
        (err: unknown) => {
          this.lastRun = {
            startedAt: started,
            finishedAt: new Date(),
            outcome: "failed",
            message: err instanceof Error ? err.message : String(err),
          };
          this.metrics.tuningRuns.inc({ outcome: "failed" });
          this.logger.error("tuning failed", errorFields(err));
          throw err;
        },
      )
      .finally(() => {
        this.state = "idle";
        this.running = undefined;
        this.lastRunEnded = Date.now();
        // Writes that arrived while it ran may call for another run (after the interval).
        this.maybeSchedule();
      });
    this.running = run;
    return run;
  }

  private async tuneOnce(started: Date): Promise<"replaced" | "kept"> {
    const version = this.settings.dataVersion();
    const input = await this.snapshot(this.embedding.embedder.id, "stored");
    const current = this.choice();
    this.logger.info("tuning ranking settings", { examples: input.items.length });
    const result = await this.runner()({ ...input, current });
    if (this.leftAlone()) return "kept";
    const replace = result.current === undefined || result.best.value > result.current;
    const incumbent = replace ? result.best.value : (result.current as number);
    const trial = await this.tryTemplates(incumbent, current, started);
    if (this.leftAlone()) return "kept";
    let report = trial?.report;
    if (trial?.better && "result" in trial && this.options.templates) {
      const { state, switcher } = this.options.templates;
      const { result: won, embedder, templates } = trial;
      try {
        await switcher.switchTo(embedder, templates, () => {
          this.writeTuned(won, true, current, trial.examples, version, started, trial.report);
          state.set(TEMPLATES_KEY, JSON.stringify(templates));
        });
        this.reload();
        this.logTuned(won.best, won, true);
        return "replaced";
      } catch (err) {
        // Nothing changed: the settings tuned on the vectors in force are written below.
        this.logger.warn("could not switch to the learned templates", errorFields(err));
        const message = err instanceof Error ? err.message : String(err);
        report = { ...trial.report, switched: false, note: `switch failed: ${message}` };
      }
    }
    const chosen = this.writeTuned(result, replace, current, input.items.length, version, started, report);
    this.reload();
    this.logTuned(chosen, result, replace);
    return replace ? "replaced" : "kept";
  }

  /** Pinned, pinned by file, or stopping: a finished run writes nothing. */
  private leftAlone(): boolean {
    return this.source() === "pinned" || this.source() === "file" || this.closed;
  }

  private runner(): TuningRunner {
    return this.options.runner ?? runInWorker;
  }

  /** Writes the settings a run chose (`replace`: its best, else those in force) with its report. */
  private writeTuned(
    result: TuneResult,
    replace: boolean,
    current: RoutingChoice,
    examples: number,
    version: number,
    started: Date,
    templates: TemplatesReport | undefined,
  ): RoutingChoice {
    const chosen = replace ? result.best : current;
    const evaluation = {
      metric: result.metric,
      value: replace ? result.best.value : result.current,
      baselines: result.baselines,
      neighbours_help: replace ? result.neighboursHelp : chosen.settings !== SAFE_CHOICE.settings,
      candidates: result.evaluated,
      folds: result.folds,
      seconds: (Date.now() - started.getTime()) / 1000,
      ...(result.curves && {
        curves: { ...result.curves, router: replace ? result.curves.router : result.curves.current },
      }),
      ...(templates && { templates }),
    };
    this.settings.write({
      k: chosen.k,
      settings: chosen.settings,
      source: "tuned",
      examples,
      dataVersion: version,
      evaluation,
      tunedAt: new Date(),
    });
    return chosen;
  }

  private logTuned(chosen: RoutingChoice, result: TuneResult, replace: boolean): void {
    this.logger.info(replace ? "tuned ranking settings in force" : "tuning kept the settings in force", {
      k: chosen.k,
      ...chosen.settings,
      metric: result.metric,
      value: replace ? result.best.value : result.current,
      ...result.baselines,
    });
  }

  /**
   * Tries the boilerplate the stored prompts share now, when it is not the one in force and did
   * not lose before: every example is embedded without it (staged beside the vectors in force),
   * and cross-validated on those vectors with the same search. `better` when its best beats
   * `incumbent`, the metric of what this run keeps otherwise.
   */
  private async tryTemplates(
    incumbent: number,
    current: RoutingChoice,
    started: Date,
  ): Promise<
    | {
        better: boolean;
        report: TemplatesReport;
        result: TuneResult;
        embedder: Embedder;
        templates: Templates;
        examples: number;
      }
    | { better: false; report: TemplatesReport }
    | undefined
  > {
    const t = this.options.templates;
    if (!t) return undefined;
    const learned = await t.switcher.learn();
    const inForce = this.embedding.templates;
    const report: TemplatesReport = {
      in_force: count(inForce),
      learned: count(learned),
      tried: false,
    };
    if (sameTemplates(learned, inForce)) return { better: false, report };
    const digest = templatesDigest(learned);
    const examples = this.examples.countExamples();
    const lost = readRejected(t.state);
    if (lost?.digest === digest && examples < 2 * lost.examples) {
      const note = `these templates lost on ${lost.examples} examples: tried again at ${2 * lost.examples}`;
      return { better: false, report: { ...report, note } };
    }
    const textless = this.examples.countTextless();
    if (textless > 0) {
      const note = `not tried: ${textless} examples have no text (imported as bare vectors) to embed again`;
      return { better: false, report: { ...report, note } };
    }
    const embedder = t.switcher.embedderFor(learned);
    const staging = performance.now();
    let lastLog = staging;
    let embedded: number;
    let input: Awaited<ReturnType<SettingsService["snapshot"]>>;
    let result: TuneResult;
    try {
      embedded = await t.switcher.stage(embedder, (done, total) => {
        if (performance.now() - lastLog < 10_000) return;
        lastLog = performance.now();
        this.logger.info("embedding the examples without the learned templates", { done, total });
      });
      if (this.leftAlone()) return { better: false, report };
      input = await this.snapshot(embedder.id, "staged");
      this.logger.info("tuning on the examples without the learned templates", {
        examples: input.items.length,
        prefixes: learned.prefixes.length,
        suffixes: learned.suffixes.length,
      });
      result = await this.runner()({ ...input, current });
    } catch (err) {
      // The settings tuned on the vectors in force still count; what was staged is kept for the next try.
      this.logger.warn("could not try the learned templates", errorFields(err));
      const message = err instanceof Error ? err.message : String(err);
      return { better: false, report: { ...report, note: `not tried: ${message}` } };
    }
    const stageSeconds = (performance.now() - staging) / 1000;
    // Only neighbours that help can make stripping matter; the safe settings barely read them.
    const better = result.neighboursHelp && result.best.value > incumbent;
    const tried: TemplatesReport = {
      ...report,
      tried: true,
      value: result.best.value,
      switched: better,
      embedded,
      embed_seconds: stageSeconds,
      seconds: (Date.now() - started.getTime()) / 1000,
    };
    if (!better) {
      await t.switcher.discard();
      t.state.set(REJECTED_KEY, JSON.stringify({ digest, examples }));
      this.logger.info("the learned templates did not rank better; kept the vectors in force", {
        value: result.best.value,
        incumbent,
      });
    }
    return { better, report: tried, result, embedder, templates: learned, examples: input.items.length };
  }
  /** Every example's category, scores, length and vector, read a page at a time between other work. */
  private async snapshot(embedderId: string, from: "stored" | "staged") {
    const items: LabelledItem[] = [];
    const tokens: number[] = [];
    const vectors: Float32Array[] = [];
    let after: string | undefined;
    for (;;) {
      const page = this.examples.labelledPage(embedderId, after, 2000, from);
      for (const r of page) {
        items.push({ category: r.category, scores: r.scores });
        // About four characters a token: the cost of an example under a target is priced by it.
        tokens.push(Math.max(1, Math.ceil(r.chars / 4)));
        vectors.push(r.vector);
      }
      if (page.length < 2000) break;
      after = page.at(-1)?.id;
      await yieldToEventLoop();
    }
    const dim = vectors[0]?.length ?? 0;
    const flat = new Float32Array(vectors.length * dim);
    for (const [i, v] of vectors.entries()) flat.set(v, i * dim);
    const prices: Record<string, number> = {};
    for (const t of this.examples.targetPrices()) {
      if (t.inputPricePerMtok !== null && t.outputPricePerMtok !== null) {
        // The blend /rank's objective uses by default: half input, half output tokens.
        prices[t.name] = (t.inputPricePerMtok + t.outputPricePerMtok) / 2;
      }
    }
    return { items, flat, dim, prices, tokens };
  }
}

const WORKER_URL = new URL("./tune-worker.mjs", import.meta.url);

/** Runs `tune` in a worker thread; the vectors' buffer moves there without a copy. */
const runInWorker: TuningRunner = (input) =>
  new Promise((resolve, reject) => {
    const worker = new Worker(WORKER_URL, {
      workerData: input,
      transferList: [input.flat.buffer as ArrayBuffer],
    });
    worker.on("message", (msg: { type: string; result?: TuneResult; message?: string }) => {
      if (msg.type === "done") resolve(msg.result as TuneResult);
      else if (msg.type === "error") reject(new Error(msg.message));
    });
    worker.once("error", reject);
    worker.once("exit", (code) => {
      if (code !== 0) reject(new Error(`tuning worker exited with code ${code}`));
    });
  });
