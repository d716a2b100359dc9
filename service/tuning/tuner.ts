import type { TuningPolicy } from "../config.ts";
import type { Embedding } from "../core/active-embedding.ts";
import type { Templates } from "../embedding/templates.ts";
import { AppError } from "../errors.ts";
import { errorFields, type Logger } from "../logger.ts";
import type { Metrics } from "../metrics.ts";
import { MIN_TUNING_EXAMPLES, type RoutingChoice, SAFE_CHOICE, type TuneResult } from "../routing/tuning.ts";
import type { ExampleStore } from "../store/example-store.ts";
import type { SettingsStore, StoredSettings } from "../store/settings-store.ts";
import type { TargetStore } from "../store/target-store.ts";
import type { TuningSnapshots } from "../store/tuning-snapshots.ts";
import type { TemplatesReport, TemplateTrials } from "../templates/trial.ts";
import { callsForRun, type DataState, outgrown, runAt } from "./schedule.ts";
import type { SettingsModel, SettingsSource } from "./settings-model.ts";
import { readSnapshot, type Snapshot, subset, vectorsOf } from "./snapshot.ts";
import { runInWorker, type TuningRunner } from "./worker.ts";

export type TuningState = "idle" | "scheduled" | "running";

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
  /** Why the service cannot tune itself now, and what to do about it; undefined when it can. */
  warning?: string;
}

export interface TunerOptions {
  /** Replaces the worker thread (tests). */
  runner?: TuningRunner;
  /** Learned templates: each run also tries those the stored prompts share now. */
  templates?: TemplateTrials;
}

/**
 * Self-tuning: when to run (the policy, see `schedule.ts`), the run itself (cross-validation in a
 * worker thread over a snapshot of the examples), and writing its result. A new set replaces the
 * settings in force in one write, and only when its cross-validated metric is better on the same
 * folds; a template trial competes on the same snapshot, with the same metric.
 */
export class Tuner {
  private state: TuningState = "idle";
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private lastRun: LastRun | undefined;
  private lastRunEndedAt: number | undefined;
  /** When the pending run was called for, and when the last example write arrived. */
  private calledAt = 0;
  private lastWriteAt = 0;
  private closed = false;
  /** The last "cannot tune" warning logged (it is logged again only when it changes). */
  private warned: string | undefined;

  constructor(
    private readonly settings: SettingsStore,
    /** What a run reads: the labelled examples with their vectors, their count, the targets' prices. */
    private readonly data: {
      snapshots: TuningSnapshots;
      examples: Pick<ExampleStore, "countExamples" | "countExamplesUpTo">;
      targets: Pick<TargetStore, "targetPrices">;
      /** Recent queries' nearest similarities: a fallback floor that would bury them is not chosen. */
      recent?: () => number[][];
    },
    private readonly model: SettingsModel,
    /** The embedder in force (a run reads the vectors it made) and the templates it strips. */
    private readonly inForce: () => Embedding,
    private readonly logger: Logger,
    private readonly metrics: Metrics,
    private readonly policy: TuningPolicy,
    private readonly options: TunerOptions = {},
  ) {
    model.onChange((source) => {
      if (source === "pinned") this.cancelSchedule();
      else this.maybeSchedule();
    });
  }

  status(): SettingsStatus {
    const warning = this.tooFew();
    return {
      choice: this.model.choice(),
      source: this.model.source(),
      stored: this.model.current,
      changesSince: this.changes().changed,
      tuning: this.state,
      lastRun: this.lastRun,
      templates: this.inForce().templates,
      ...(warning && { warning }),
    };
  }

  /**
   * Why tuning cannot run on the examples there are, saying what to do, or undefined when it can.
   * Counted up to MIN_TUNING_EXAMPLES: cheap at any size.
   */
  private tooFew(): string | undefined {
    const n = this.data.examples.countExamplesUpTo(MIN_TUNING_EXAMPLES);
    if (n >= MIN_TUNING_EXAMPLES) return undefined;
    const { k, settings } = this.model.choice();
    return (
      `tuning needs at least ${MIN_TUNING_EXAMPLES} labelled examples and there ${n === 1 ? "is" : "are"} ${n}: ` +
      "add examples (POST /admin/examples or POST /admin/import) and the service tunes itself; until then " +
      `the defaults for ${n} example${n === 1 ? "" : "s"} rank (k ${k}, shrinkage ${settings.shrinkage}), ` +
      "or pin settings with PUT /admin/settings"
    );
  }

  /** At start: tunes when the examples changed enough while the service was down (or never tuned). */
  start(): void {
    this.maybeSchedule();
  }

  /** After every committed example write: a pending run waits for the writes to pause. */
  noteWrite(): void {
    this.lastWriteAt = Date.now();
    if (this.state === "scheduled") this.arm();
    else this.maybeSchedule();
  }

  /** Starts a run now (or joins the one running). CONFLICT when pinned or too few examples. */
  tuneNow(): Promise<void> {
    this.model.assertWritable();
    if (this.model.source() === "pinned") {
      throw new AppError(
        "CONFLICT",
        'the settings are pinned: unpin them (PUT /admin/settings {"pinned": false}) to tune',
      );
    }
    if (this.running) return this.running;
    const tooFew = this.tooFew();
    if (tooFew) {
      throw new AppError("CONFLICT", tooFew, { details: [{ path: "examples", message: tooFew }] });
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

  /** What changed since the settings in force were tuned: two reads of a row, no count of the examples. */
  private changes(): Pick<DataState, "changed" | "tunedOn"> {
    const tuned = this.model.current?.source === "tuned" ? this.model.current : undefined;
    return {
      changed: this.settings.dataVersion() - (this.model.current?.dataVersion ?? 0),
      tunedOn: tuned ? (tuned.examples ?? 0) : undefined,
    };
  }

  private cancelSchedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.state === "scheduled") this.state = "idle";
  }

