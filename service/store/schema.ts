import { sql } from "drizzle-orm";
import { blob, check, index, integer, primaryKey, real, sqliteTable, text } from "drizzle-orm/sqlite-core";

/** Who wrote an example: an operator (`label`) or the outcomes on a ranking (`outcome`). */
export const EXAMPLE_ORIGINS = ["label", "outcome"] as const;

/** Labelled example prompts. SQLite is the source of truth; vector indexes copy it. */
export const examples = sqliteTable(
  "examples",
  {
    id: text("id").primaryKey(),
    text: text("text").notNull(),
    category: text("category"),
    /** 0 while the active vector index does not hold this row yet; a background job retries those. */
    indexed: integer("indexed", { mode: "boolean" }).notNull().default(false),
    /**
     * Who wrote it: `label` (an operator: the admin API, an import, the seed) or `outcome` (the
     * outcomes reported on a ranking, `feedback-<ranking id>`). An outcome only ever writes an
     * example outcomes made.
     */
    origin: text("origin", { enum: EXAMPLE_ORIGINS }).notNull().default("label"),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
    updatedAt: integer("updated_at", { mode: "timestamp_ms" }).notNull(),
  },
  (t) => [
    index("examples_category_idx").on(t.category, t.id),
    // Covers /rank's read of its hits (id to category) without touching the row, whose text can run
    // to overflow pages that SQLite would walk to reach the category stored after it.
    index("examples_evidence_idx").on(t.id, t.category),
    index("examples_unindexed_idx").on(t.indexed).where(sql`${t.indexed} = 0`),
    // Covers the staging's scans (which examples have a current staged vector) without reading rows.
    index("examples_version_idx").on(t.id, t.updatedAt),
  ],
);

/**
 * The embedding of each example, apart from the example so that the rows /rank reads stay small
 * (a 512-d vector is 2 KiB; beside the text it would spread the hot table over many more pages).
 */
export const embeddings = sqliteTable(
  "embeddings",
  {
    exampleId: text("example_id")
      .primaryKey()
      .references(() => examples.id, { onDelete: "cascade" }),
    /** Identity of the embedder that produced `vector` (model id and dimension). */
    embedderId: text("embedder_id").notNull(),
    /** Little-endian float32 vector, L2-normalised. */
    vector: blob("vector", { mode: "buffer" }).notNull(),
  },
  (t) => [index("embeddings_embedder_idx").on(t.embedderId)],
);

/**
 * Vectors made by a candidate embedder (the configured one with other learned templates) while
 * self-tuning tries it, beside the vectors in force. `version` is the example's `updated_at` when
 * its text was embedded: a row whose example changed since is embedded again. Promoted into
 * `embeddings` in one transaction when the candidate wins; cleared when it loses.
 */
export const stagedEmbeddings = sqliteTable(
  "staged_embeddings",
  {
    exampleId: text("example_id")
      .primaryKey()
      .references(() => examples.id, { onDelete: "cascade" }),
    embedderId: text("embedder_id").notNull(),
    version: integer("version", { mode: "timestamp_ms" }).notNull(),
    vector: blob("vector", { mode: "buffer" }).notNull(),
  },
  // Which rows are current, read without the 2 KiB rows (a scan of 100k: 50 ms instead of 470).
  (t) => [index("staged_current_idx").on(t.exampleId, t.embedderId, t.version)],
);

/** Models a prompt can be routed to. A target exists once any example scores it. */
export const targets = sqliteTable("targets", {
  name: text("name").primaryKey(),
  inputPricePerMtok: real("input_price_per_mtok"),
  outputPricePerMtok: real("output_price_per_mtok"),
  enabled: integer("enabled", { mode: "boolean" }).notNull().default(true),
  /**
   * The score a target is assumed to have where no example tells (set when it was created before any
   * example scored it: given, or the other targets' mean then); null for targets examples created.
   */
  priorScore: real("prior_score"),
  createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
  updatedAt: integer("updated_at", { mode: "timestamp_ms" }).notNull(),
});

