import type { ExampleStore } from "../store/example-store.ts";
import type { Neighbour, PointEvidence, VectorIndex, VectorRecord } from "../vectors/vector-index.ts";

/**
 * A vector index that stores payloads (Qdrant), fed each example's evidence (category, scores,
 * version) with its vector: every upsert, whoever makes it (a write, the background sync, a template
 * switch's copy, a reindex), reads the examples' current evidence from SQLite, the source of truth,
 * and writes it in the same upsert as the vector. A replica can then rank from one query with
 * payloads. Everything else goes to the inner index as it is.
 */
export class EvidenceIndex implements VectorIndex {
  constructor(
    private readonly inner: VectorIndex,
    private readonly store: Pick<ExampleStore, "versionedEvidence">,
  ) {}

  get dimension(): number {
    return this.inner.dimension;
  }
  get persistent(): boolean {
    return this.inner.persistent;
  }
  /** The inner index's collection, when it has one (for messages). */
  get collection(): string | undefined {
    return this.inner.collection;
  }

  upsert(records: readonly VectorRecord[]): Promise<void> {
    const evidence = this.store.versionedEvidence(records.map((r) => r.id));
    // A row deleted meanwhile has no evidence: its vector goes without (the delete follows).
    return this.inner.upsert(
      records.map((r) => {
        const e = evidence.get(r.id);
        return e ? { ...r, evidence: e } : r;
      }),
    );
  }
  delete(ids: readonly string[]): Promise<void> {
    return this.inner.delete(ids);
  }
  search(vector: Float32Array, k: number): Promise<Neighbour[]> {
    return this.inner.search(vector, k);
  }
  searchWithEvidence(
    vector: Float32Array,
    k: number,
  ): Promise<Array<Neighbour & { evidence?: PointEvidence }>> {
    if (!this.inner.searchWithEvidence) throw new Error("this vector index stores no evidence");
    return this.inner.searchWithEvidence(vector, k);
  }
  count(): Promise<number> {
    return this.inner.count();
  }
  ids(): AsyncGenerator<string> {
    return this.inner.ids();
  }
  health(): Promise<void> {
    return this.inner.health();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
  get drop(): (() => Promise<void>) | undefined {
    const drop = this.inner.drop;
    return drop && (() => drop.call(this.inner));
  }
}
