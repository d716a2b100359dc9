import { Index, MetricKind, ScalarKind } from "usearch";
import { QuantizedScanIndex } from "./embedded.ts";
import type { Neighbour, VectorIndex, VectorRecord } from "./vector-index.ts";

export interface HnswOptions {
  /** Graph links per node. Default 16. */
  connectivity: number;
  /** Candidates kept while inserting. Default 128. */
  expansionAdd: number;
  /** Candidates kept while searching: higher is slower and closer to exact. Default 128. */
  expansionSearch: number;
  /** Up to this many vectors, searches go to the exact scan: a graph pays off only on large sets. Default 20,000. */
  exactBelow: number;
}

export const DEFAULT_HNSW: HnswOptions = {
  connectivity: 16,
  expansionAdd: 128,
  expansionSearch: 128,
  exactBelow: 20_000,
};

/**
 * Opt-in approximate index (VECTOR_STORE=hnsw) for very large sets: usearch's HNSW graph in
 * process (float32, cosine), which may now and then miss a true neighbour (recall measured in
 * bench/README.md). Up to `exactBelow` vectors it answers from the exact scan it keeps beside the
 * graph, so small sets stay exact. Filled from SQLite at every start, like the exact index.
 */
export class HnswIndex implements VectorIndex {
  readonly persistent = false;
  private readonly graph: Index;
  private readonly exact: QuantizedScanIndex;
  private readonly keyOf = new Map<string, bigint>();
  private readonly idOf = new Map<bigint, string>();
  private nextKey = 1n;

  constructor(
    readonly dimension: number,
    private readonly options: HnswOptions = DEFAULT_HNSW,
  ) {
    this.exact = new QuantizedScanIndex(dimension);
    this.graph = new Index({
      dimensions: dimension,
      metric: MetricKind.Cos,
      quantization: ScalarKind.F32,
      connectivity: options.connectivity,
      expansion_add: options.expansionAdd,
      expansion_search: options.expansionSearch,
      multi: false,
    });
  }

  async upsert(records: readonly VectorRecord[]): Promise<void> {
    await this.exact.upsert(records); // checks the dimensions first
    if (records.length === 0) return;
    const replaced = records.map((r) => this.keyOf.get(r.id)).filter((k): k is bigint => k !== undefined);
    if (replaced.length > 0) this.graph.remove(BigUint64Array.from(replaced));
    const keys = new BigUint64Array(records.length);
    const flat = new Float32Array(records.length * this.dimension);
    for (const [i, r] of records.entries()) {
      const old = this.keyOf.get(r.id);
      if (old !== undefined) this.idOf.delete(old);
      const key = this.nextKey++;
      keys[i] = key;
      this.keyOf.set(r.id, key);
      this.idOf.set(key, r.id);
      flat.set(r.vector, i * this.dimension);
    }
    this.graph.add(keys, flat);
  }

  async delete(ids: readonly string[]): Promise<void> {
    await this.exact.delete(ids);
    const keys: bigint[] = [];
    for (const id of ids) {
      const key = this.keyOf.get(id);
      if (key === undefined) continue;
      keys.push(key);
      this.keyOf.delete(id);
      this.idOf.delete(key);
    }
    if (keys.length > 0) this.graph.remove(BigUint64Array.from(keys));
  }

  async search(vector: Float32Array, k: number): Promise<Neighbour[]> {
    if (this.keyOf.size <= this.options.exactBelow) return this.exact.search(vector, k);
    if (vector.length !== this.dimension) {
      throw new RangeError(`query has ${vector.length} dimensions, index has ${this.dimension}`);
    }
    const found = this.graph.search(vector, Math.min(k, this.keyOf.size), 1);
    const out: Neighbour[] = [];
    for (let i = 0; i < found.keys.length; i++) {
      const id = this.idOf.get(found.keys[i] as bigint);
      // usearch's cosine distance is 1 − similarity.
      if (id !== undefined) out.push({ id, similarity: 1 - (found.distances[i] as number) });
    }
    return out;
  }

  count(): Promise<number> {
    return this.exact.count();
  }

  ids(): AsyncGenerator<string> {
    return this.exact.ids();
  }

  async health(): Promise<void> {}

  async close(): Promise<void> {
    this.keyOf.clear();
    this.idOf.clear();
    await this.exact.close();
  }
}
