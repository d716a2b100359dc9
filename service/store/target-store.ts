import { asc, eq, sql } from "drizzle-orm";
import type { Residual, TargetStats } from "../routing/aggregate.ts";
import type { Db } from "./database.ts";
import { scores, targets } from "./schema.ts";

/** A routing target with its prices and how many examples score it. */
export interface TargetRecord {
  name: string;
  inputPricePerMtok: number | null;
  outputPricePerMtok: number | null;
  enabled: boolean;
  /** The score assumed where no example tells; null for targets examples created. */
  priorScore: number | null;
  exampleCount: number;
}

export interface TargetPatch {
  inputPricePerMtok?: number | null;
  outputPricePerMtok?: number | null;
  enabled?: boolean;
  priorScore?: number | null;
}

/** The targets aggregate: names, prices and switches, with the score means ranking shrinks toward. */
export class TargetStore {
  private readonly targetFlagsQuery;
  /** Every row of `score_totals`, read straight off the driver: a few thousand rows (500 categories, 8 targets) mapped through the query builder cost ~10 ms a read. */
  private readonly totalsQuery;

  constructor(private readonly db: Db) {
    this.targetFlagsQuery = db
      .select({ name: targets.name, enabled: targets.enabled, priorScore: targets.priorScore })
      .from(targets)
      .prepare();
    this.totalsQuery = db.$client
      .prepare("select category, target, sum, weight, rsum, rn, rweight, rsq from score_totals")
      .raw();
  }

  listTargets(): TargetRecord[] {
    return this.targetRecords().all();
  }

  /** Every target with its prices, switch and example count, optionally only `name`. */
  private targetRecords(name?: string) {
    return this.db
      .select({
        name: targets.name,
        inputPricePerMtok: targets.inputPricePerMtok,
        outputPricePerMtok: targets.outputPricePerMtok,
        enabled: targets.enabled,
        priorScore: targets.priorScore,
        exampleCount: sql<number>`(select count(*) from ${scores} where ${scores.target} = ${targets.name})`,
      })
      .from(targets)
      .where(name === undefined ? undefined : eq(targets.name, name))
      .orderBy(asc(targets.name));
  }

  /** Prices of every target, without the example counts `listTargets` adds. */
  targetPrices(): Array<{
    name: string;
    inputPricePerMtok: number | null;
    outputPricePerMtok: number | null;
  }> {
    return this.db
      .select({
        name: targets.name,
        inputPricePerMtok: targets.inputPricePerMtok,
        outputPricePerMtok: targets.outputPricePerMtok,
      })
      .from(targets)
      .all();
  }

  /**
   * Mean score of each target over the operators' labels, overall and per category (the priors
   * ranking shrinks toward), and every target's residuals (its scores read against their baselines,
   * labels and outcomes; per category, '' for examples without one). Read from `score_totals`, which
   * triggers keep in step with every write, so the cost grows with categories × targets, not with
   * the number of scores.
   */
  targetStats(): TargetStats {
    const total = new Map<string, [number, number]>();
    const byCategory = new Map<string, Record<string, number>>();
    const countsByCategory = new Map<string, Record<string, number>>();
    const residualsOverall: Record<string, Residual> = {};
    const residualsByCategory = new Map<string, Record<string, Residual>>();
    const rows = this.totalsQuery.all() as Array<
      [string, string, number, number, number, number, number, number]
    >;
    for (const [category, target, sum, weight, rsum, rn, rweight, rsq] of rows) {
      const r = { category, target, sum, weight, rsum, rn, rweight, rsq };
      if (r.rn > 0) {
        const o = residualsOverall[r.target] ?? { sum: 0, weight: 0, n: 0, sq: 0 };
        residualsOverall[r.target] = {
          sum: o.sum + r.rsum,
          weight: o.weight + r.rweight,
          n: o.n + r.rn,
          sq: o.sq + r.rsq,
        };
        const c = residualsByCategory.get(r.category) ?? {};
        c[r.target] = { sum: r.rsum, weight: r.rweight, n: r.rn, sq: r.rsq };
        residualsByCategory.set(r.category, c);
      }
      // Weighted means: a label PATCHed from an outcome keeps counting what it was given.
      if (!(r.weight > 0)) continue;
      const t = total.get(r.target) ?? [0, 0];
      total.set(r.target, [t[0] + r.sum, t[1] + r.weight]);
      if (r.category !== "") {
        const m = byCategory.get(r.category) ?? {};
        m[r.target] = r.sum / r.weight;
        byCategory.set(r.category, m);
        const c = countsByCategory.get(r.category) ?? {};
        c[r.target] = r.weight;
        countsByCategory.set(r.category, c);
      }
    }
    return {
      overall: Object.fromEntries([...total].map(([t, [s, n]]) => [t, s / n])),
      byCategory,
      counts: {
        overall: Object.fromEntries([...total].map(([t, [, n]]) => [t, n])),
        byCategory: countsByCategory,
      },
      residuals: { overall: residualsOverall, byCategory: residualsByCategory },
    };
  }

  /** Name, enabled flag and prior of every target: the cheap read /rank needs. */
  targetFlags(): Array<{ name: string; enabled: boolean; priorScore: number | null }> {
    return this.targetFlagsQuery.all();
  }

  getTarget(name: string): TargetRecord | undefined {
    return this.targetRecords(name).get();
  }

  /**
   * Deletes target `name`: false (and nothing deleted) while a score or comparison names it or it
   * does not exist. Its totals (zero by then) go with it.
   */
  deleteTarget(name: string): boolean {
    const raw = this.db.$client;
    return raw.transaction(() => {
      const named = raw
        .prepare(
          `select exists(select 1 from scores where target = ?)
             or exists(select 1 from preferences where target_a = ? or target_b = ?)`,
        )
        .pluck()
        .get(name, name, name);
      if (named) return false;
      raw.prepare("delete from score_totals where target = ?").run(name);
      return raw.prepare("delete from targets where name = ?").run(name).changes > 0;
    })();
  }

  /**
   * Creates a target no example scores yet, with `patch` applied and a prior (the patch's, else
   * `defaultPrior`); undefined when it exists already.
   */
  createTarget(name: string, patch: TargetPatch, defaultPrior: number): TargetRecord | undefined {
    const now = new Date();
    const added = this.db
      .insert(targets)
      .values({
        name,
        inputPricePerMtok: patch.inputPricePerMtok ?? null,
        outputPricePerMtok: patch.outputPricePerMtok ?? null,
        enabled: patch.enabled ?? true,
        priorScore: patch.priorScore ?? defaultPrior,
        createdAt: now,
        updatedAt: now,
      })
      .onConflictDoNothing()
      .run().changes;
    return added > 0 ? this.getTarget(name) : undefined;
  }

  /** Applies a patch to an existing target; undefined when there is no such target. */
  updateTarget(name: string, patch: TargetPatch): TargetRecord | undefined {
    const changed = this.db
      .update(targets)
      .set({ ...patch, updatedAt: new Date() })
      .where(eq(targets.name, name))
      .run().changes;
    return changed > 0 ? this.getTarget(name) : undefined;
  }
}
