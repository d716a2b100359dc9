import { AppError } from "../errors.ts";
import type { Neighbour, PointEvidence, VectorIndex, VectorRecord } from "./vector-index.ts";

/**
 * A remote index whose backend was unreachable at start: the service starts anyway, not ready,
 * and keeps opening the index in the background (backing off up to `maxDelayMs`) until it answers.
 * Meanwhile every call fails with VECTOR_STORE_UNAVAILABLE (a 503 with Retry-After; writes stay in
 * SQLite, marked unindexed, for the background sync); then calls go to the opened index, and
 * `onOpen` runs (the start-up reconciliation with SQLite).
 */
export class DeferredIndex implements VectorIndex {
  readonly persistent = true;
  private inner: VectorIndex | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private lastError = "not opened yet";

  constructor(
    readonly dimension: number,
    private readonly open: () => Promise<VectorIndex>,
    private readonly onOpen: (index: VectorIndex) => Promise<void>,
    private readonly onError: (message: string, attempt: number) => void,
    private readonly delays = { firstMs: 500, maxDelayMs: 30_000 },
  ) {
    this.schedule(0, delays.firstMs);
  }

  /** The opened index, once there is one. */
  get ready(): boolean {
    return this.inner !== undefined;
  }

  upsert(records: readonly VectorRecord[]): Promise<void> {
    return this.target().upsert(records);
  }
  delete(ids: readonly string[]): Promise<void> {
    return this.target().delete(ids);
  }
  search(vector: Float32Array, k: number): Promise<Neighbour[]> {
    return this.target().search(vector, k);
  }
  searchWithEvidence(
    vector: Float32Array,
    k: number,
  ): Promise<Array<Neighbour & { evidence?: PointEvidence }>> {
    const inner = this.target();
    if (!inner.searchWithEvidence) throw new Error("this vector index stores no evidence");
    return inner.searchWithEvidence(vector, k);
  }
  count(): Promise<number> {
    return this.target().count();
  }
  ids(): AsyncGenerator<string> {
    return this.target().ids();
  }
  async health(): Promise<void> {
    return this.target().health();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    await this.inner?.close();
  }

  private target(): VectorIndex {
    if (this.inner) return this.inner;
    throw new AppError("VECTOR_STORE_UNAVAILABLE", `vector store not reachable yet (${this.lastError})`, {
      retryAfterSeconds: 5,
    });
  }

  private schedule(attempt: number, delayMs: number): void {
    this.timer = setTimeout(() => {
      this.open().then(
        async (index) => {
          if (this.closed) return void (await index.close());
          this.inner = index;
          await this.onOpen(index);
        },
        (err: unknown) => {
          if (this.closed) return;
          this.lastError = err instanceof Error ? err.message : String(err);
          this.onError(this.lastError, attempt + 1);
          this.schedule(attempt + 1, Math.min(this.delays.maxDelayMs, delayMs * 2));
        },
      );
    }, delayMs);
    this.timer.unref();
  }
}
