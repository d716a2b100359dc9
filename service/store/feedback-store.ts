import { and, asc, count, desc, eq, gt, gte, lt, sql } from "drizzle-orm";
import type { Pair } from "../routing/aggregate.ts";
import type { Db } from "./database.ts";
import { type OUTCOME_STATUSES, outcomes, pairOutcomes, rankings } from "./schema.ts";

/** A ranking kept for feedback. */
export interface KeptRanking {
  id: string;
  createdAt: Date;
  query: string;
  /** The category an outcome's example is filed under (the caller's, or the neighbours' dominant one). */
  category: string | null;
  /** The targets offered, best first. */
  targets: string[];
  recommended: string | null;
  /** The policy's probability of `recommended`; null when nothing was recommended. */
  propensity: number | null;
  /** Whether `recommended` was an exploration. */
  explored: boolean;
  /** How unsure the router was, in [0, 1], and why. */
  uncertainty: number;
  reasons: string[];
  /** The router's label estimate of each target its labels supported: what outcomes are read against. */
  predictions: Record<string, number>;
  /** The nearest neighbours' similarities, nearest first (up to 5). */
  similarities: number[];
}

/** What an operator decides about an outcome held for review, and what it is before. */
export type OutcomeStatus = (typeof OUTCOME_STATUSES)[number];

/** An outcome as reported: a score for one target, or a preference between two. */
export type Outcome =
  | { kind: "score"; target: string; score: number }
  | { kind: "preference"; preferred: string; over: string; tie: boolean };

/** An outcome held for review, with the ranking it is about. */
export interface PendingOutcome {
  rankingId: string;
  query: string;
  outcome: Outcome;
  receivedAt: Date;
}

/** Rankings kept for feedback and the outcomes reported on them. */
export class FeedbackStore {
  constructor(private readonly db: Db) {}

  /** Forgets every outcome (scores and comparisons, whatever their status) naming `target`; returns how many. */
  forgetTarget(target: string): number {
    const raw = this.db.$client;
    return raw.transaction(
      () =>
        raw.prepare("delete from outcomes where target = ?").run(target).changes +
        raw.prepare("delete from pair_outcomes where target_a = ? or target_b = ?").run(target, target)
          .changes,
    )();
  }

  /** Keeps `batch` in one transaction. */
  keep(batch: readonly KeptRanking[]): void {
    if (batch.length === 0) return;
    this.db.transaction((tx) => {
      for (const r of batch) {
        tx.insert(rankings)
          .values({
            ...r,
            targets: JSON.stringify(r.targets),
            reasons: JSON.stringify(r.reasons),
            predictions: JSON.stringify(r.predictions),
            similarities: JSON.stringify(r.similarities),
          })
          .onConflictDoNothing()
          .run();
      }
    });
  }

  /** The ranking `id`, if it was kept at or after `since` (any time when `since` is undefined). */
  ranking(id: string, since?: Date): KeptRanking | undefined {
    const row = this.db
      .select()
      .from(rankings)
      .where(and(eq(rankings.id, id), since && gte(rankings.createdAt, since)))
      .get();
    return row && keptOf(row);
  }

  /**
   * Records an outcome on ranking `rankingId` with `status`, replacing an earlier one of the same
   * status for the same target (a score) or the same pair (a preference, either way round). An
   * outcome of another status stays: a pending replacement leaves the accepted outcome as it is
   * until an operator decides.
   */
  record(rankingId: string, outcome: Outcome, status: OutcomeStatus, at: Date): void {
    if (outcome.kind === "score") {
      const { target, score } = outcome;
      this.db
        .insert(outcomes)
        .values({ rankingId, target, score, status, createdAt: at, updatedAt: at })
        .onConflictDoUpdate({
          target: [outcomes.rankingId, outcomes.target, outcomes.status],
          set: { score, updatedAt: at },
        })
        .run();
      return;
    }
    const [targetA, targetB, aWins] = orderedPair(outcome);
    this.db
      .insert(pairOutcomes)
      .values({ rankingId, targetA, targetB, aWins, status, createdAt: at, updatedAt: at })
      .onConflictDoUpdate({
        target: [pairOutcomes.rankingId, pairOutcomes.targetA, pairOutcomes.targetB, pairOutcomes.status],
        set: { aWins, updatedAt: at },
      })
      .run();
  }

  /** The accepted evidence of a ranking: its scores and its comparisons (one game each). */
  accepted(rankingId: string): { scores: Record<string, number>; preferences: Pair[] } {
    const scores = this.db
      .select({ target: outcomes.target, score: outcomes.score })
      .from(outcomes)
      .where(and(eq(outcomes.rankingId, rankingId), eq(outcomes.status, "accepted")))
      .all();
    const pairs = this.db
      .select()
      .from(pairOutcomes)
      .where(and(eq(pairOutcomes.rankingId, rankingId), eq(pairOutcomes.status, "accepted")))
      .orderBy(asc(pairOutcomes.targetA), asc(pairOutcomes.targetB))
      .all();
    return {
      scores: Object.fromEntries(scores.map((r) => [r.target, r.score])),
      preferences: pairs.map((p): Pair => [p.targetA, p.targetB, p.aWins, 1]),
    };
  }

