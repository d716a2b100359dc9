import { randomUUID } from "node:crypto";
import type { Embedder } from "../embedding/embedder.ts";
import { DEFAULT_TRUNCATE_STRATEGY, truncate } from "../embedding/truncate.ts";
import type { ExampleStore, NewExample } from "../store/example-store.ts";
import type { VectorIndex } from "../vectors/vector-index.ts";
import type { ExampleInput } from "./schemas.ts";

/**
 * The one write path for labelled examples (admin API, import, start-up seeding): embed in batches,
 * write SQLite in one transaction, then copy to the vector index. SQLite is written first, so a
 * neighbour the index returns always has its scores stored.
 */
export class ExampleService {
  constructor(
    private readonly store: ExampleStore,
    private readonly embedder: Embedder,
    private readonly index: VectorIndex,
  ) {}

  /**
   * Adds a validated batch, all or nothing. `insert` refuses ids that exist (CONFLICT);
   * `upsert` replaces them. Returns the ids in input order.
   */
  async add(inputs: readonly ExampleInput[], mode: "insert" | "upsert"): Promise<string[]> {
    if (inputs.length === 0) return [];
    const vectors = await this.embedder.embed(
      inputs.map((e) => this.prepare(e.text)),
      "bulk",
    );
    const batch = inputs.map(
      (e, i): NewExample => this.toRow(e.id ?? randomUUID(), e, vectors[i] as Float32Array),
    );
    await this.persist(batch, mode);
    return batch.map((e) => e.id);
  }

  /** Creates or replaces one example; re-embeds only when its text changed. */
  async put(id: string, input: ExampleInput): Promise<{ created: boolean }> {
    const previous = this.store.embeddingOf(id);
    const reuse = previous && previous.text === input.text && previous.embedderId === this.embedder.id;
    const vector = reuse
      ? previous.embedding
      : ((await this.embedder.embed([this.prepare(input.text)], "bulk"))[0] as Float32Array);
    await this.persist([this.toRow(id, input, vector)], "upsert");
    return { created: previous === undefined };
  }

  /** Deletes one example from SQLite, then from the index; false when it did not exist. */
  async delete(id: string): Promise<boolean> {
    if (!this.store.delete(id)) return false;
    await this.index.delete([id]);
    return true;
  }

  private async persist(batch: NewExample[], mode: "insert" | "upsert"): Promise<void> {
    this.store.write(batch, mode);
    await this.index.upsert(batch.map((e) => ({ id: e.id, vector: e.embedding })));
    this.store.markIndexed(batch.map((e) => e.id));
  }

  private prepare(text: string): string {
    return truncate(text, this.embedder.maxInputTokens, DEFAULT_TRUNCATE_STRATEGY);
  }

  private toRow(id: string, e: ExampleInput, embedding: Float32Array): NewExample {
    return {
      id,
      text: e.text,
      category: e.category ?? null,
      scores: e.scores,
      embedding,
      embedderId: this.embedder.id,
    };
  }
}
