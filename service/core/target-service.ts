import { AppError } from "../errors.ts";
import type { TargetPatch, TargetRecord, TargetStore } from "../store/target-store.ts";

export type { TargetRecord } from "../store/target-store.ts";

/** Routing targets: listed with their prices and example counts, priced and switched on or off. */
export class TargetService {
  constructor(private readonly store: TargetStore) {}

  list(): TargetRecord[] {
    return this.store.listTargets();
  }

  /** Applies `patch`; NOT_FOUND when no example scores `name` (a target exists once one does). */
  update(name: string, patch: TargetPatch): TargetRecord {
    const updated = this.store.updateTarget(name, patch);
    if (!updated)
      throw new AppError("NOT_FOUND", `no target ${name}: a target exists once an example scores it`);
    return updated;
  }
}