  /** Outcomes held for review, oldest first, with their rankings' prompts. */
  pending(limit: number): PendingOutcome[] {
    const scores = this.db
      .select({ o: outcomes, query: rankings.query })
      .from(outcomes)
      .innerJoin(rankings, eq(rankings.id, outcomes.rankingId))
      .where(eq(outcomes.status, "pending"))
      .orderBy(asc(outcomes.updatedAt))
      .limit(limit)
      .all()
      .map(
        ({ o, query }): PendingOutcome => ({
          rankingId: o.rankingId,
          query,
          outcome: { kind: "score", target: o.target, score: o.score },
          receivedAt: o.updatedAt,
        }),
      );
    const pairs = this.db
      .select({ p: pairOutcomes, query: rankings.query })
      .from(pairOutcomes)
      .innerJoin(rankings, eq(rankings.id, pairOutcomes.rankingId))
      .where(eq(pairOutcomes.status, "pending"))
      .orderBy(asc(pairOutcomes.updatedAt))
      .limit(limit)
      .all()
      .map(
        ({ p, query }): PendingOutcome => ({
          rankingId: p.rankingId,
          query,
          outcome: preferenceOf(p.targetA, p.targetB, p.aWins),
          receivedAt: p.updatedAt,
        }),
      );
    return [...scores, ...pairs]
      .sort((a, b) => a.receivedAt.getTime() - b.receivedAt.getTime())
      .slice(0, limit);
  }

  /** Counts of outcomes by status. */
  counts(): Record<OutcomeStatus, number> {
    const out: Record<OutcomeStatus, number> = { accepted: 0, pending: 0, rejected: 0 };
    for (const table of [outcomes, pairOutcomes]) {
      for (const r of this.db
        .select({ status: table.status, n: count() })
        .from(table)
        .groupBy(table.status)
        .all()) {
        out[r.status] += r.n;
      }
    }
    return out;
  }

  /**
   * Sets every pending outcome of `rankingId` to `decision`, each replacing the outcome of that
   * status it was reported over (accepted: the one it replaces; rejected: an earlier rejection);
   * returns how many changed.
   */
  review(rankingId: string, decision: "accepted" | "rejected", at: Date): number {
    const raw = this.db.$client;
    return raw.transaction(() => {
      raw
        .prepare(
          `delete from outcomes where ranking_id = ? and status = ? and target in
           (select target from outcomes where ranking_id = ? and status = 'pending')`,
        )
        .run(rankingId, decision, rankingId);
      raw
        .prepare(
          `delete from pair_outcomes where ranking_id = ? and status = ? and (target_a, target_b) in
           (select target_a, target_b from pair_outcomes where ranking_id = ? and status = 'pending')`,
        )
        .run(rankingId, decision, rankingId);
      let changed = 0;
      for (const table of [outcomes, pairOutcomes]) {
        changed += this.db
          .update(table)
          .set({ status: decision, updatedAt: at })
          .where(and(eq(table.rankingId, rankingId), eq(table.status, "pending")))
          .run().changes;
      }
      return changed;
    })();
  }

  /**
   * Accepted outcomes per target (a preference counts for both targets) in buckets of `bucketMs`
   * since `since`: how outcomes arrive.
   */
  arrivals(since: Date, bucketMs: number): Array<{ bucket: number; target: string; outcomes: number }> {
    // Inlined as an integer: a bound JS number is a REAL to SQLite, and the division would not truncate.
    const width = sql.raw(String(Math.max(1, Math.floor(bucketMs))));
    const b = sql<number>`(${outcomes.updatedAt} / ${width}) * ${width}`;
    const scores = this.db
      .select({ bucket: b, target: outcomes.target, outcomes: count() })
      .from(outcomes)
      .where(and(eq(outcomes.status, "accepted"), gte(outcomes.updatedAt, since)))
      .groupBy(b, outcomes.target)
      .all();
    const pb = sql<number>`(${pairOutcomes.updatedAt} / ${width}) * ${width}`;
    const pairs = this.db
      .select({ bucket: pb, a: pairOutcomes.targetA, bt: pairOutcomes.targetB, outcomes: count() })
      .from(pairOutcomes)
      .where(and(eq(pairOutcomes.status, "accepted"), gte(pairOutcomes.updatedAt, since)))
      .groupBy(pb, pairOutcomes.targetA, pairOutcomes.targetB)
      .all();
    const sums = new Map<string, { bucket: number; target: string; outcomes: number }>();
    const add = (bucket: number, target: string, n: number) => {
      const key = `${bucket}\u0000${target}`;
      const s = sums.get(key) ?? { bucket, target, outcomes: 0 };
      s.outcomes += n;
      sums.set(key, s);
    };
    for (const r of scores) add(r.bucket, r.target, r.outcomes);
    for (const r of pairs) {
      add(r.bucket, r.a, r.outcomes);
      add(r.bucket, r.bt, r.outcomes);
    }
    return [...sums.values()].sort((x, y) => x.bucket - y.bucket || x.target.localeCompare(y.target));
  }

