import { and, eq } from "drizzle-orm";
import type { Db } from "./database.ts";
import { serviceState } from "./schema.ts";

/** Keyed facts about the database's life (`service_state`). */
export class StateStore {
  constructor(private readonly db: Db) {}

  get(key: string): string | undefined {
    return this.db.select().from(serviceState).where(eq(serviceState.key, key)).get()?.value;
  }

  set(key: string, value: string): void {
    const row = { value, updatedAt: new Date() };
    this.db
      .insert(serviceState)
      .values({ key, ...row })
      .onConflictDoUpdate({ target: serviceState.key, set: row })
      .run();
  }

  /** Sets `key` to `value` only while it still holds `expected` (one statement: no race); true when it did. */
  swap(key: string, expected: string, value: string): boolean {
    return (
      this.db
        .update(serviceState)
        .set({ value, updatedAt: new Date() })
        .where(and(eq(serviceState.key, key), eq(serviceState.value, expected)))
        .run().changes > 0
    );
  }

  delete(key: string, expected?: string): void {
    this.db
      .delete(serviceState)
      .where(
        and(eq(serviceState.key, key), expected === undefined ? undefined : eq(serviceState.value, expected)),
      )
      .run();
  }
}