/** How well a target answered an example, in [0, 1]. */
export const scores = sqliteTable(
  "scores",
  {
    exampleId: text("example_id")
      .notNull()
      .references(() => examples.id, { onDelete: "cascade" }),
    target: text("target")
      .notNull()
      .references(() => targets.name),
    score: real("score").notNull(),
    /**
     * What the score counts for against a label (1): an outcome's is FEEDBACK_OUTCOME_WEIGHT, times
     * 1 / the policy's probability of it where propensity weighting is on (`outcomeWeight`).
     */
    weight: real("weight").notNull().default(1),
    /**
     * What the score is read against, so that the prompt's difficulty cancels: for an operator's
     * label, the mean of the example's other targets' scores (null when it scores no other); for an
     * outcome, what the router predicted there for the targets it knew (the ranking's predictions,
     * without the target itself). Null: read as it is.
     */
    baseline: real("baseline"),
  },
  // A WITHOUT ROWID table (migration 0012): the rows are stored in primary-key order, so an
  // example's scores sit side by side for the /rank read, and a write is one B-tree insert instead of
  // a row, its key and a covering index.
  (t) => [
    primaryKey({ columns: [t.exampleId, t.target] }),
    index("scores_target_idx").on(t.target),
    check("scores_score_range", sql`${t.score} >= 0 AND ${t.score} <= 1`),
  ],
);

/** Examples deleted from SQLite whose deletion the vector index has not confirmed yet. */
export const pendingDeletes = sqliteTable("pending_deletes", {
  exampleId: text("example_id").primaryKey(),
  deletedAt: integer("deleted_at", { mode: "timestamp_ms" }).notNull(),
});

/**
 * Per (category, target), kept in the same transaction as every change to `scores` or to an
 * example's category: by triggers (migrations 0002, 0009, 0011, 0012) on a single write, and by one
 * grouped statement per batch on a batch write (`ExampleStore.write`), which turns the triggers off
 * for its transaction through `batch_writes`: the weighted sum, count and total weight
 * of the operators' labels (the means that ranking shrinks toward, sum / weight), and of every score
 * read against a baseline, labels and outcomes alike, the residuals' weighted sum, count and weight
 * (a target's advantage over the others there, rsum / rweight). They are then read from a few
 * hundred rows instead of a scan of every score. `category` is '' for examples without one (an
 * example's category is never empty).
 */
export const scoreTotals = sqliteTable(
  "score_totals",
  {
    category: text("category").notNull(),
    target: text("target").notNull(),
    /** Σ weight · score. */
    sum: real("sum").notNull(),
    n: integer("n").notNull(),
    /** Σ weight (n while every score weighs 1). */
    weight: real("weight").notNull().default(0),
    /** Σ weight · (score − baseline) over the scores with a baseline, labels and outcomes. */
    rsum: real("rsum").notNull().default(0),
    /** How many scores with a baseline. */
    rn: integer("rn").notNull().default(0),
    /** Σ weight over the scores with a baseline. */
    rweight: real("rweight").notNull().default(0),
    /** Σ weight · (score − baseline)² over the scores with a baseline: how noisy the residuals are. */
    rsq: real("rsq").notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.category, t.target] })],
);

/**
 * One row (id 1): how many times examples were written or deleted, bumped by triggers (migration
 * 0003) in the same transaction as the write, so self-tuning can tell how much changed since it
 * last ran, across restarts.
 */
export const dataVersion = sqliteTable("data_version", {
  id: integer("id").primaryKey(),
  changes: integer("changes").notNull(),
});

/**
 * One row (id 1) at most: the ranking settings in force. `source` is `tuned` (chosen by the
 * service's own cross-validation) or `pinned` (set by hand; tuning leaves it alone). Without a row
 * the service ranks with its safe defaults.
 */