  /**
   * The label queue: kept rankings since `since` the router was unsure about, least sure first
   * (then newest), leaving out those with an accepted outcome (they are labelled already).
   */
  unsure(since: Date, limit: number): KeptRanking[] {
    const labelled = sql`select ranking_id from outcomes where status = 'accepted'
      union select ranking_id from pair_outcomes where status = 'accepted'`;
    return this.db
      .select()
      .from(rankings)
      .where(
        and(
          gt(rankings.uncertainty, 0),
          gte(rankings.createdAt, since),
          sql`${rankings.id} not in (${labelled})`,
        ),
      )
      .orderBy(desc(rankings.uncertainty), desc(rankings.createdAt))
      .limit(limit)
      .all()
      .map(keptOf);
  }

  /**
   * Forgets rankings kept before `before`, and the oldest beyond `max`, except those with outcomes
   * waiting for review (an operator may still accept them), and the outcomes of those that went;
   * returns how many rankings went.
   */
  prune(before: Date, max: number, maxBytes = Number.POSITIVE_INFINITY): number {
    const waiting = sql`select ranking_id from outcomes where status = 'pending'
      union select ranking_id from pair_outcomes where status = 'pending'`;
    const keep = sql`${rankings.id} not in (${waiting})`;
    let gone = this.db
      .delete(rankings)
      .where(and(lt(rankings.createdAt, before), keep))
      .run().changes;
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
        gone += this.db
          .delete(rankings)
          .where(and(lt(rankings.createdAt, oldest.createdAt), keep))
          .run().changes;
    }
    // Bytes: the newest rankings whose prompts and targets fit in `maxBytes` stay.
    const over = this.db.$client
      .prepare(
        `select created_at from (select created_at, sum(length(cast(query as blob)) + length(targets))
           over (order by created_at desc, id desc) as total from rankings) where total > ? limit 1`,
      )
      .pluck()
      .get(Number.isFinite(maxBytes) ? maxBytes : Number.MAX_SAFE_INTEGER) as number | undefined;
    if (over !== undefined) {
      gone += this.db
        .delete(rankings)
        .where(and(lt(rankings.createdAt, new Date(over + 1)), keep))
        .run().changes;
    }
    // Outcomes go with their rankings (what they taught stays in the rankings' examples).
    for (const table of [outcomes, pairOutcomes]) {
      this.db
        .delete(table)
        .where(sql`${table.rankingId} not in (select ${rankings.id} from ${rankings})`)
        .run();
    }
    return gone;
  }

  /** The nearest similarities of the latest `limit` rankings that kept them, newest first. */
  recentSimilarities(limit: number): number[][] {
    return (
      this.db.$client
        .prepare(
          "select similarities from rankings where similarities <> '[]' order by created_at desc limit ?",
        )
        .pluck()
        .all(limit) as string[]
    ).map((s) => JSON.parse(s) as number[]);
  }

  countRankings(): number {
    return this.db.select({ n: count() }).from(rankings).get()?.n ?? 0;
  }
}

/** A ranking row as the service reads it. */
function keptOf(row: typeof rankings.$inferSelect): KeptRanking {
  return {
    ...row,
    targets: JSON.parse(row.targets) as string[],
    reasons: JSON.parse(row.reasons) as string[],
    predictions: JSON.parse(row.predictions) as Record<string, number>,
    similarities: JSON.parse(row.similarities) as number[],
  };
}

/** A preference as stored: the pair in name order with the first's share of the win. */
function orderedPair(p: { preferred: string; over: string; tie: boolean }): [string, string, number] {
  const win = p.tie ? 0.5 : 1;
  return p.preferred < p.over ? [p.preferred, p.over, win] : [p.over, p.preferred, 1 - win];
}

/** The stored pair back as a preference. */
function preferenceOf(a: string, b: string, aWins: number): Outcome {
  if (aWins === 0.5) return { kind: "preference", preferred: a, over: b, tie: true };
  return aWins > 0.5
    ? { kind: "preference", preferred: a, over: b, tie: false }
    : { kind: "preference", preferred: b, over: a, tie: false };
}
