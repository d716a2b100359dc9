import type { TuningPolicy } from "../config.ts";

/** What the schedule knows about the examples, against the settings in force. */
export interface DataState {
  /** How many examples there are now. */
  examples: number;
  /** Example writes and deletes since the settings in force were tuned (all of them when never tuned). */
  changed: number;
  /** How many examples the settings in force were tuned on; undefined when never tuned. */
  tunedOn: number | undefined;
}

/** Whether the examples changed enough since the last tuning to call for a run. */
export function callsForRun(policy: TuningPolicy, data: DataState, minExamples: number): boolean {
  if (data.examples < minExamples || data.changed <= 0) return false;
  if (data.tunedOn === undefined) return true;
  return data.changed >= policy.changeCount || data.changed >= policy.changeShare * Math.max(data.tunedOn, 1);
}

/**
 * The settings in force were tuned on at most half of the examples as they are now (or on none):
 * a run is then due as soon as the writes are over, whatever the minimum interval, which only
 * guards the CPU against runs that would change little.
 */
export function outgrown(data: Pick<DataState, "changed" | "tunedOn">): boolean {
  return data.tunedOn === undefined || data.changed >= Math.max(data.tunedOn, 1);
}

/**
 * When a called-for run starts (epoch ms): once no example was written for `delayMs` (a burst of
 * writes lands first), but no later than `maxWaitMs` after the change that called for it; and not
 * before `minIntervalMs` after the last run ended, unless the data outgrew the settings in force.
 */
export function runAt(
  policy: TuningPolicy,
  times: { calledAt: number; lastWriteAt: number; lastRunEndedAt: number | undefined },
  outgrownData: boolean,
): number {
  const quiet = Math.min(times.lastWriteAt + policy.delayMs, times.calledAt + policy.maxWaitMs);
  const interval =
    outgrownData || times.lastRunEndedAt === undefined ? 0 : times.lastRunEndedAt + policy.minIntervalMs;
  return Math.max(quiet, interval, times.calledAt);
}
