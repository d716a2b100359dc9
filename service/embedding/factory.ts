import type { Config } from "../config.ts";
import { CachedEmbedder } from "./cache.ts";
import type { Embedder } from "./embedder.ts";
import { LengthFeatureEmbedder } from "./length-feature.ts";

/**
 * The embedder the service embeds with: `base` (or the configured backend), plus the length
 * feature when the tuned settings ask for it (`lengthWeight` > 0).
 */
export async function createServiceEmbedder(
  config: Config["embedder"],
  lengthWeight: number,
  base?: Embedder,
): Promise<Embedder> {
  const embedder = base ?? (await createEmbedder(config));
  return lengthWeight > 0 ? new LengthFeatureEmbedder(embedder, lengthWeight) : embedder;
}

/** Builds the configured embedder behind an LRU cache (EMBED_CACHE_SIZE=0 turns it off); heavy backends load only when chosen. */
export async function createEmbedder(config: Config["embedder"]): Promise<Embedder> {
  const inner = await createBackend(config);
  return config.cacheSize > 0 ? new CachedEmbedder(inner, config.cacheSize) : inner;
}

async function createBackend(config: Config["embedder"]): Promise<Embedder> {
  switch (config.kind) {
    case "local": {
      const { LocalEmbedder } = await import("./local.ts");
      return LocalEmbedder.create({ batchSize: config.batchSize, maxInputTokens: config.maxInputTokens });
    }
    case "huggingface": {
      const { HuggingFaceEmbedder } = await import("./huggingface.ts");
      return HuggingFaceEmbedder.create({
        ...config.huggingface,
        timeoutMs: config.timeoutMs,
        retries: config.retries,
        batchSize: config.batchSize,
        maxInputTokens: config.maxInputTokens,
      });
    }
    case "hash": {
      const { HashEmbedder } = await import("./hash.ts");
      return new HashEmbedder(config.hashDimension, config.maxInputTokens);
    }
  }
}