  private maybeSchedule(): void {
    if (!this.policy.auto || this.closed || !this.model.tunable || this.state !== "idle") return;
    const data = { ...this.changes(), examples: this.data.examples.countExamples() };
    if (!callsForRun(this.policy, data, MIN_TUNING_EXAMPLES)) {
      const tooFew = data.changed > 0 ? this.tooFew() : undefined;
      if (tooFew && tooFew !== this.warned) this.logger.warn("not tuning", { reason: tooFew });
      this.warned = tooFew;
      return;
    }
    this.state = "scheduled";
    this.calledAt = Date.now();
    this.arm();
  }

  /**
   * (Re)sets the timer of the scheduled run to when the schedule says it starts; called at every
   * write while a run is scheduled, so it reads no more than `changes`. A run that failed is not
   * retried before the minimum interval, however the data stands.
   */
  private arm(): void {
    if (this.timer) clearTimeout(this.timer);
    const times = {
      calledAt: this.calledAt,
      lastWriteAt: this.lastWriteAt,
      lastRunEndedAt: this.lastRunEndedAt,
    };
    const failed = this.lastRun?.outcome === "failed";
    const at = runAt(this.policy, times, outgrown(this.changes()) && !failed);
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.run().catch(() => undefined);
      },
      Math.max(0, at - Date.now()),
    );
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
        this.lastRunEndedAt = Date.now();
        // Writes that arrived while it ran may call for another run.
        this.maybeSchedule();
      });
    this.running = run;
    return run;
  }

  private async tuneOnce(started: Date): Promise<"replaced" | "kept"> {
    const version = this.settings.dataVersion();
    const snapshot = await readSnapshot(this.data.snapshots, this.data.targets, this.inForce().embedder.id);
    const current = this.model.choice();
    this.logger.info("tuning ranking settings", { examples: snapshot.items.length });
    const result = await this.tune(snapshot, current);
    if (this.leftAlone()) return "kept";
    const replace = result.current === undefined || result.best.value > result.current;
    const incumbent = replace ? result.best.value : (result.current as number);
    const trial = await this.options.templates?.try(
      (embedderId) => this.evaluateStaged(embedderId, snapshot, current, incumbent),
      () => this.leftAlone(),
      started,
    );
    if (this.leftAlone()) return "kept";
    let report = trial?.report;
    if (trial?.commit && trial.result) {
      const won = trial.result;
      try {
        await trial.commit(() =>
          this.writeTuned(won, true, current, snapshot.items.length, version, started, trial.report),
        );
        this.model.refresh();
        this.logTuned(won.best, won, true);
        return "replaced";
      } catch (err) {
        // Nothing changed: the settings tuned on the vectors in force are written below.
        this.logger.warn("could not switch to the learned templates", errorFields(err));
        const message = err instanceof Error ? err.message : String(err);
        report = { ...trial.report, switched: false, note: `switch failed: ${message}` };
      }
    }
    const chosen = this.writeTuned(result, replace, current, snapshot.items.length, version, started, report);
    this.model.refresh();
    this.logTuned(chosen, result, replace);
    return replace ? "replaced" : "kept";
  }

  /**
   * Cross-validates the staged vectors of `embedderId` on the examples and prices of `snapshot`
   * (what the settings in force were scored on). When some of those examples went meanwhile, the
   * vectors in force are scored again on the ones left, so that both sides see the same examples.
   */
  private async evaluateStaged(
    embedderId: string,
    snapshot: Snapshot,
    current: RoutingChoice,
    incumbent: number,
  ): Promise<{ result: TuneResult; incumbent: number }> {
    const staged = await vectorsOf(this.data.snapshots, embedderId, "staged");
    const kept = snapshot.ids.flatMap((id, i) => (staged.has(id) ? [i] : []));
    const result = await this.tune(subset(snapshot, kept, staged), current);
    if (kept.length === snapshot.ids.length) return { result, incumbent };
    // The snapshot's own vectors went to the worker: those in force are read again.
    const stored = await vectorsOf(this.data.snapshots, this.inForce().embedder.id, "stored");
    const both = kept.filter((i) => stored.has(snapshot.ids[i] as string));
    const again = await this.tune(subset(snapshot, both, stored), current);
    const replace = again.current === undefined || again.best.value > again.current;
    return { result, incumbent: replace ? again.best.value : (again.current as number) };
  }

  /** Runs one cross-validation of `snapshot` (its vectors' buffer moves to the worker). */
  private tune(snapshot: Snapshot, current: RoutingChoice): Promise<TuneResult> {
    const { ids: _, ...input } = snapshot;
    const recent = this.data.recent?.();
    return this.runner()({ ...input, current, ...(recent && recent.length > 0 && { recent }) });
  }

  /** Pinned, pinned by file, or stopping: a finished run writes nothing. */
  private leftAlone(): boolean {
    return !this.model.tunable || this.closed;
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
}