export const routingSettings = sqliteTable("routing_settings", {
  id: integer("id").primaryKey(),
  /** k, power, shrinkage, prior, minSimilarity, minSupport. */
  settings: text("settings", { mode: "json" }).notNull(),
  source: text("source", { enum: ["tuned", "pinned"] }).notNull(),
  /** What the settings were tuned on: the example count and `data_version.changes` then. */
  examples: integer("examples"),
  dataVersion: integer("data_version"),
  /** The cross-validated metric of these settings beside the baselines'. */
  evaluation: text("evaluation", { mode: "json" }),
  tunedAt: integer("tuned_at", { mode: "timestamp_ms" }),
  updatedAt: integer("updated_at", { mode: "timestamp_ms" }).notNull(),
});

/**
 * Small facts about this database's life, by key: `seed` is `started` or `done` (first-start
 * seeding, so an interrupted one resumes); `writer` holds the read-write instance's claim (JSON:
 * owner, pid, host, heartbeat), so a second one does not start on the same file.
 */
export const serviceState = sqliteTable("service_state", {
  key: text("key").primaryKey(),
  value: text("value").notNull(),
  updatedAt: integer("updated_at", { mode: "timestamp_ms" }).notNull(),
});

/**
 * Rankings kept for feedback (while FEEDBACK_TOKEN is set), for FEEDBACK_WINDOW_S: the prompt, the
 * targets offered in the order ranked, what was recommended. An outcome refers to one of them.
 */
export const rankings = sqliteTable(
  "rankings",
  {
    id: text("id").primaryKey(),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
    query: text("query").notNull(),
    /** The caller's category, else the one most of the neighbours' weight had; the outcome's example gets it. */
    category: text("category"),
    /** JSON array of the targets offered, best first. */
    targets: text("targets").notNull(),
    recommended: text("recommended"),
    /** The probability the policy had of recommending `recommended` (1 without exploration). */
    propensity: real("propensity"),
    /** Whether `recommended` was an exploration rather than the best-scored choice. */
    explored: integer("explored", { mode: "boolean" }).notNull().default(false),
    /** How unsure the router was, in [0, 1] (0: sure): the label queue's order. */
    uncertainty: real("uncertainty").notNull().default(0),
    /** JSON array of why it was unsure (thin support, a near tie, a fallback). */
    reasons: text("reasons").notNull().default("[]"),
    /**
     * JSON object: the router's prediction for each target its labels supported there, what an
     * outcome on this ranking is read against (`scores.baseline`).
     */
    predictions: text("predictions").notNull().default("{}"),
    /** JSON array: the similarities of the nearest neighbours (up to 5): how far from the examples it was. */
    similarities: text("similarities").notNull().default("[]"),
  },
  (t) => [index("rankings_created_idx").on(t.createdAt), index("rankings_uncertainty_idx").on(t.uncertainty)],
);

/** What an outcome is: accepted (evidence), pending (FEEDBACK_REVIEW: waits for an operator) or rejected. */
export const OUTCOME_STATUSES = ["accepted", "pending", "rejected"] as const;

/** An outcome's status column (scores and preferences alike); accepted unless held for review. */
function outcomeStatus() {
  return text("status", { enum: OUTCOME_STATUSES }).notNull().default("accepted");
}

/**
 * What happened to a ranking: one score per (ranking, target) and status, a repeat replacing it. An
 * accepted score and a pending replacement of it are kept side by side, so a rejected replacement
 * leaves the accepted one as it was.
 */
export const outcomes = sqliteTable(
  "outcomes",
  {
    rankingId: text("ranking_id").notNull(),
    target: text("target").notNull(),
    score: real("score").notNull(),
    status: outcomeStatus(),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
    updatedAt: integer("updated_at", { mode: "timestamp_ms" }).notNull(),
  },
  // By status and time: the review queue, the counts, and outcomes per hour without a scan.
  (t) => [
    primaryKey({ columns: [t.rankingId, t.target, t.status] }),
    index("outcomes_status_idx").on(t.status, t.updatedAt),
  ],
);

