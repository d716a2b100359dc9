import { randomUUID } from "node:crypto";
import { errorFields, type Logger } from "../logger.ts";
import type { KeptRanking } from "../store/feedback-store.ts";
import { keptRanking, type RankingKeeper, type RankingToKeep } from "./feedback-service.ts";

export interface RelayOptions {
  /** The primary's base URL (PRIMARY_URL). */
  primaryUrl: string;
  /** FEEDBACK_TOKEN: the primary takes rankings with it. */
  token: string;
  /** How long rankings gather before they are sent. Default 100 ms. */
  flushMs?: number;
  /** Most rankings held while the primary cannot be reached; the oldest go first. Default 10,000. */
  maxHeld?: number;
}

/**
 * A replica's rankings handed to the primary, which keeps them for outcomes: a replica has no
 * database, so each ranking it answers is sent (in batches, off the rank path) to the primary's
 * POST /feedback/rankings. An outcome is then reported to the primary as for its own rankings. While
 * the primary is unreachable they are held (up to `maxHeld`) and sent with the next batch.
 */
export class RankingRelay implements RankingKeeper {
  private held: KeptRanking[] = [];
  private timer: NodeJS.Timeout | undefined;
  private sending: Promise<void> | undefined;

  constructor(
    private readonly logger: Logger,
    private readonly options: RelayOptions,
  ) {}

  keep(ranking: RankingToKeep): string {
    const id = randomUUID();
    this.held.push(keptRanking(id, ranking));
    const max = this.options.maxHeld ?? 10_000;
    if (this.held.length > max) this.held.splice(0, this.held.length - max);
    this.timer ??= setTimeout(() => void this.flush(), this.options.flushMs ?? 100);
    return id;
  }

  /** Sends what is held; what the primary did not take stays held for the next turn. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.sending ??= this.send().finally(() => {
      this.sending = undefined;
    });
    return this.sending;
  }

  private async send(): Promise<void> {
    while (this.held.length > 0) {
      const batch = this.held.slice(0, 1000);
      try {
        const res = await fetch(new URL("/feedback/rankings", this.options.primaryUrl), {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${this.options.token}` },
          body: JSON.stringify({
            rankings: batch.map((r) => ({
              id: r.id,
              created_at: r.createdAt.toISOString(),
              query: r.query,
              category: r.category,
              targets: r.targets,
              recommended: r.recommended,
              propensity: r.propensity,
              explored: r.explored,
              uncertainty: r.uncertainty,
              reasons: r.reasons,
            })),
          }),
          signal: AbortSignal.timeout(10_000),
        });
        if (!res.ok) throw new Error(`the primary answered ${res.status}: ${await res.text()}`);
      } catch (err) {
        this.logger.warn("could not hand rankings to the primary; held for the next batch", {
          held: this.held.length,
          ...errorFields(err),
        });
        this.timer ??= setTimeout(() => void this.flush(), 2000);
        return;
      }
      this.held.splice(0, batch.length);
    }
  }

  async close(): Promise<void> {
    await this.flush();
    clearTimeout(this.timer);
  }
}
