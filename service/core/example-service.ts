import { embedPrepared } from "../embedding/embedder.ts";
import { AppError } from "../errors.ts";
import { errorFields, type Logger } from "../logger.ts";
import { labelBaselines } from "../routing/priors.ts";
import {
  type ExampleRecord,
  type ExampleStore,
  IdsTakenError,
  type NewExample,
} from "../store/example-store.ts";
import type { IndexLedger } from "../store/index-ledger.ts";
import type { ActiveEmbedding } from "./active-embedding.ts";
import { newExampleId } from "./ids.ts";
import { type ImportSource, parseImport, repeatedIds, type UnlistedPolicy } from "./import-formats.ts";
import type { IndexSync } from "./index-sync.ts";
import type { Mutex } from "./mutex.ts";
import { type ExamplePatch, type ExampleWrite, validationError } from "./schemas.ts";

export type { ExampleRecord } from "../store/example-store.ts";

/**
 * The one write path for labelled examples (admin API, import, start-up seeding): embed in batches,
 * write SQLite in one transaction, then copy to the vector index. SQLite is written first, so a
 * neighbour the index returns always has its scores stored. When the index is unreachable the rows
 * stay stored, marked unindexed, and `IndexSync` copies them later: `indexed: false` tells the caller.
 * Writes run one at a time (embedding runs outside the lock), so SQLite and the index see the same order.
 */
export class ExampleService {
  constructor(
    private readonly store: ExampleStore,
    private readonly ledger: IndexLedger,
    private readonly embedding: ActiveEmbedding,
    private readonly sync: IndexSync,
    private readonly lock: Mutex,
    private readonly logger: Logger,
    /** Called after every committed write (cached per-target statistics go stale). */
    private readonly onWrite: () => void = () => undefined,
  ) {}

  /**
   * An import, all or nothing, replacing examples whose ids exist: parsed with its format's
   * defaults (see `parseImport`), then written as one batch.
   */
  async import(
    source: ImportSource,
    options: { unlisted?: UnlistedPolicy; existingText?: "add" | "skip" | "replace" } = {},
  ): Promise<{ imported: number; skipped: number; indexed: boolean }> {
    const { embedder } = this.embedding;
    const parsed = parseImport(source, {
      ...(options.unlisted && { unlisted: options.unlisted }),
      embedder: { id: embedder.id, dimension: embedder.dimension },
    });
    const inputs = this.matchStoredTexts(parsed, options.existingText ?? "add");
    const { indexed } = inputs.length > 0 ? await this.add(inputs, "upsert") : { indexed: true };
    return { imported: inputs.length, skipped: parsed.length - inputs.length, indexed };
  }

  /**
   * What to do with lines that carry no id and whose text is stored already: `add` them again
   * (under new ids), `skip` them, or `replace` the stored example (its id is given to the line).
   */
  private matchStoredTexts(inputs: ExampleWrite[], rule: "add" | "skip" | "replace"): ExampleWrite[] {
    if (rule === "add") return inputs;
    const stored = this.store.idsByText(inputs.filter((e) => e.id === undefined).map((e) => e.text));
    if (rule === "skip") return inputs.filter((e) => e.id !== undefined || !stored.has(e.text));
    return inputs.map((e) => {
      const id = e.id === undefined ? stored.get(e.text) : undefined;
      return id === undefined ? e : { ...e, id };
    });
  }

  /**
   * Adds a batch, all or nothing; each id appears once in it (VALIDATION_FAILED). `insert` refuses
   * ids that exist (CONFLICT); `upsert` replaces them. Returns the ids in input order.
   */
  async add(
    inputs: readonly ExampleWrite[],
    mode: "insert" | "upsert",
  ): Promise<{ ids: string[]; indexed: boolean }> {
    if (inputs.length === 0) return { ids: [], indexed: true };
    const repeated = repeatedIds(
      inputs.map((e, i) => ({ id: e.id, path: `examples.${i}.id`, at: `examples.${i}` })),
    );
    if (repeated.length > 0) throw validationError(repeated);
    const { embedder } = this.embedding;
    const toEmbed = inputs.filter((e) => e.vector === undefined);
    const embedded = await embedPrepared(
      embedder,
      toEmbed.map((e) => e.text),
    );
    const vectors = new Map(toEmbed.map((e, i) => [e, embedded[i] as Float32Array]));
    const batch = inputs.map(
      (e): NewExample =>
        this.toRow(e.id ?? newExampleId(), e, e.vector ?? (vectors.get(e) as Float32Array), embedder.id),
    );
    const indexed = await this.persist(batch, mode);
    return { ids: batch.map((e) => e.id), indexed };
  }

  /** One example with its scores, or undefined. */
  get(id: string): ExampleRecord | undefined {
    return this.store.get(id);
  }

  /** A page of examples in id order after `after` (an id), optionally of one category; `more` when another page follows. */
  list(options: { category?: string; limit: number; after?: string }): {
    items: ExampleRecord[];
    more: boolean;
  } {
    const page = this.store.list({ ...options, limit: options.limit + 1 });
    return { items: page.slice(0, options.limit), more: page.length > options.limit };
  }

  /** Every category with its example count (null: examples without one). */
  categories(): Array<{ name: string | null; examples: number }> {
    return this.store.categories();
  }

