import { AppError } from "../errors.ts";

/**
 * The collection a name stands for is gone (a switch moved on, or it was deleted): a 503 with a
 * retry hint, which a replica answers by reading the routing document again.
 */
export class CollectionMissingError extends AppError {
  constructor(what: string, options: { cause?: unknown } = {}) {
    super("VECTOR_STORE_UNAVAILABLE", `vector store could not ${what}: the collection is gone`, {
      ...options,
      retryAfterSeconds: 2,
    });
  }
}

/**
 * What `/rank` reads of a hit, stored with its vector where the index keeps payloads (Qdrant): the
 * example's category, its per-target scores as stored (sparse where the example is), and its version
 * (its `updated_at`, ms). Written with the vector in one upsert, so a reader never pairs a new vector
 * with old scores.
 */
export interface PointEvidence {
  category: string | null;
  scores: Record<string, number>;
  /** Weights of the scores not weighing 1 (outcomes on explored recommendations), when any. */
  weights?: Record<string, number>;
  /** Comparisons [a, b, aWins, games] between targets on the prompt, when it has any. */
  preferences?: ReadonlyArray<readonly [string, string, number, number]>;
  /** An outcome's example: what each score is read against, where it has a baseline. */
  baselines?: Record<string, number>;
  version: number;
}

/** One stored example found near a query. */
export interface Neighbour {
  id: string;
  /** Cosine similarity in [-1, 1]; higher is closer. */
  similarity: number;
}

/** A vector with the example id it belongs to, and its evidence where the index stores it. */
export interface VectorRecord {
  id: string;
  vector: Float32Array;
  evidence?: PointEvidence;
}

/** Nearest-neighbour search over example embeddings. A rebuildable copy of SQLite, never the source of truth. */
export interface VectorIndex {
  /** Length of the vectors this index holds. */
  readonly dimension: number;
  /**
   * True when the index outlives the process (Qdrant): at start-up it is reconciled with SQLite.
   * False for an in-process index, which is filled from SQLite at every start.
   */
  readonly persistent: boolean;
  /**
   * The name its points live under in a vector store shared between processes (Qdrant: the alias
   * the service writes and replicas read); absent for an in-process index.
   */
  readonly collection?: string;
  /** Inserts or replaces vectors by id. */
  upsert(records: readonly VectorRecord[]): Promise<void>;
  /** Removes ids; ids that are not present are ignored. */
  delete(ids: readonly string[]): Promise<void>;
  /** The `k` closest vectors by cosine similarity, closest first. */
  search(vector: Float32Array, k: number): Promise<Neighbour[]>;
  /**
   * As `search`, each hit with the evidence stored beside its vector (undefined for a point written
   * without it). Only where the index stores payloads; absent otherwise.
   */
  searchWithEvidence?(
    vector: Float32Array,
    k: number,
  ): Promise<Array<Neighbour & { evidence?: PointEvidence }>>;
  /** How many vectors the index holds. */
  count(): Promise<number>;
  /** Every id the index holds, in no particular order. */
  ids(): AsyncGenerator<string>;
  /** Resolves when searches can run now; rejects with AppError VECTOR_STORE_UNAVAILABLE otherwise. */
  health(): Promise<void>;
  /** Releases connections and memory. */
  close(): Promise<void>;
  /**
   * Deletes what a persistent index stores, for good, and releases it: used when self-tuning has
   * replaced its vectors with another index's. Absent: `close` is enough.
   */
  drop?(): Promise<void>;
}
