import { AppError } from "../errors.ts";
import type { TargetPatch, TargetRecord, TargetStore } from "../store/target-store.ts";

export type { TargetRecord } from "../store/target-store.ts";

/** Routing targets: listed with their prices and example counts, priced and switched on or off. */
export class TargetService {
  constructor(private readonly store: TargetStore) {}

  list(): TargetRecord[] {
    return this.store.listTargets();
  }

  /** Applies `patch` to an existing target; NOT_FOUND when there is none (seeding prices only what exists). */
  update(name: string, patch: TargetPatch): TargetRecord {
    const updated = this.store.updateTarget(name, patch);
    if (!updated) throw new AppError("NOT_FOUND", `no target ${name}`);
    return updated;
  }

  /**
   * Applies `patch` to target `name`, creating it when it does not exist: a new target no example
   * scores yet, offered by /rank with support 0 at its prior (`patch.priorScore`, else the other
   * targets' mean score) until outcomes or examples say where it is good.
   */
  put(name: string, patch: TargetPatch): { target: TargetRecord; created: boolean } {
    for (let attempt = 0; ; attempt++) {
      const updated = this.store.updateTarget(name, patch);
      if (updated) return { target: updated, created: false };
      const created = this.store.createTarget(name, patch, this.othersMean());
      if (created) return { target: created, created: true };
      // Created meanwhile by an example's write: update it on the next turn.
      if (attempt > 0) throw new AppError("CONFLICT", `target ${name} changed while it was being created`);
    }
  }

  /** The mean of the targets' overall mean scores: a new target's prior when none is given. */
  private othersMean(): number {
    const means = Object.values(this.store.targetStats().overall);
    return means.length > 0 ? means.reduce((a, b) => a + b, 0) / means.length : 0.5;
  }
}
