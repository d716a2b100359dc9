import type { TargetStats } from "../routing/aggregate.ts";
import type { ExampleStore } from "../store/example-store.ts";

/**
 * Per-target mean scores (overall and per category) from SQLite, for shrinkage and fallback.
 * The aggregate reads every score, so it is not recomputed inside a request: after a write, or
 * once `ttlMs` has passed (a replica's copy changes under it), the next read still gets the
 * previous value and schedules a refresh. Only the very first read computes in line.
 */
export class TargetStatsCache {
  private cached: { stats: TargetStats; at: number } | undefined;
  private stale = false;
  private refreshing = false;

  constructor(
    private readonly store: ExampleStore,
    /** How long a read stays fresh. Default 30 s. */
    private readonly ttlMs = 30_000,
  ) {}

  get(): TargetStats {
    if (!this.cached) this.cached = { stats: this.store.targetStats(), at: Date.now() };
    else if ((this.stale || Date.now() - this.cached.at > this.ttlMs) && !this.refreshing)
      this.scheduleRefresh();
    return this.cached.stats;
  }

  /** Marks the statistics out of date (a write committed). */
  invalidate(): void {
    this.stale = true;
  }

  private scheduleRefresh(): void {
    this.refreshing = true;
    setImmediate(() => {
      try {
        const stats = this.store.targetStats();
        this.stale = false;
        this.cached = { stats, at: Date.now() };
      } catch {
        // The database closed (shutdown) or is briefly unreadable: keep serving the last value.
      } finally {
        this.refreshing = false;
      }
    });
  }
}
