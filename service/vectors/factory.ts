import type { Config } from "../config.ts";
import { QuantizedScanIndex } from "./embedded.ts";
import type { VectorIndex } from "./vector-index.ts";

/** Builds the configured vector index for vectors of `dimension`. */
export async function createVectorIndex(config: Config["vectors"], dimension: number): Promise<VectorIndex> {
  switch (config.kind) {
    case "embedded":
      return new QuantizedScanIndex(dimension);
  }
}
