import { type Embedder, embedPrepared } from "../embedding/embedder.ts";
import { AppError } from "../errors.ts";
import { labelBaselines } from "../routing/priors.ts";
import {
  type ExampleFilter,
  type ExampleRecord,
  type ExampleStore,
  IdsTakenError,
  type NewExample,
} from "../store/example-store.ts";
import type { ActiveEmbedding } from "./active-embedding.ts";
import { type ExampleWriter, type RowSource, rowsOf } from "./example-writer.ts";
import { newExampleId } from "./ids.ts";
import { type ImportSource, parseImport, repeatedIds, type UnlistedPolicy } from "./import-formats.ts";
import { type ExamplePatch, type ExampleWrite, validationError } from "./schemas.ts";

export type { ExampleRecord } from "../store/example-store.ts";

/**
 * The one write path for labelled examples (admin API, import, start-up seeding): validated,
 * embedded a chunk at a time (yielding between chunks, so a large import does not hold the event
 * loop), then written by `ExampleWriter` (SQLite, then the vector index; all or nothing). When the
 * index is unreachable the rows stay stored, marked unindexed, and `IndexSync` copies them later:
 * `indexed: false` tells the caller.
 */
export class ExampleService {
  constructor(
    private readonly store: ExampleStore,
    private readonly writer: ExampleWriter,
    private readonly embedding: ActiveEmbedding,
    /** Called once an import has replaced every example (settings tuned on the old ones go). */
    private readonly onReplaced: () => void = () => undefined,
  ) {}

  /**
   * An import, all or nothing, replacing examples whose ids exist: parsed with its format's
   * defaults (see `parseImport`), then written as one batch. With `mode: "replace"` the import
   * becomes all the examples: every example stored before it and not in it is deleted.
   */
  async import(
    source: ImportSource,
    options: {
      unlisted?: UnlistedPolicy;
      existingText?: "add" | "skip" | "replace";
      mode?: "add" | "replace";
    } = {},
  ): Promise<{ imported: number; skipped: number; deleted: number; indexed: boolean }> {
    const { embedder } = this.embedding;
    const parsed = await parseImport(source, {
      ...(options.unlisted && { unlisted: options.unlisted }),
      embedder: { id: embedder.id, dimension: embedder.dimension },
    });
    const replace = options.mode === "replace";
    // Replacing everything, a line's text is matched against examples that are about to go: no use.
    const inputs = replace ? parsed : this.matchStoredTexts(parsed, options.existingText ?? "add");
    const { indexed, deleted } = await this.add(inputs, "upsert", { replace });
    if (replace) this.onReplaced();
    return { imported: inputs.length, skipped: parsed.length - inputs.length, deleted, indexed };
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
   * ids that exist (CONFLICT); `upsert` replaces them; `replace` (with upsert) deletes every other
   * example stored before it. Returns the ids in input order.
   */
  async add(
    inputs: readonly ExampleWrite[],
    mode: "insert" | "upsert",
    options: { replace?: boolean } = {},
  ): Promise<{ ids: string[]; indexed: boolean; deleted: number }> {
    if (inputs.length === 0 && !options.replace) return { ids: [], indexed: true, deleted: 0 };
    // New ids are made a chunk at a time too, as the rows are.
    const ids = inputs.map((e) => e.id);
    const repeated = repeatedIds(ids, (i) => ({ path: `examples.${i}.id`, at: `examples.${i}` }));
    if (repeated.length > 0) throw validationError(repeated);
    // Embedded a chunk at a time as the writer asks, with the embedder in force then.
    const source: RowSource = {
      size: inputs.length,
      rows: async (from, count) => {
        const { embedder } = this.embedding;
        const slice = inputs.slice(from, from + count);
        const toEmbed = slice.filter((e) => e.vector === undefined);
        const embedded =
          toEmbed.length > 0
            ? await embedPrepared(
                embedder,
                toEmbed.map((e) => e.text),
              )
            : [];
        let next = 0;
        return slice.map((e, i) => {
          ids[from + i] ??= newExampleId();
          return this.toRow(
            ids[from + i] as string,
            e,
            e.vector ?? (embedded[next++] as Float32Array),
            embedder,
          );
        });
      },
    };
    try {
      const { indexed, deleted } = await this.writer.write(source, mode, options);
      return { ids: ids as string[], indexed, deleted };
    } catch (err) {
      if (!(err instanceof IdsTakenError)) throw err;
      const at = new Map(ids.map((id, i) => [id, i]));
      throw new AppError("CONFLICT", err.message, {
        cause: err,
        details: err.ids.map((id) => ({
          path: `examples.${at.get(id)}.id`,
          message: `${id} already exists`,
        })),
      });
    }
  }

  /**
   * Deletes every example `filter` names (all its conditions at once), all or nothing, a chunk at a
   * time. Returns how many went.
   */
  deleteWhere(filter: ExampleFilter): Promise<number> {
    return this.writer.deleteAll((after, limit) => this.store.idsMatching(filter, after, limit));
  }

  /**
   * Takes target `name` out of every example: its scores and the comparisons naming it go, each
   * operator's label is read against the mean of the scores left (its baseline), and an example
   * left scoring nothing is deleted. `finish` runs last, under the write lock, all or nothing with
   * the rest (the target itself goes there).
   */
  dropTarget(name: string, finish: () => void): Promise<{ rewritten: number; deleted: number }> {
    return this.writer.rewrite(
      (after, limit) =>
        this.store.writable(this.store.idsNaming(name, after, limit)).map((e) => without(e, name)),
      finish,
    );
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
    const { indexed } = await this.writer.write(rowsOf([this.toRow(id, input, vector, embedder)]), "upsert");
    return { created: previous === undefined, indexed };
  }

  /** Deletes one example from SQLite, then from the index; false when it did not exist. */
  delete(id: string): Promise<boolean> {
    return this.writer.delete(id);
  }

  private toRow(id: string, e: ExampleWrite, embedding: Float32Array, embedder: Embedder): NewExample {
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
      embedderId: embedder.id,
      origin,
      // A label is read against its example's other scores; an outcome against what it was given.
      baselines: origin === "label" ? labelBaselines(e.scores) : { ...e.baselines },
    };
  }
}

/** `e` without target `name`: its score, weight, baseline and comparisons; labels' baselines recomputed. */
function without(e: NewExample, name: string): NewExample {
  const drop = (m: Record<string, number> | undefined) =>
    m && Object.fromEntries(Object.entries(m).filter(([t]) => t !== name));
  const scores = drop(e.scores) ?? {};
  const weights = drop(e.weights);
  return {
    ...e,
    scores,
    ...(weights && { weights }),
    baselines: e.origin === "outcome" ? drop(e.baselines) : labelBaselines(scores),
    preferences: (e.preferences ?? []).filter(([a, b]) => a !== name && b !== name),
  };
}
