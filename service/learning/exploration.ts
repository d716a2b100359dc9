import type { RecommendationInput, RecommendationPolicy } from "../core/ranker.ts";
import type { TargetInfo, TargetStats } from "../routing/aggregate.ts";
import { type Explored, explore } from "../routing/explore.ts";
import { priorAdvantages } from "./new-targets.ts";

export interface LearningPolicyOptions {
  /**
   * Most share of answers whose recommendation may explore (EXPLORATION_SHARE); 0 is off. When on,
   * every answer recommends, and every enabled target is offered (at its prior with support 0 where
   * no neighbour scored it).
   */
  explorationShare: number;
  /**
   * A new target's trials, where outcomes are taken (feedback on): a target created with a prior is
   * recommended on `share` of the answers in a region (the category an outcome there is filed under)
   * until it has `outcomes` scores read against a baseline there (TRIAL_SHARE, TRIAL_OUTCOMES).
   * Absent: no trials.
   */
  trials?: { share: number; outcomes: number };
  /** Uniform [0, 1) numbers; Math.random by default (a seeded one makes tests repeatable). */
  random?: () => number;
}

/**
 * How the router's answers recommend while it learns from their outcomes: Thompson sampling capped
 * at the exploration share, and a new target's trials, each recommendation with the exact
 * probability the policy had of making it (`routing/explore.ts`, pure); and where a new target
 * starts (`priorAdvantages`).
 */
export class LearningPolicy implements RecommendationPolicy {
  constructor(private readonly options: LearningPolicyOptions) {}

  get offersAll(): boolean {
    return this.options.explorationShare > 0;
  }

  priorAdvantage(targets: readonly TargetInfo[], stats: TargetStats): (target: string) => number {
    return priorAdvantages(targets, stats);
  }

  recommend(input: RecommendationInput): Explored | undefined {
    const share = this.options.explorationShare;
    const onTrial = this.onTrial(input);
    if (share <= 0 && onTrial.length === 0) return undefined;
    const trials = this.options.trials;
    return explore(input.ranked, input.greedy, input.pick, {
      share,
      ...(this.options.random && { random: this.options.random }),
      ...(trials && onTrial.length > 0 && { trial: { share: trials.share, targets: onTrial } }),
    });
  }

  /**
   * The new targets on trial in the input's region ('' for none): targets created with a prior that
   * the request would take and that have fewer than `trials.outcomes` scores read against a
   * baseline there. Every trial ends by itself, region by region, as outcomes arrive.
   */
  private onTrial(input: RecommendationInput): string[] {
    const trials = this.options.trials;
    if (!trials || trials.share <= 0) return [];
    const here = input.stats.residuals?.byCategory.get(input.region ?? "");
    return input.targets
      .filter(
        (t) => t.priorScore != null && (here?.[t.name]?.n ?? 0) < trials.outcomes && input.accepts(t.name),
      )
      .map((t) => t.name);
  }
}
