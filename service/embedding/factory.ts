import type { Config } from "../config.ts";
import { CachedEmbedder } from "./cache.ts";
import type { Embedder } from "./embedder.ts";
import type { EmbeddingFeatures } from "./features.ts";
import { LengthFeatureEmbedder } from "./length-feature.ts";
import { hasTemplates, TemplateStrippingEmbedder } from "./templates.ts";

/**
 * The embedder the service embeds with: `base` (or the configured backend), with the tuned
 * features: learned boilerplate stripped first, then the length feature appended.
 */
export async function createServiceEmbedder(
  config: Config["embedder"],
  features: EmbeddingFeatures,
  base?: Embedder,
  onCacheLookup?: (hits: number, misses: number) => void,
): Promise<Embedder> {
  return withFeatures(base ?? (await createEmbedder(config, onCacheLookup)), features);
}

/** `base` with the features: learned boilerplate stripped first, then the length feature appended. */
export function withFeatures(base: Embedder, features: EmbeddingFeatures): Embedder {
  let embedder = base;
  // Inner first: the length feature measures the prompt after its boilerplate is stripped.
  if (features.lengthWeight > 0) embedder = new LengthFeatureEmbedder(embedder, features.lengthWeight);
  if (hasTemplates(features.templates))
    embedder = new TemplateStrippingEmbedder(embedder, features.templates);
  return embedder;
}

/** Builds the configured embedder behind an LRU cache (EMBED_CACHE_SIZE=0 turns it off); heavy backends load only when chosen. */
export async function createEmbedder(
  config: Config["embedder"],
  onCacheLookup?: (hits: number, misses: number) => void,
): Promise<Embedder> {
  const inner = await createBackend(config);
  return config.cacheSize > 0 ? new CachedEmbedder(inner, config.cacheSize, onCacheLookup) : inner;
}

async function createBackend(config: Config["embedder"]): Promise<Embedder> {
  switch (config.kind) {
    case "local": {
      const { LocalEmbedder } = await import("./local.ts");
      return LocalEmbedder.create({
        batchSize: config.batchSize,
        maxInputTokens: config.maxInputTokens,
        workers: config.workers,
        longTextWorker: config.longTextWorker,
      });
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
    case "openai": {
      const { OpenAIEmbedder } = await import("./openai.ts");
      const { baseUrl, model, apiKey, dimensions, dimension } = config.openai;
      return OpenAIEmbedder.create({
        // Checked by the configuration: both are set with EMBEDDER=openai.
        baseUrl: baseUrl as string,
        model: model as string,
        ...(apiKey && { apiKey }),
        ...(dimensions !== undefined && { dimensions }),
        ...(dimension !== undefined && { dimension }),
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
