import { and, asc, count, eq, gte, lt } from "drizzle-orm";
import type { Db } from "./database.ts";
import { outcomes, rankings } from "./schema.ts";

/** A ranking kept for feedback. */
export interface KeptRanking {
  id: string;
  createdAt: Date;
  query: string;
  /** The targets offered, best first. */
  targets: string[];
  recommended: string | null;
  /** The policy's probability of `recommended`; null when nothing was recommended. */
  propensity: number | null;
  /** Whether `recommended` was an exploration. */
  explored: boolean;
}

/** Rankings kept for feedback and the outcomes reported on them. */
export class FeedbackStore {
  constructor(private readonly db: Db) {}

  /** Keeps `batch` in one transaction. */
  keep(batch: readonly KeptRanking[]): void {
    if (batch.length === 0) return;
    this.db.transaction((tx) => {
      for (const r of batch) {
        tx.insert(rankings)
          .values({ ...r, targets: JSON.stringify(r.targets) })
          .onConflictDoNothing()
          .run();
      }
    });
  }

  /** The ranking `id`, if it was kept at or after `since`. */
  ranking(id: string, since: Date): KeptRanking | undefined {
    const row = this.db
      .select()
      .from(rankings)
      .where(and(eq(rankings.id, id), gte(rankings.createdAt, since)))
      .get();
    return row && { ...row, targets: JSON.parse(row.targets) as string[] };
  }

  /** Records `score` for (ranking, target), replacing an earlier one; returns every score of the ranking. */
  recordOutcome(rankingId: string, target: string, score: number, at: Date): Record<string, number> {
    return this.db.transaction((tx) => {
      tx.insert(outcomes)
        .values({ rankingId, target, score, createdAt: at, updatedAt: at })
        .onConflictDoUpdate({ target: [outcomes.rankingId, outcomes.target], set: { score, updatedAt: at } })
        .run();
      const rows = tx
        .select({ target: outcomes.target, score: outcomes.score })
        .from(outcomes)
        .where(eq(outcomes.rankingId, rankingId))
        .all();
      return Object.fromEntries(rows.map((r) => [r.target, r.score]));
    });
  }

  /** Forgets rankings kept before `before`, and the oldest beyond `max`; returns how many went. */
  prune(before: Date, max: number): number {
    let gone = this.db.delete(rankings).where(lt(rankings.createdAt, before)).run().changes;
    const kept = this.db.select({ n: count() }).from(rankings).get()?.n ?? 0;
    if (kept > max) {
      const oldest = this.db
        .select({ createdAt: rankings.createdAt })
        .from(rankings)
        .orderBy(asc(rankings.createdAt))
        .limit(1)
        .offset(kept - max)
        .get();
      if (oldest)
        gone += this.db.delete(rankings).where(lt(rankings.createdAt, oldest.createdAt)).run().changes;
    }
    return gone;
  }

  countRankings(): number {
    return this.db.select({ n: count() }).from(rankings).get()?.n ?? 0;
  }
}
