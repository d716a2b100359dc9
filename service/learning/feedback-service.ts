import { randomUUID } from "node:crypto";
import type { ExampleService } from "../core/example-service.ts";
import { HandedOverRanking, issuesOf } from "../core/schemas.ts";
import { AppError } from "../errors.ts";
import { errorFields, type Logger } from "../logger.ts";
import { outcomeBaseline } from "../routing/priors.ts";
import type { FeedbackStore, KeptRanking, Outcome, PendingOutcome } from "../store/feedback-store.ts";
import { keptRanking, type RankingKeeper, type RankingToKeep } from "./keeper.ts";
import { outcomeWeight } from "./weighting.ts";

export type { KeptRanking, Outcome, PendingOutcome } from "../store/feedback-store.ts";
export type { RankingKeeper, RankingToKeep } from "./keeper.ts";

export interface FeedbackOptions {
  /** Whether rankings are kept at all (FEEDBACK_TOKEN is set). */
  enabled: boolean;
  /** How long a ranking can receive outcomes, in seconds (FEEDBACK_WINDOW_S). */
  windowSeconds: number;
  /** Most rankings kept (FEEDBACK_MAX_RANKINGS); the oldest go first. */
  maxRankings: number;
  /** Most bytes of prompts and targets kept (FEEDBACK_MAX_BYTES); the oldest rankings go first. Default 1 GiB. */
  maxBytes?: number;
  /** FEEDBACK_REVIEW: outcomes wait for an operator to accept them before they teach. Default false. */
  review?: boolean;
  /** FEEDBACK_MAX_WEIGHT: the cap on 1 / propensity (inverse propensity weighting). Default 1: off. */
  maxWeight?: number;
  /** FEEDBACK_OUTCOME_WEIGHT: what one outcome counts for against one label. Default 0.5. */
  outcomeWeight?: number;
}

/** What became of an outcome. */
export interface Recorded {
  /** accepted: it is evidence now; pending: it waits for review (FEEDBACK_REVIEW). */
  status: "accepted" | "pending";
  /** The labelled example the ranking's prompt is (once accepted). */
  exampleId: string;
  /** False when the vector store takes the example later (or, pending, has nothing to take yet). */
  indexed: boolean;
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

/** How far a handed-over ranking's time may run ahead of the primary's clock. */
export const MAX_CLOCK_SKEW_MS = 60_000;

/** A handed-over ranking the primary would not keep, and why. */
export interface Refusal {
  /** Its place in the batch. */
  index: number;
  /** Its id, when it had one that could be read. */
  id?: string;
  reason: string;
}

/**
 * Outcomes on the router's own answers. Every ranking gets an id; while feedback is enabled the
 * prompt and the targets offered are kept (written in batches, off the rank path) for the window.
 * An outcome (a score in [0, 1] for one target the ranking offered) is stored, replacing an earlier
 * one for the same target, and the ranking's prompt becomes a labelled example whose scores are the
 * outcomes observed so far: the next ranks learn from it. Nothing is kept while feedback is off.
 */
export class FeedbackService implements RankingKeeper {
  private buffer: KeptRanking[] = [];
  private timer: NodeJS.Timeout | undefined;
  private lastPrune = 0;

  constructor(
    private readonly store: FeedbackStore,
    private readonly examples: Pick<ExampleService, "put" | "get">,
    /** The targets there are now, and whether each is enabled: what a handed-over ranking may offer. */
    private readonly targets: () => ReadonlyArray<{ name: string; enabled: boolean }>,
    private readonly logger: Logger,
    readonly options: FeedbackOptions,
    /** Told how many handed-over rankings were kept and refused. */
    private readonly onHandOver: (kept: number, refused: number) => void = () => undefined,
  ) {}

