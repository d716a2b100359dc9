import type { Config } from "../config.ts";
import { QuantizedScanIndex } from "./embedded.ts";
import type { VectorIndex } from "./vector-index.ts";

/**
 * Builds the configured vector index for vectors of `dimension` made by `embedderId`. Qdrant's
 * client loads only when chosen. `onMismatch: "recreate"` lets `npm run reindex` rebuild a
 * collection made for another embedder.
 */
export async function createVectorIndex(
  config: Config["vectors"],
  dimension: number,
  embedderId: string,
  onMismatch: "refuse" | "recreate" = "refuse",
): Promise<VectorIndex> {
  if (config.kind === "qdrant") {
    const { QdrantIndex } = await import("./qdrant.ts");
    return QdrantIndex.open(
      {
        url: config.qdrant.url as string,
        apiKey: config.qdrant.apiKey,
        collection: config.qdrant.collection,
        timeoutMs: config.qdrant.timeoutMs,
        collectionSettings: config.qdrant.collectionSettings,
        writeOrdering: config.qdrant.writeOrdering,
        batchSize: config.batchSize,
        embedderId,
        onMismatch,
      },
      dimension,
    );
  }
  if (config.kind === "hnsw") {
    const { HnswIndex } = await import("./hnsw.ts");
    return new HnswIndex(dimension, config.hnsw);
  }
  return new QuantizedScanIndex(dimension, config.scan);
}
