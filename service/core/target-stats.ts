import type { TargetStats } from "../routing/aggregate.ts";
import type { TargetStore } from "../store/target-store.ts";

/**
 * Per-target mean scores (overall and per category), for shrinkage and fallback. SQLite keeps the
 * totals up to date (`score_totals`), so a read costs one small table; it is still cached between
 * writes so that /rank does not repeat it. After a write, or once `ttlMs` has passed (a replica's
 * copy changes under it), the next read reads again.
 */
export class TargetStatsCache {
  private cached: { stats: TargetStats; at: number } | undefined;

  constructor(
    private readonly store: TargetStore,
    /** How long a read stays fresh. Default 5 s. */
    private readonly ttlMs = 5_000,
  ) {}

  get(): TargetStats {
    if (!this.cached || Date.now() - this.cached.at > this.ttlMs) {
      this.cached = { stats: this.store.targetStats(), at: Date.now() };
    }
    return this.cached.stats;
  }

  /** Marks the statistics out of date (a write committed). */
  invalidate(): void {
    this.cached = undefined;
  }
}