  /** An id for a ranking; the ranking is kept (soon, in a batch) when feedback is enabled. */
  keep(ranking: RankingToKeep): string {
    const id = randomUUID();
    if (!this.options.enabled) return id;
    this.buffer.push(keptRanking(id, ranking));
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
        this.store.prune(
          new Date(Date.now() - this.options.windowSeconds * 1000),
          this.options.maxRankings,
          this.options.maxBytes ?? 1 << 30,
        );
      }
    } catch (err) {
      this.logger.error("could not keep rankings for feedback", errorFields(err));
    }
  }

  /**
   * Rankings a replica served, handed over to be kept here, each checked as strictly as the rankings
   * made here: the input rules of examples (an outcome makes its query an example), targets that
   * exist and are enabled, a time within the feedback window and at most MAX_CLOCK_SKEW_MS ahead.
   * Each is kept or refused on its own: one bad ranking never holds back the others. A ranking kept
   * already stays as it was.
   */
  adopt(items: readonly unknown[], now = new Date()): { kept: number; refused: Refusal[] } {
    if (!this.options.enabled) throw feedbackDisabled();
    const targets = new Map(this.targets().map((t) => [t.name, t.enabled]));
    const kept: KeptRanking[] = [];
    const refused: Refusal[] = [];
    items.forEach((item, index) => {
      const parsed = HandedOverRanking.safeParse(item);
      if (!parsed.success) {
        const id = (item as { id?: unknown } | null)?.id;
        refused.push({
          index,
          ...(typeof id === "string" && { id: id.slice(0, 100) }),
          reason: issuesOf(parsed.error)
            .map((i) => `${i.path || "ranking"}: ${i.message}`)
            .join("; "),
        });
        return;
      }
      const r = parsed.data;
      const reason = this.refusalOf(r, targets, now);
      if (reason) {
        refused.push({ index, id: r.id, reason });
        return;
      }
      kept.push({
        id: r.id,
        createdAt: new Date(r.created_at),
        query: r.query,
        category: r.category ?? null,
        targets: r.targets,
        recommended: r.recommended,
        propensity: r.propensity,
        explored: r.explored,
        uncertainty: r.uncertainty,
        reasons: r.reasons,
        predictions: r.predictions ?? {},
        similarities: r.similarities ?? [],
      });
    });
    this.store.keep(kept);
    this.onHandOver(kept.length, refused.length);
    if (refused.length > 0) {
      this.logger.warn("refused handed-over rankings", {
        refused: refused.length,
        kept: kept.length,
        first: refused[0],
      });
    }
    return { kept: kept.length, refused };
  }

  /** Why a well-formed handed-over ranking is not kept, or undefined when it is fine. */
  private refusalOf(
    r: HandedOverRanking,
    targets: ReadonlyMap<string, boolean>,
    now: Date,
  ): string | undefined {
    const unknown = r.targets.filter((t) => !targets.has(t));
    if (unknown.length > 0) return `targets: unknown here: ${unknown.slice(0, 5).join(", ")}`;
    const disabled = r.targets.filter((t) => targets.get(t) === false);
    if (disabled.length > 0) return `targets: disabled here: ${disabled.slice(0, 5).join(", ")}`;
    const at = Date.parse(r.created_at);
    if (at > now.getTime() + MAX_CLOCK_SKEW_MS) {
      return `created_at: ${r.created_at} is more than ${MAX_CLOCK_SKEW_MS / 1000} s ahead of this clock`;
    }
    if (at < now.getTime() - this.options.windowSeconds * 1000) {
      return `created_at: ${r.created_at} is older than FEEDBACK_WINDOW_S`;
    }
    return undefined;
  }

  /**
   * Records an outcome on ranking `rankingId` (a score for one target it offered, or a preference
   * between two), replacing an earlier one for the same target or pair. Accepted (the default),
   * the ranking's prompt becomes or updates its labelled example, with every accepted outcome so
   * far: resolves once both are stored. Under review it waits, changing nothing /rank reads. 404
   * for an unknown or expired ranking, 400 naming the field for a target the ranking did not offer.
   */
  async record(rankingId: string, outcome: Outcome): Promise<Recorded> {
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
    const named =
      outcome.kind === "score"
        ? [["target", outcome.target] as const]
        : ([
            ["preferred", outcome.preferred],
            ["over", outcome.over],
          ] as const);
    const exist = new Set(this.targets().map((t) => t.name));
    for (const [path, target] of named) {
      if (!ranking.targets.includes(target)) {
        throw new AppError("VALIDATION_FAILED", `${path}: ranking ${rankingId} did not offer ${target}`, {
          details: [{ path, message: `the ranking offered ${ranking.targets.join(", ")}` }],
        });
      }
      // Deleted since the ranking offered it: its evidence is gone, and an outcome would bring it back.
      if (!exist.has(target)) {
        throw new AppError("VALIDATION_FAILED", `${path}: target ${target} has been deleted`, {
          details: [{ path, message: `target ${target} was deleted after this ranking offered it` }],
        });
      }
    }
    const exampleId = feedbackExampleId(rankingId);
    this.assertOwnExample(exampleId);
    const status = this.options.review ? "pending" : "accepted";
    this.store.record(rankingId, outcome, status, new Date());
    if (status === "pending") return { status, exampleId, indexed: false };
    const { indexed } = await this.learn(ranking);
    return { status, exampleId, indexed };
  }

  /** Every outcome kept, by status. */
  counts() {
    return this.store.counts();
  }

  /** Accepted outcomes per target in buckets of `bucketMs` since `since`. */
  arrivals(since: Date, bucketMs: number) {
    return this.store.arrivals(since, bucketMs);
  }

  /** The label queue: rankings within the window the router was least sure about, and why. */
  labelQueue(limit: number): KeptRanking[] {
    if (!this.options.enabled) throw feedbackDisabled();
    this.flush();
    return this.store.unsure(new Date(Date.now() - this.options.windowSeconds * 1000), limit);
  }

  /** Outcomes waiting for review, oldest first. */
  pending(limit: number): PendingOutcome[] {
    return this.store.pending(limit);
  }

  /**
   * Accepts (they become evidence, as if just reported) or rejects the pending outcomes of ranking
   * `rankingId`. 404 when it has none pending.
   */
  async review(
    rankingId: string,
    decision: "accept" | "reject",
  ): Promise<{ outcomes: number; exampleId: string | undefined; indexed: boolean }> {
    if (decision === "accept") this.assertOwnExample(feedbackExampleId(rankingId));
    const changed = this.store.review(rankingId, decision === "accept" ? "accepted" : "rejected", new Date());
    if (changed === 0) {
      throw new AppError("NOT_FOUND", `ranking ${rankingId} has no outcome waiting for review`, {
        details: [{ path: "ranking_id", message: "no pending outcome" }],
      });
    }
    if (decision === "reject") return { outcomes: changed, exampleId: undefined, indexed: true };
    const ranking = this.store.ranking(rankingId);
    if (!ranking) throw new AppError("NOT_FOUND", `ranking ${rankingId} is no longer kept`);
    const { indexed } = await this.learn(ranking);
    return { outcomes: changed, exampleId: feedbackExampleId(rankingId), indexed };
  }

  /**
   * An outcome only ever writes an example outcomes made: an operator's example under the same id
   * (`feedback-<ranking id>`, written through the admin API) is refused and logged, never overwritten.
   */
  private assertOwnExample(exampleId: string): void {
    const existing = this.examples.get(exampleId);
    if (existing === undefined || existing.origin === "outcome") return;
    this.logger.warn("outcome refused: its example id holds an operator's example", { exampleId });
    throw new AppError(
      "CONFLICT",
      `example ${exampleId} was written by an operator, not by outcomes: an outcome never overwrites it`,
      { details: [{ path: "ranking_id", message: `${exampleId} is an operator's example` }] },
    );
  }

  /** The ranking's example from its accepted outcomes: scores and comparisons as observed. */
  private async learn(ranking: KeptRanking): Promise<{ indexed: boolean }> {
    const { scores, preferences } = this.store.accepted(ranking.id);
    const weights = Object.fromEntries(
      Object.keys(scores)
        .map(
          (t) => [t, outcomeWeight(ranking, t, this.options.maxWeight, this.options.outcomeWeight)] as const,
        )
        .filter(([, w]) => w !== 1),
    );
    // Each outcome is read against what the router predicted there for the other targets.
    const baselines: Record<string, number> = {};
    for (const t of Object.keys(scores)) {
      const b = outcomeBaseline(ranking.predictions, t);
      if (b !== undefined) baselines[t] = b;
    }
    return this.examples.put(feedbackExampleId(ranking.id), {
      text: ranking.query,
      category: ranking.category,
      scores,
      ...(Object.keys(weights).length > 0 && { weights }),
      preferences,
      origin: "outcome",
      baselines,
    });
  }

  close(): void {
    this.flush();
  }
}
