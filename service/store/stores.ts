import type { Db } from "./database.ts";
import { ExampleStore } from "./example-store.ts";
import { FeedbackStore } from "./feedback-store.ts";
import { ImportJournal } from "./import-journal.ts";
import { IndexLedger } from "./index-ledger.ts";
import { SettingsStore } from "./settings-store.ts";
import { StagingStore } from "./staging-store.ts";
import { StateStore } from "./state-store.ts";
import { TargetStore } from "./target-store.ts";
import { TuningSnapshots } from "./tuning-snapshots.ts";

/** The store of each aggregate, over one database. */
export interface Stores {
  examples: ExampleStore;
  targets: TargetStore;
  /** What the vector index holds, as SQLite records it. */
  ledger: IndexLedger;
  /** The undo journal of writes too large for one transaction. */
  journal: ImportJournal;
  snapshots: TuningSnapshots;
  settings: SettingsStore;
  staging: StagingStore;
  state: StateStore;
  /** Rankings kept for feedback, and their outcomes. */
  feedback: FeedbackStore;
}

export function openStores(db: Db): Stores {
  return {
    examples: new ExampleStore(db),
    targets: new TargetStore(db),
    ledger: new IndexLedger(db),
    journal: new ImportJournal(db),
    snapshots: new TuningSnapshots(db),
    settings: new SettingsStore(db),
    staging: new StagingStore(db),
    state: new StateStore(db),
    feedback: new FeedbackStore(db),
  };
}
