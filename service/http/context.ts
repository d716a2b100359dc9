import type { Config } from "../config.ts";
import type { ExampleService } from "../core/example-service.ts";
import type { Ranker } from "../core/ranker.ts";
import type { Embedder } from "../embedding/embedder.ts";
import type { Logger } from "../logger.ts";
import type { ExampleStore } from "../store/example-store.ts";
import type { VectorIndex } from "../vectors/vector-index.ts";

/** Everything the HTTP edge needs, built once at start-up and passed to `createApp`. */
export interface Deps {
  config: Config;
  logger: Logger;
  store: ExampleStore;
  embedder: Embedder;
  index: VectorIndex;
  ranker: Ranker;
  examples: ExampleService;
  /** Resolves when the database answers; rejects otherwise. */
  pingDatabase(): Promise<void>;
}

/** Hono environment: request-scoped variables. */
export interface AppEnv {
  Variables: { requestId: string };
}
