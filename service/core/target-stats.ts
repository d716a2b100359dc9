import type { TargetStats } from "../routing/aggregate.ts";
import type { ExampleStore } from "../store/example-store.ts";

/**
 * Per-target mean scores (overall and per category), read from SQLite and kept for `ttlMs`;
 * this process's own writes invalidate it at once, a replica's copy refreshes within the TTL.
 */
export class TargetStatsCache {
  private cached: { stats: TargetStats; at: number } | undefined;

  constructor(
    private readonly store: ExampleStore,
    /** How long a read stays fresh. Default 30 s. */
    private readonly ttlMs = 30_000,
  ) {}

  get(): TargetStats {
    const now = Date.now();
    if (!this.cached || now - this.cached.at > this.ttlMs)
      this.cached = { stats: this.store.targetStats(), at: now };
    return this.cached.stats;
  }

  invalidate(): void {
    this.cached = undefined;
  }
}
