import { eq } from "drizzle-orm";
import type { RankingSettings } from "../routing/aggregate.ts";
import type { Db } from "./database.ts";
import { dataVersion, routingSettings } from "./schema.ts";

/** The ranking settings row as stored. */
export interface StoredSettings {
  k: number;
  settings: RankingSettings;
  source: "tuned" | "pinned";
  /** Example count and data version when tuned. */
  examples: number | null;
  dataVersion: number | null;
  /** Cross-validation's report on these settings (metric, baselines, curves). */
  evaluation: unknown;
  tunedAt: Date | null;
  updatedAt: Date;
}

/** Ranking settings and the data version in SQLite, so they survive restarts and reach replicas. */
export class SettingsStore {
  constructor(private readonly db: Db) {}

  /** How many example writes and deletes SQLite has seen (kept by triggers). */
  dataVersion(): number {
    return this.db.select().from(dataVersion).where(eq(dataVersion.id, 1)).get()?.changes ?? 0;
  }

  read(): StoredSettings | undefined {
    const row = this.db.select().from(routingSettings).where(eq(routingSettings.id, 1)).get();
    if (!row) return undefined;
    const { k, ...settings } = row.settings as RankingSettings & { k: number };
    return {
      k,
      settings,
      source: row.source,
      examples: row.examples,
      dataVersion: row.dataVersion,
      evaluation: row.evaluation,
      tunedAt: row.tunedAt,
      updatedAt: row.updatedAt,
    };
  }

  /** Replaces the row in one statement: readers see the old settings or the new, never a mix. */
  write(s: Omit<StoredSettings, "updatedAt">): void {
    const row = {
      settings: { k: s.k, ...s.settings },
      source: s.source,
      examples: s.examples,
      dataVersion: s.dataVersion,
      evaluation: s.evaluation,
      tunedAt: s.tunedAt,
      updatedAt: new Date(),
    };
    this.db
      .insert(routingSettings)
      .values({ id: 1, ...row })
      .onConflictDoUpdate({ target: routingSettings.id, set: row })
      .run();
  }

  /** Drops the row: ranking goes back to the safe defaults until tuning writes one. */
  clear(): void {
    this.db.delete(routingSettings).where(eq(routingSettings.id, 1)).run();
  }
}