/**
 * A preference reported on a ranking: of two targets it offered, which did better (`aWins` 1, 0 or
 * 0.5 for a tie), the pair kept in name order so a repeat with the roles swapped replaces it; as
 * with scores, an accepted preference and a pending replacement are kept side by side.
 */
export const pairOutcomes = sqliteTable(
  "pair_outcomes",
  {
    rankingId: text("ranking_id").notNull(),
    targetA: text("target_a").notNull(),
    targetB: text("target_b").notNull(),
    aWins: real("a_wins").notNull(),
    status: outcomeStatus(),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
    updatedAt: integer("updated_at", { mode: "timestamp_ms" }).notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.rankingId, t.targetA, t.targetB, t.status] }),
    index("pair_outcomes_status_idx").on(t.status, t.updatedAt),
  ],
);

/**
 * Pairwise evidence on an example: on its prompt, `targetA` beat `targetB` in `aWins` of `games`
 * comparisons (a tie is half a win each). Pairs are kept in name order (`targetA` < `targetB`).
 */
export const preferences = sqliteTable(
  "preferences",
  {
    exampleId: text("example_id")
      .notNull()
      .references(() => examples.id, { onDelete: "cascade" }),
    targetA: text("target_a")
      .notNull()
      .references(() => targets.name),
    targetB: text("target_b")
      .notNull()
      .references(() => targets.name),
    aWins: real("a_wins").notNull(),
    games: integer("games").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.exampleId, t.targetA, t.targetB] }),
    check("preferences_wins_range", sql`${t.aWins} >= 0 AND ${t.aWins} <= ${t.games}`),
  ],
);

/**
 * Holds a row only inside the transaction of a batch write, which keeps `score_totals` itself with
 * one grouped statement: the totals' triggers do nothing while it does. Never committed non-empty.
 */
export const batchWrites = sqliteTable("batch_writes", {
  id: integer("id").primaryKey(),
});

/**
 * A write too large for one transaction (an import, a bulk delete) while it is written a chunk at a
 * time (`writing`); if it fails, while it is taken back (`undoing`); once it is whole, while its
 * journal is forgotten (`done`). A `writing` or `undoing` row a crash left behind is taken back at
 * the next start, so such a write is all or nothing across a kill too.
 */
export const imports = sqliteTable("imports", {
  id: text("id").primaryKey(),
  state: text("state", { enum: ["writing", "undoing", "done"] }).notNull(),
  /**
   * `add` (examples added or replacing those with their ids), `replace` (they become all the
   * examples), `delete` (a bulk delete) or `rewrite` (a target deleted from the examples naming it).
   */
  mode: text("mode", { enum: ["add", "replace", "delete", "rewrite"] }).notNull(),
  startedAt: integer("started_at", { mode: "timestamp_ms" }).notNull(),
});

/**
 * What an unfinished import changed, one row per example, written in the transaction of the chunk
 * that changed it: the example as it was before (null: it did not exist), and the time the import
 * wrote it. Undoing restores the example only if nothing has written it since.
 */
export const importJournal = sqliteTable(
  "import_journal",
  {
    importId: text("import_id")
      .notNull()
      .references(() => imports.id, { onDelete: "cascade" }),
    exampleId: text("example_id").notNull(),
    /** `write` (the import wrote the example) or `delete` (a replacing import deleted it). */
    action: text("action", { enum: ["write", "delete"] }).notNull(),
    /** The example's `updated_at` after the import wrote it (a `write`). */
    writtenAt: integer("written_at", { mode: "timestamp_ms" }),
    /** JSON: the example before (text, category, origin, created_at, scores, preferences, embedder_id); null when new. */
    prior: text("prior"),
    /** Its vector before. */
    priorVector: blob("prior_vector", { mode: "buffer" }),
  },
  (t) => [primaryKey({ columns: [t.importId, t.exampleId] })],
);
