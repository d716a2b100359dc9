import { AppError } from "../errors.ts";
import type { TargetPatch, TargetRecord, TargetStore } from "../store/target-store.ts";

export type { TargetRecord } from "../store/target-store.ts";

/** What deleting a target takes with it, beyond its own row (see `TargetService.delete`). */
export interface TargetRemoval {
  /** Takes the target out of every example naming it, then runs `finish` under the write lock, all or nothing. */
  examples(name: string, finish: () => void): Promise<{ rewritten: number; deleted: number }>;
  /** Forgets the outcomes reported for it (so a pending one cannot bring it back). */
  outcomes(name: string): void;
}

/** Routing targets: listed with their prices and example counts, priced, switched on or off, deleted. */
export class TargetService {
  constructor(
    private readonly store: TargetStore,
    private readonly removal?: TargetRemoval,
  ) {}

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

  /**
   * Deletes target `name` and everything that names it, all or nothing: its score in every example
   * (each operator's label then read against the mean of the scores left), the comparisons naming
   * it, examples left scoring nothing, and the outcomes reported for it. /rank no longer offers it;
   * an outcome naming it on an older ranking is refused; a later write that scores it creates it
   * anew. NOT_FOUND when there is none; CONFLICT when a write named it again meanwhile.
   */
  async delete(name: string): Promise<{ rewritten: number; deleted: number }> {
    if (!this.store.getTarget(name)) throw new AppError("NOT_FOUND", `no target ${name}`);
    const removal = this.removal;
    if (!removal) throw new AppError("NOT_READY", "targets cannot be deleted here");
    return removal.examples(name, () => {
      if (!this.store.deleteTarget(name)) {
        throw new AppError(
          "CONFLICT",
          `target ${name} was scored again while it was being deleted: try again`,
        );
      }
      removal.outcomes(name);
    });
  }

  /** The mean of the targets' overall mean scores: a new target's prior when none is given. */
  private othersMean(): number {
    const means = Object.values(this.store.targetStats().overall);
    return means.length > 0 ? means.reduce((a, b) => a + b, 0) / means.length : 0.5;
  }
}