  /**
   * Changes part of an example: its text or category, and scores merged into the stored ones (a
   * `null` score removes that target's); its comparisons stay. NOT_FOUND when there is no such
   * example; re-embedded only when the text changed.
   */
  async patch(id: string, patch: ExamplePatch): Promise<{ indexed: boolean }> {
    const current = this.store.get(id);
    if (!current) throw new AppError("NOT_FOUND", `no example ${id}`);
    const scores: Record<string, number> = { ...current.scores };
    // A score the patch names is a label now (weight 1); the others keep theirs.
    const weights: Record<string, number> = { ...current.weights };
    for (const [target, score] of Object.entries(patch.scores ?? {})) {
      delete weights[target];
      if (score === null) delete scores[target];
      else scores[target] = score;
    }
    if (Object.keys(scores).length === 0 && !current.preferences?.length) {
      throw validationError([
        { path: "scores", message: "the example would score no target: keep at least one" },
      ]);
    }
    const { indexed } = await this.put(id, {
      text: patch.text ?? current.text,
      category: patch.category === undefined ? current.category : patch.category,
      scores,
      ...(Object.keys(weights).length > 0 && { weights }),
      preferences: current.preferences ?? [],
      origin: current.origin,
    });
    return { indexed };
  }

  /** Creates or replaces one example (its comparisons too); re-embeds only when its text changed. */
  async put(id: string, input: ExampleWrite): Promise<{ created: boolean; indexed: boolean }> {
    const { embedder } = this.embedding;
    const previous = this.store.embeddingOf(id);
    const reuse = previous && previous.text === input.text && previous.embedderId === embedder.id;
    const vector = reuse
      ? previous.embedding
      : ((await embedPrepared(embedder, [input.text]))[0] as Float32Array);
    const indexed = await this.persist([this.toRow(id, input, vector, embedder.id)], "upsert");
    return { created: previous === undefined, indexed };
  }

  /** Deletes one example from SQLite, then from the index; false when it did not exist. */
  delete(id: string): Promise<boolean> {
    return this.lock.run(async () => {
      if (!this.store.delete(id)) return false;
      this.onWrite();
      await this.toIndex(
        () => this.embedding.index.delete([id]),
        () => this.ledger.clearPendingDeletes([id]),
      );
      return true;
    });
  }

  private persist(batch: NewExample[], mode: "insert" | "upsert"): Promise<boolean> {
    return this.lock.run(async () => {
      await this.reembedIfSwitched(batch);
      let version: Date;
      try {
        version = this.store.write(batch, mode);
      } catch (err) {
        if (!(err instanceof IdsTakenError)) throw err;
        const at = new Map(batch.map((e, i) => [e.id, i]));
        throw new AppError("CONFLICT", err.message, {
          cause: err,
          details: err.ids.map((id) => ({
            path: `examples.${at.get(id)}.id`,
            message: `${id} already exists`,
          })),
        });
      }
      this.onWrite();
      const ids = batch.map((e) => e.id);
      return this.toIndex(
        () => this.embedding.index.upsert(batch.map((e) => ({ id: e.id, vector: e.embedding }))),
        () => this.ledger.markIndexed(ids, version),
      );
    });
  }

  /** Runs an index write; if the index is unavailable, leaves the work to the background sync. */
  private async toIndex(write: () => Promise<void>, confirm: () => void): Promise<boolean> {
    try {
      await write();
    } catch (err) {
      if (!(err instanceof AppError && err.code === "VECTOR_STORE_UNAVAILABLE")) throw err;
      this.logger.warn(
        "vector index unavailable; the write is stored and will be copied later",
        errorFields(err),
      );
      this.sync.kick();
      return false;
    }
    confirm();
    return true;
  }

  /**
   * Rows embedded before self-tuning switched embedders (it did so while they were being embedded,
   * outside the lock) are embedded again with the one in force; held under the write lock, which
   * the switch also takes, so no row with a vector from the old embedder lands.
   */
  private async reembedIfSwitched(batch: NewExample[]): Promise<void> {
    const { embedder } = this.embedding;
    const stale = batch.filter((r) => r.embedderId !== embedder.id);
    if (stale.length === 0) return;
    const textless = stale.find((r) => r.text.trim() === "");
    if (textless) {
      throw new AppError(
        "CONFLICT",
        `the embedder changed to ${embedder.id} while this write was prepared, and example ${textless.id} ` +
          "came as a vector without text: send it again with vectors from the embedder in force",
      );
    }
    const vectors = await embedPrepared(
      embedder,
      stale.map((r) => r.text),
    );
    stale.forEach((r, i) => {
      r.embedding = vectors[i] as Float32Array;
      r.embedderId = embedder.id;
    });
  }

  private toRow(id: string, e: ExampleWrite, embedding: Float32Array, embedderId: string): NewExample {
    const origin = e.origin ?? "label";
    return {
      id,
      text: e.text,
      category: e.category ?? null,
      scores: e.scores,
      ...(e.weights && { weights: { ...e.weights } }),
      // A write replaces the example whole: without comparisons given, it has none.
      preferences: e.preferences ?? [],
      embedding,
      embedderId,
      origin,
      // A label is read against its example's other scores; an outcome against what it was given.
      baselines: origin === "label" ? labelBaselines(e.scores) : { ...e.baselines },
    };
  }
}
