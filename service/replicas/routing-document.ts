import { createHash } from "node:crypto";
import { z } from "zod";
import type { EmbeddingFeatures } from "../embedding/features.ts";
import type { Residual, TargetStats } from "../routing/aggregate.ts";
import type { RoutingChoice } from "../routing/tuning.ts";

/** A target as `/rank` needs it: its name, whether it is offered, its prices (USD per 1M tokens). */
export interface DocumentTarget {
  name: string;
  enabled: boolean;
  /** Its score where no example tells (created before any example scored it), else null. */
  priorScore: number | null;
  inputPricePerMtok: number | null;
  outputPricePerMtok: number | null;
}

/**
 * Everything `/rank` needs besides the hits' own evidence, as the primary publishes it for stateless
 * replicas: the settings in force, the embedder (its identity and the features it embeds with, the
 * learned templates among them), the vector collection to query (an alias), the targets with their
 * switches and prices, and the targets' mean scores (overall and per category) for shrinkage and
 * fallbacks. `version` grows by one at every change; `publishedAt` is when it was written.
 */
export interface RoutingDocument {
  version: number;
  publishedAt: string;
  embedder: { id: string; features: EmbeddingFeatures };
  collection: string;
  choice: RoutingChoice;
  targets: DocumentTarget[];
  stats: {
    overall: Record<string, number>;
    byCategory: Record<string, Record<string, number>>;
    /**
     * How much evidence each mean rests on, its scores' total weight (absent in documents published
     * before it was kept).
     */
    counts?: { overall: Record<string, number>; byCategory: Record<string, Record<string, number>> };
    /** Each target's residuals (scores read against a baseline), overall and per category ('' for none). */
    residuals?: { overall: Record<string, Residual>; byCategory: Record<string, Record<string, Residual>> };
  };
}

const Means = z.record(z.string(), z.number());
const Residuals = z.record(
  z.string(),
  z.object({ sum: z.number(), weight: z.number(), n: z.number(), sq: z.number() }),
);

/**
 * The document's shape, checked on every read: a replica ranks by it, so a document written by
 * another version of the service (or by hand) is refused with the field that is wrong, never cast.
 */
const RoutingDocumentSchema = z.object({
  version: z.number().int().nonnegative(),
  publishedAt: z.string(),
  embedder: z.object({
    id: z.string().min(1),
    features: z.object({
      lengthWeight: z.number().min(0).max(1),
      templates: z.object({ prefixes: z.array(z.string()), suffixes: z.array(z.string()) }),
    }),
  }),
  collection: z.string().min(1),
  choice: z.object({
    k: z.number().int().positive(),
    settings: z.object({
      power: z.number().nonnegative(),
      shrinkage: z.number().nonnegative(),
      prior: z.enum(["category", "overall"]),
      minSimilarity: z.number(),
      minSupport: z.number().int().nonnegative(),
    }),
  }),
  targets: z.array(
    z.object({
      name: z.string().min(1),
      enabled: z.boolean(),
      priorScore: z.number().nullable(),
      inputPricePerMtok: z.number().nullable(),
      outputPricePerMtok: z.number().nullable(),
    }),
  ),
  stats: z.object({
    overall: Means,
    byCategory: z.record(z.string(), Means),
    counts: z.object({ overall: Means, byCategory: z.record(z.string(), Means) }).optional(),
    residuals: z.object({ overall: Residuals, byCategory: z.record(z.string(), Residuals) }).optional(),
  }),
});

/** A routing document as read from the store, checked; throws naming the first wrong field. */
export function parseRoutingDocument(body: unknown): RoutingDocument {
  const parsed = RoutingDocumentSchema.safeParse(body);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new Error(
    `the routing document is not one this version reads: ${issue?.path.join(".") || "document"}: ${issue?.message}`,
  );
}

/** A document's content: what a change is judged on (not its version or time). */
export type DocumentContent = Omit<RoutingDocument, "version" | "publishedAt">;

export function documentContent(parts: {
  embedderId: string;
  features: EmbeddingFeatures;
  collection: string;
  choice: RoutingChoice;
  targets: DocumentTarget[];
  stats: TargetStats;
}): DocumentContent {
  return {
    embedder: { id: parts.embedderId, features: parts.features },
    collection: parts.collection,
    choice: parts.choice,
    targets: [...parts.targets].sort((a, b) => a.name.localeCompare(b.name)),
    stats: {
      overall: sortedRecord(parts.stats.overall),
      byCategory: sortedCategories(parts.stats.byCategory),
      ...(parts.stats.counts && {
        counts: {
          overall: sortedRecord(parts.stats.counts.overall),
          byCategory: sortedCategories(parts.stats.counts.byCategory),
        },
      }),
      ...(parts.stats.residuals && {
        residuals: {
          overall: sortedRecord(parts.stats.residuals.overall),
          byCategory: sortedCategories(parts.stats.residuals.byCategory),
        },
      }),
    },
  };
}

function sortedCategories<V>(
  m: ReadonlyMap<string, Readonly<Record<string, V>>>,
): Record<string, Record<string, V>> {
  return Object.fromEntries(
    [...m].sort(([a], [b]) => a.localeCompare(b)).map(([c, r]) => [c, sortedRecord(r)]),
  );
}

/** The content's fingerprint: equal for equal content, whatever order its parts were read in. */
export function contentDigest(content: DocumentContent): string {
  return createHash("sha256").update(JSON.stringify(content)).digest("hex").slice(0, 16);
}

/** The document's target statistics in the shape the ranking reads. */
export function documentStats(doc: RoutingDocument): TargetStats {
  const { counts, residuals } = doc.stats;
  return {
    overall: doc.stats.overall,
    byCategory: new Map(Object.entries(doc.stats.byCategory)),
    ...(counts && {
      counts: { overall: counts.overall, byCategory: new Map(Object.entries(counts.byCategory)) },
    }),
    ...(residuals && {
      residuals: { overall: residuals.overall, byCategory: new Map(Object.entries(residuals.byCategory)) },
    }),
  };
}

function sortedRecord<V>(r: Readonly<Record<string, V>>): Record<string, V> {
  return Object.fromEntries(Object.entries(r).sort(([a], [b]) => a.localeCompare(b)));
}
