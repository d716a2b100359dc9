import type { TargetInfo, TargetStats } from "../routing/aggregate.ts";

/**
 * Where a new target starts: its prior advantage over the field. A target created with a prior score
 * (`PUT /admin/targets/{name}` with `prior_score`, or the field's mean when none was given) starts
 * that far above or below the mean of the other targets' label means, held with the spread of
 * `ADVANTAGE_PRIOR_SD` (a few residuals' worth), so its first outcomes move it; the others start at 0.
 */
export function priorAdvantages(
  targets: readonly TargetInfo[],
  stats: TargetStats,
): (target: string) => number {
  const given = new Map(
    targets.filter((t) => t.priorScore != null).map((t) => [t.name, t.priorScore as number]),
  );
  if (given.size === 0) return () => 0;
  return (target) => {
    const prior = given.get(target);
    if (prior === undefined) return 0;
    const others = Object.entries(stats.overall).filter(([t]) => t !== target);
    if (others.length === 0) return 0;
    return prior - others.reduce((s, [, m]) => s + m, 0) / others.length;
  };
}
