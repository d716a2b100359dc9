import type { Config } from "../config.ts";
import type { Embedder } from "./embedder.ts";

/** Builds the configured embedder; heavy backends load only when chosen. */
export async function createEmbedder(config: Config["embedder"]): Promise<Embedder> {
  switch (config.kind) {
    case "local": {
      const { LocalEmbedder } = await import("./local.ts");
      return LocalEmbedder.create({ batchSize: config.batchSize, maxInputTokens: config.maxInputTokens });
    }
    case "hash": {
      const { HashEmbedder } = await import("./hash.ts");
      return new HashEmbedder(config.hashDimension, config.maxInputTokens);
    }
  }
}
