import { and, asc, eq, gt, sql } from "drizzle-orm";
import type { Db } from "./database.ts";
import type { ScoreMap } from "./example-store.ts";
import { fromBlob } from "./rows.ts";
import { embeddings, examples, scores, stagedEmbeddings } from "./schema.ts";

/** What self-tuning reads: every labelled example with its vector, a page at a time. */
export class TuningSnapshots {
  constructor(private readonly db: Db) {}

  /**
   * A page of labelled examples with their vectors from `embedderId`, in id order after `after`:
   * what self-tuning cross-validates on. `chars` is the text's length (its cost is priced by it).
   */
  labelledPage(
    embedderId: string,
    after: string | undefined,
    limit: number,
    from: "stored" | "staged" = "stored",
  ): Array<{
    id: string;
    chars: number;
    category: string | null;
    scores: ScoreMap;
    /** Weights of the scores not counting 1 (an outcome's example), when any. */
    weights?: ScoreMap;
    /** What each score is read against, where it has a baseline. */
    baselines?: ScoreMap;
    /** An outcome's example (its scores are read against their baselines, not as labels). */
    outcome: boolean;
    vector: Float32Array;
  }> {
    // Staged vectors (a candidate embedder's) count only while made from the example as it is now.
    const vectors = from === "stored" ? embeddings : stagedEmbeddings;
    const current = from === "staged" ? eq(stagedEmbeddings.version, examples.updatedAt) : undefined;
    return this.db
      .select({
        id: examples.id,
        chars: sql<number>`length(${examples.text})`,
        category: examples.category,
        scores: sql<string>`(select json_group_object(${scores.target}, ${scores.score}) from ${scores} where ${scores.exampleId} = ${examples.id})`,
        weights: sql<string>`(select json_group_object(${scores.target}, ${scores.weight}) from ${scores} where ${scores.exampleId} = ${examples.id} and ${scores.weight} <> 1)`,
        baselines: sql<string>`(select json_group_object(${scores.target}, ${scores.baseline}) from ${scores} where ${scores.exampleId} = ${examples.id} and ${scores.baseline} is not null)`,
        origin: examples.origin,
        vector: vectors.vector,
      })
      .from(examples)
      .innerJoin(vectors, eq(vectors.exampleId, examples.id))
      .where(
        and(
          eq(vectors.embedderId, embedderId),
          current,
          after === undefined ? undefined : gt(examples.id, after),
        ),
      )
      .orderBy(asc(examples.id))
      .limit(limit)
      .all()
      .map(({ weights, baselines, origin, ...r }) => ({
        ...r,
        scores: JSON.parse(r.scores) as ScoreMap,
        ...(weights !== "{}" && { weights: JSON.parse(weights) as ScoreMap }),
        ...(baselines !== "{}" && { baselines: JSON.parse(baselines) as ScoreMap }),
        outcome: origin === "outcome",
        vector: fromBlob(r.vector),
      }));
  }
}
