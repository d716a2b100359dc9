import { randomUUID } from "node:crypto";
import { AppError } from "../errors.ts";
import { errorFields, type Logger } from "../logger.ts";
import type { FeedbackStore, KeptRanking } from "../store/feedback-store.ts";
import type { ExampleService } from "./example-service.ts";

export interface FeedbackOptions {
  /** Whether rankings are kept at all (FEEDBACK_TOKEN is set). */
  enabled: boolean;
  /** How long a ranking can receive outcomes, in seconds (FEEDBACK_WINDOW_S). */
  windowSeconds: number;
  /** Most rankings kept (FEEDBACK_MAX_RANKINGS); the oldest go first. */
  maxRankings: number;
}

/** What a call for feedback gets while it is off: 503 FEEDBACK_DISABLED, saying how to turn it on. */
export function feedbackDisabled(): AppError {
  return new AppError(
    "FEEDBACK_DISABLED",
    "feedback is off: set FEEDBACK_TOKEN to keep rankings and take outcomes",
  );
}

/** The id an outcome's example is stored under: one example per ranking. */
export const feedbackExampleId = (rankingId: string) => `feedback-${rankingId}`;

/**
 * Outcomes on the router's own answers. Every ranking gets an id; while feedback is enabled the
 * prompt and the targets offered are kept (written in batches, off the rank path) for the window.
 * An outcome (a score in [0, 1] for one target the ranking offered) is stored, replacing an earlier
 * one for the same target, and the ranking's prompt becomes a labelled example whose scores are the
 * outcomes observed so far: the next ranks learn from it. Nothing is kept while feedback is off.
 */
export class FeedbackService {
  private buffer: KeptRanking[] = [];
  private timer: NodeJS.Timeout | undefined;
  private lastPrune = 0;

  constructor(
    private readonly store: FeedbackStore,
    private readonly examples: Pick<ExampleService, "put">,
    private readonly logger: Logger,
    readonly options: FeedbackOptions,
  ) {}

  /** An id for a ranking; the ranking is kept (soon, in a batch) when feedback is enabled. */
  keep(ranking: {
    query: string;
    targets: string[];
    recommended: string | null | undefined;
    /** The policy's probability of `recommended` (exploration on); 1 when it was the only choice. */
    propensity?: number;
    explored?: boolean;
  }): string {
    const id = randomUUID();
    if (!this.options.enabled) return id;
    this.buffer.push({
      id,
      createdAt: new Date(),
      query: ranking.query,
      targets: ranking.targets,
      recommended: ranking.recommended ?? null,
      propensity: ranking.recommended == null ? null : (ranking.propensity ?? 1),
      explored: ranking.explored ?? false,
    });
    this.timer ??= setTimeout(() => this.flush(), 100);
    return id;
  }

  /** Writes the rankings waiting in memory (and forgets expired ones, once a minute). */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.buffer;
    this.buffer = [];
    try {
      this.store.keep(batch);
      if (Date.now() - this.lastPrune > 60_000) {
        this.lastPrune = Date.now();
        this.store.prune(new Date(Date.now() - this.options.windowSeconds * 1000), this.options.maxRankings);
      }
    } catch (err) {
      this.logger.error("could not keep rankings for feedback", errorFields(err));
    }
  }

  /**
   * Records `score` for `target` on ranking `rankingId` and updates the ranking's example; resolves
   * once both are stored. 404 for an unknown or expired ranking, 400 for a target it did not offer.
   */
  async record(
    rankingId: string,
    target: string,
    score: number,
  ): Promise<{ exampleId: string; indexed: boolean }> {
    if (!this.options.enabled) {
      throw feedbackDisabled();
    }
    this.flush();
    const since = new Date(Date.now() - this.options.windowSeconds * 1000);
    const ranking = this.store.ranking(rankingId, since);
    if (!ranking) {
      throw new AppError("NOT_FOUND", `no ranking ${rankingId}: unknown, or older than FEEDBACK_WINDOW_S`, {
        details: [{ path: "ranking_id", message: "unknown or expired ranking" }],
      });
    }
    if (!ranking.targets.includes(target)) {
      throw new AppError("VALIDATION_FAILED", `target: ranking ${rankingId} did not offer ${target}`, {
        details: [{ path: "target", message: `the ranking offered ${ranking.targets.join(", ")}` }],
      });
    }
    const scores = this.store.recordOutcome(rankingId, target, score, new Date());
    const exampleId = feedbackExampleId(rankingId);
    const { indexed } = await this.examples.put(exampleId, { text: ranking.query, scores });
    return { exampleId, indexed };
  }

  close(): void {
    this.flush();
  }
}
