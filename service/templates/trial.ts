import type { ActiveEmbedding } from "../core/active-embedding.ts";
import { sameTemplates, type Templates, templatesDigest } from "../embedding/templates.ts";
import { errorFields, type Logger } from "../logger.ts";
import type { TuneResult } from "../routing/tuning.ts";
import type { StateStore } from "../store/state-store.ts";
import { readRejected, writeRejected, writeTemplates } from "./state.ts";
import type { TemplateSwitch } from "./switch.ts";

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

/**
 * Cross-validates the examples' vectors made by the embedder `embedderId` (staged), on the same
 * examples and prices as the settings it competes with; `incumbent` is those settings' metric on
 * exactly those examples.
 */
export type EvaluateStaged = (embedderId: string) => Promise<{ result: TuneResult; incumbent: number }>;

/** A trial's outcome, for the tuning run that asked for it. */
export interface Trial {
  report: TemplatesReport;
  /** The trial's cross-validation, when it ran. */
  result?: TuneResult;
  /**
   * Present when the trial ranked better: puts its vectors and templates in force. `within` runs
   * inside the transaction that commits the switch (the settings tuned on those vectors). Nothing
   * changes if it throws.
   */
  commit?: (within: () => void) => Promise<void>;
}

const count = (t: Templates) => ({ prefixes: t.prefixes.length, suffixes: t.suffixes.length });

/**
 * Learned templates as self-tuning sees them: one call (`try`) learns the boilerplate the stored
 * prompts share now, and, when it is not the one in force and did not lose before, embeds every
 * example without it (staged beside the vectors in force) and has tuning cross-validate on those
 * vectors; a trial that ranks better comes back with `commit`. A replica `follow`s the primary's.
 */
export class TemplateTrials {
  constructor(
    private readonly switcher: TemplateSwitch,
    private readonly state: StateStore,
    private readonly active: ActiveEmbedding,
    private readonly examples: { countExamples(): number; countTextless(): number },
    private readonly logger: Logger,
  ) {}

  /**
   * One trial. `evaluate` cross-validates the staged vectors; `stopped` says the run that asked
   * should write nothing (pinned meanwhile, or stopping); `started` is when that run began.
   */
  async try(evaluate: EvaluateStaged, stopped: () => boolean, started: Date): Promise<Trial> {
    const learned = await this.switcher.learn();
    const inForce = this.active.templates;
    const report: TemplatesReport = { in_force: count(inForce), learned: count(learned), tried: false };
    if (sameTemplates(learned, inForce)) return { report };
    const digest = templatesDigest(learned);
    const examples = this.examples.countExamples();
    const lost = readRejected(this.state);
    if (lost?.digest === digest && examples < 2 * lost.examples) {
      const note = `these templates lost on ${lost.examples} examples: tried again at ${2 * lost.examples}`;
      return { report: { ...report, note } };
    }
    const textless = this.examples.countTextless();
    if (textless > 0) {
      const note = `not tried: ${textless} examples have no text (imported as bare vectors) to embed again`;
      return { report: { ...report, note } };
    }
    const embedder = this.switcher.embedderFor(learned);
    const staging = performance.now();
    let lastLog = staging;
    let embedded: number;
    let outcome: Awaited<ReturnType<EvaluateStaged>>;
    try {
      embedded = await this.switcher.stage(embedder, (done, total) => {
        if (performance.now() - lastLog < 10_000) return;
        lastLog = performance.now();
        this.logger.info("embedding the examples without the learned templates", { done, total });
      });
      if (stopped()) return { report };
      this.logger.info("tuning on the examples without the learned templates", {
        prefixes: learned.prefixes.length,
        suffixes: learned.suffixes.length,
      });
      outcome = await evaluate(embedder.id);
    } catch (err) {
      // The settings tuned on the vectors in force still count; what was staged is kept for the next try.
      this.logger.warn("could not try the learned templates", errorFields(err));
      const message = err instanceof Error ? err.message : String(err);
      return { report: { ...report, note: `not tried: ${message}` } };
    }
    const { result, incumbent } = outcome;
    // Only neighbours that help can make stripping matter; the safe settings barely read them.
    const better = result.neighboursHelp && result.best.value > incumbent;
    const tried: TemplatesReport = {
      ...report,
      tried: true,
      value: result.best.value,
      switched: better,
      embedded,
      embed_seconds: (performance.now() - staging) / 1000,
      seconds: (Date.now() - started.getTime()) / 1000,
    };
    if (!better) {
      await this.switcher.discard();
      writeRejected(this.state, { digest, examples });
      this.logger.info("the learned templates did not rank better; kept the vectors in force", {
        value: result.best.value,
        incumbent,
      });
      return { report: tried, result };
    }
    const commit = async (within: () => void) => {
      await this.switcher.switchTo(embedder, learned, () => {
        within();
        writeTemplates(this.state, learned);
      });
    };
    return { report: tried, result, commit };
  }

  /** At shutdown: releases replaced indexes. */
  close(): Promise<void> {
    return this.switcher.close();
  }
}
