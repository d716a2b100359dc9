import { sql } from "drizzle-orm";
import { blob, check, index, integer, primaryKey, real, sqliteTable, text } from "drizzle-orm/sqlite-core";

/** Labelled example prompts with their embedding. SQLite is the source of truth; vector indexes copy it. */
export const examples = sqliteTable(
  "examples",
  {
    id: text("id").primaryKey(),
    text: text("text").notNull(),
    category: text("category"),
    /** Little-endian float32 vector, L2-normalised. */
    embedding: blob("embedding", { mode: "buffer" }).notNull(),
    /** Identity of the embedder that produced `embedding` (model id and dimension). */
    embedderId: text("embedder_id").notNull(),
    /** 0 while the active vector index does not hold this row yet; a background job retries those. */
    indexed: integer("indexed", { mode: "boolean" }).notNull().default(false),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
    updatedAt: integer("updated_at", { mode: "timestamp_ms" }).notNull(),
  },
  (t) => [
    index("examples_category_idx").on(t.category, t.id),
    index("examples_unindexed_idx").on(t.indexed).where(sql`${t.indexed} = 0`),
  ],
);

/** Models a prompt can be routed to. A target exists once any example scores it. */
export const targets = sqliteTable("targets", {
  name: text("name").primaryKey(),
  inputPricePerMtok: real("input_price_per_mtok"),
  outputPricePerMtok: real("output_price_per_mtok"),
  enabled: integer("enabled", { mode: "boolean" }).notNull().default(true),
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
  },
  (t) => [
    primaryKey({ columns: [t.exampleId, t.target] }),
    index("scores_target_idx").on(t.target),
    check("scores_score_range", sql`${t.score} >= 0 AND ${t.score} <= 1`),
  ],
);
