import { randomUUID } from "node:crypto";
import createClient, { type Client } from "openapi-fetch";
import { keptRanking, type RankingKeeper, type RankingToKeep } from "../learning/keeper.ts";
import { errorFields, type Logger } from "../logger.ts";
import type { KeptRanking } from "../store/feedback-store.ts";
import type { paths } from "./api-schema.ts";

export interface RelayOptions {
  /** The primary's base URL (PRIMARY_URL). */
  primaryUrl: string;
  /** REPLICA_TOKEN: the primary takes rankings with it (never the feedback token). */
  token: string;
  /** How long rankings gather before they are sent. Default 100 ms. */
  flushMs?: number;
  /** Most rankings held while the primary cannot be reached; the oldest go first. Default 10,000. */
  maxHeld?: number;
  /** Most rankings a batch. Default 1,000. */
  batchSize?: number;
  /** Told what became of rankings: sent (the primary kept them) or dropped (it refused them). */
  onResult?: (result: "sent" | "dropped", count: number) => void;
  /** Replaces `fetch` (tests). */
  fetch?: typeof fetch;
}

/** Statuses after which a batch is sent again: the primary could not take it now, or not this token yet. */
const RETRIED = new Set([401, 408, 425, 429, 500, 502, 503, 504]);

/**
 * A replica's rankings handed to the primary, which keeps them for outcomes: a replica has no
 * database, so each ranking it answers is sent (in batches, off the rank path) to the primary's
 * POST /feedback/rankings through the service's own generated client. An outcome is then reported
 * to the primary as for its own rankings. While the primary is unreachable (or busy) they are held,
 * up to `maxHeld`, and sent with the next batch. A ranking the primary refuses is dropped with a log
 * line and a count, and never holds back the others: the primary answers for each ranking, and a
 * batch refused whole (a body it will never take) is dropped, halved first when it was too large.
 */
export class RankingRelay implements RankingKeeper {
  private held: KeptRanking[] = [];
  private timer: NodeJS.Timeout | undefined;
  private sending: Promise<void> | undefined;
  private readonly client: Client<paths>;
  private batchSize: number;

  constructor(
    private readonly logger: Logger,
    private readonly options: RelayOptions,
  ) {
    this.batchSize = options.batchSize ?? 1000;
    this.client = createClient<paths>({
      baseUrl: options.primaryUrl.replace(/\/+$/, ""),
      headers: { authorization: `Bearer ${options.token}` },
      ...(options.fetch && { fetch: options.fetch }),
    });
  }

  keep(ranking: RankingToKeep): string {
    const id = randomUUID();
    this.held.push(keptRanking(id, ranking));
    const max = this.options.maxHeld ?? 10_000;
    if (this.held.length > max) this.held.splice(0, this.held.length - max);
    this.timer ??= setTimeout(() => void this.flush(), this.options.flushMs ?? 100);
    return id;
  }

  /** Rankings waiting to be sent. */
  get waiting(): number {
    return this.held.length;
  }

  /** Sends what is held; what the primary could not take now stays held for the next turn. */
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
      const batch = this.held.slice(0, this.batchSize);
      let answer: Awaited<ReturnType<RankingRelay["post"]>>;
      try {
        answer = await this.post(batch);
      } catch (err) {
        this.retryLater("could not reach the primary", errorFields(err));
        return;
      }
      const { status, data, error } = answer;
      if (data) {
        this.held.splice(0, batch.length);
        const dropped = data.refused.length;
        this.options.onResult?.("sent", batch.length - dropped);
        if (dropped > 0) {
          this.options.onResult?.("dropped", dropped);
          this.logger.warn("the primary refused handed-over rankings; dropped", {
            dropped,
            first: data.refused[0],
          });
        }
        continue;
      }
      if (RETRIED.has(status)) {
        this.retryLater(`the primary answered ${status}`, { status, error });
        return;
      }
      if (status === 413 && batch.length > 1) {
        this.batchSize = Math.max(1, Math.floor(batch.length / 2));
        continue;
      }
      // A body the primary will never take: holding it would block every later ranking.
      this.held.splice(0, batch.length);
      this.options.onResult?.("dropped", batch.length);
      this.logger.warn("the primary refused a batch of handed-over rankings; dropped", {
        status,
        dropped: batch.length,
        error,
      });
    }
  }

  private post(batch: readonly KeptRanking[]) {
    return this.client
      .POST("/feedback/rankings", {
        body: {
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
            predictions: r.predictions,
            similarities: r.similarities,
          })),
        },
        signal: AbortSignal.timeout(10_000),
      })
      .then(({ data, error, response }) => ({ status: response.status, data, error }));
  }

  private retryLater(message: string, fields: Record<string, unknown>): void {
    this.logger.warn(`${message}; rankings held for the next batch`, { held: this.held.length, ...fields });
    this.timer ??= setTimeout(() => void this.flush(), 2000);
  }

  async close(): Promise<void> {
    await this.flush();
    clearTimeout(this.timer);
  }
}
