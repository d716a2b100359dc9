import { existsSync, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { dirname, join } from "node:path";
import { parseEnv } from "node:util";
import { z } from "zod";
import type { LogLevel } from "./logger.ts";

const bool = z
  .enum(["true", "false", "1", "0", "yes", "no"])
  .transform((v) => v === "true" || v === "1" || v === "yes");

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** Every environment variable the service reads, with its default. `.env.example` mirrors this. */
export const EnvSchema = z.object({
  PORT: int(0, 65535).default(8888),
  SHUTDOWN_GRACE_MS: int(0, 600_000).default(10_000),
  HOST: z.string().min(1).default("0.0.0.0"),
  LOG_LEVEL: z.enum(["debug", "info", "warn", "error", "silent"]).default("info"),
  DATABASE_PATH: z.string().min(1).default("./data/router.db"),
  BACKUP_DIR: z.string().min(1).optional(),
  SEED_ON_EMPTY: bool.default(true),
  ROLE: z.enum(["primary", "replica"]).default("primary"),
  PRIMARY_URL: z.url().optional(),
  REPLICA_MAX_STALENESS_S: int(1, 86_400).default(30),
  REPLICA_POLL_MS: int(100, 3_600_000).default(2_000),
  SEED_DIR: z.string().min(1).default("./seed-data"),
  ADMIN_TOKEN: z
    .string()
    .min(16, "must be at least 16 characters")
    .optional()
    .or(z.literal("").transform(() => undefined)),
  CORS_ORIGINS: z
    .string()
    .regex(
      /^(\*|https?:\/\/[^\s,]+(,https?:\/\/[^\s,]+)*)$/,
      "`*` or comma-separated origins such as https://app.example.com",
    )
    .optional(),
  FEEDBACK_TOKEN: z
    .string()
    .min(16, "must be at least 16 characters")
    .optional()
    .or(z.literal("").transform(() => undefined)),
  REPLICA_TOKEN: z
    .string()
    .min(16, "must be at least 16 characters")
    .optional()
    .or(z.literal("").transform(() => undefined)),
  FEEDBACK_WINDOW_S: int(1, 365 * 86_400).default(86_400),
  FEEDBACK_MAX_RANKINGS: int(1, 100_000_000).default(1_000_000),
  FEEDBACK_MAX_BYTES: int(1024, 2 ** 50).default(1 << 30),
  FEEDBACK_REVIEW: bool.default(false),
  FEEDBACK_MAX_WEIGHT: z.coerce.number().min(1).max(1000).default(1),
  FEEDBACK_OUTCOME_WEIGHT: z.coerce.number().gt(0).max(1).default(0.5),
  METRICS_TOKEN: z
    .string()
    .min(16, "must be at least 16 characters")
    .optional()
    .or(z.literal("").transform(() => undefined)),
  EMBEDDER: z.enum(["local", "huggingface", "openai", "hash"]).default("local"),
  EMBED_BATCH_SIZE: int(1, 1024).default(32),
  EMBED_WORKERS: int(1, 64).default(2),
  EMBED_LONG_WORKER: bool.default(true),
  EMBED_MAX_TOKENS: int(8, 100_000).default(256),
  HASH_EMBEDDER_DIMENSION: int(8, 4096).default(256),
  EMBED_CACHE_SIZE: int(0, 10_000_000).default(10_000),
  EMBED_TIMEOUT_MS: int(100, 600_000).default(10_000),
  EMBED_RETRIES: int(0, 10).default(3),
  HF_TOKEN: z.string().min(1).optional(),
  HF_MODEL: z.string().min(1).optional(),
  HF_ENDPOINT_URL: z.url().optional(),
  HF_PROVIDER: z.string().min(1).default("hf-inference"),
  OPENAI_BASE_URL: z.url().optional(),
  OPENAI_API_KEY: z.string().min(1).optional(),
  OPENAI_EMBEDDING_MODEL: z.string().min(1).optional(),
  OPENAI_EMBEDDING_DIMENSIONS: int(1, 65_536).optional(),
  VECTOR_STORE: z.enum(["embedded", "hnsw", "qdrant"]).default("embedded"),
  INDEX_IMAGE: bool.default(true),
  INDEX_THREADS: int(1, 64).default(Math.min(2, availableParallelism())),
  INDEX_COMPACT_FROM: int(0, 1_000_000_000).default(250_000),
  INDEX_COMPACT_CANDIDATES: int(64, 1_000_000).default(8192),
  HNSW_CONNECTIVITY: int(2, 256).default(16),
  HNSW_EXPANSION_ADD: int(1, 4096).default(128),
  HNSW_EXPANSION_SEARCH: int(1, 4096).default(128),
  HNSW_EXACT_BELOW: int(0, 1_000_000_000).default(20_000),
  QDRANT_URL: z.url().optional(),
  QDRANT_API_KEY: z.string().min(1).optional(),
  QDRANT_COLLECTION: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,255}$/, "letters, digits, _ and - only")
    .default("examples"),
  QDRANT_TIMEOUT_MS: int(100, 600_000).default(5_000),
  QDRANT_SHARDS: int(1, 1024).optional(),
  QDRANT_REPLICATION_FACTOR: int(1, 64).optional(),
  QDRANT_WRITE_CONSISTENCY_FACTOR: int(1, 64).optional(),
  QDRANT_ON_DISK_VECTORS: bool.optional(),
  QDRANT_ON_DISK_PAYLOAD: bool.optional(),
  QDRANT_WRITE_ORDERING: z.enum(["weak", "medium", "strong"]).default("weak"),
  QDRANT_PAYLOAD_INDEXES: z
    .string()
    .regex(
      /^[A-Za-z_][A-Za-z0-9_.]*:(keyword|integer|float|bool|text|uuid|datetime)(,[A-Za-z_][A-Za-z0-9_.]*:(keyword|integer|float|bool|text|uuid|datetime))*$/,
      "comma-separated field:type pairs, e.g. category:keyword",
    )
    .optional(),
  INDEX_BATCH_SIZE: int(1, 10_000).default(256),
  INDEX_RETRY_MS: int(10, 3_600_000).default(1_000),
  DEFAULT_K: int(1, 200).optional(),
  RANK_EVIDENCE: z.enum(["store", "index"]).default("store"),
  ROUTING_SETTINGS: z.string().min(1).optional(),
  TUNING: z.enum(["auto", "off"]).default("auto"),
  TUNE_CHANGE_SHARE: z.coerce.number().min(0).max(1).default(0.1),
  TUNE_CHANGE_COUNT: int(1, 1_000_000_000).default(1000),
  TUNE_MIN_INTERVAL_MS: int(0, 86_400_000).default(600_000),
  TUNE_DELAY_MS: int(0, 3_600_000).default(5_000),
  TUNE_MAX_WAIT_MS: int(0, 86_400_000).default(60_000),
  TUNE_TEMPLATES: bool.default(true),
  FALLBACK_TARGET: z.string().trim().min(1).optional(),
  EXPLORATION_SHARE: z.coerce.number().min(0).max(1).default(0),
  TRIAL_SHARE: z.coerce.number().min(0).max(1).default(0.1),
  TRIAL_OUTCOMES: int(1, 1_000_000).default(10),
  MAX_QUERY_CHARS: int(1, 10_000_000).default(100_000),
  RANK_BODY_LIMIT_BYTES: int(1024, 1 << 30).default(1 << 20),
  ADMIN_BODY_LIMIT_BYTES: int(1024, 1 << 30).default(64 << 20),
});

export type Env = z.infer<typeof EnvSchema>;

/** Variables a backend needs only when it is chosen. */
const RequiredByBackend = EnvSchema.superRefine((e, ctx) => {
  if (e.RANK_EVIDENCE === "index" && e.VECTOR_STORE !== "qdrant") {
    ctx.addIssue({
      code: "custom",
      path: ["RANK_EVIDENCE"],
      message: "index needs VECTOR_STORE=qdrant (only Qdrant keeps the evidence beside each vector)",
    });
  }
  if (e.VECTOR_STORE === "qdrant" && !e.QDRANT_URL) {
    ctx.addIssue({ code: "custom", path: ["QDRANT_URL"], message: "required when VECTOR_STORE=qdrant" });
  }
  if (e.EMBEDDER === "huggingface" && !e.HF_MODEL && !e.HF_ENDPOINT_URL) {
    ctx.addIssue({
      code: "custom",
      path: ["HF_MODEL"],
      message:
        "EMBEDDER=huggingface needs HF_MODEL (Inference Providers) or HF_ENDPOINT_URL (a Text Embeddings Inference server)",
    });
  }
  if (e.EMBEDDER === "openai" && !e.OPENAI_BASE_URL) {
    ctx.addIssue({
      code: "custom",
      path: ["OPENAI_BASE_URL"],
      message: "EMBEDDER=openai needs the server's /v1 base, e.g. http://ollama:11434/v1",
    });
  }
  if (e.EMBEDDER === "openai" && !e.OPENAI_EMBEDDING_MODEL) {
    ctx.addIssue({
      code: "custom",
      path: ["OPENAI_EMBEDDING_MODEL"],
      message: "EMBEDDER=openai needs the model the server embeds with, e.g. nomic-embed-text",
    });
  }
  if (e.EMBEDDER === "huggingface" && !e.HF_ENDPOINT_URL && !e.HF_TOKEN) {
    ctx.addIssue({
      code: "custom",
      path: ["HF_TOKEN"],
      message: "required for Hugging Face Inference Providers",
    });
  }
});

export type PayloadIndexType = "keyword" | "integer" | "float" | "bool" | "text" | "uuid" | "datetime";

/** How the service creates a Qdrant collection; unset fields keep Qdrant's defaults. */
export interface QdrantCollectionSettings {
  shardNumber?: number | undefined;
  replicationFactor?: number | undefined;
  writeConsistencyFactor?: number | undefined;
  onDiskVectors?: boolean | undefined;
  onDiskPayload?: boolean | undefined;
  /** Payload fields indexed at creation (for filters). */
  payloadIndexes: Array<{ field: string; type: PayloadIndexType }>;
}

/** Typed configuration, sliced per consumer so a factory sees only what it needs. */
export interface Config {
  server: { port: number; host: string; logLevel: LogLevel; shutdownGraceMs: number };
  database: {
    path: string;
    /** BACKUP_DIR: where POST /admin/backup writes (default: `backups` beside the database). */
    backupDir: string;
    seedOnEmpty: boolean;
    seedDir: string;
    /** A replica reads the routing document this often, in ms. */
    replicaPollMs: number;
  };
  admin: { token: string | undefined };
  /** ROLE and what a replica needs: it ranks from the primary's routing document and Qdrant alone. */
  replica: {
    role: "primary" | "replica";
    /** PRIMARY_URL: named in the 503 a replica answers admin calls with. */
    primaryUrl: string | undefined;
    /** A replica whose document is older than this (seconds) is not ready. */
    maxStalenessSeconds: number;
    /**
     * REPLICA_TOKEN: what a replica hands its rankings to the primary with, and what the primary
     * takes them with (besides the admin token). Never the feedback token, which client applications hold.
     */
    token: string | undefined;
  };
  /** FEEDBACK_TOKEN and how rankings are kept for outcomes; off (nothing kept) without the token. */
  feedback: {
    token: string | undefined;
    windowSeconds: number;
    maxRankings: number;
    /** FEEDBACK_MAX_BYTES: most bytes of prompts kept (the oldest rankings go first). */
    maxBytes: number;
    review: boolean;
    /** FEEDBACK_MAX_WEIGHT: the cap on 1 / propensity for an outcome on the recommendation (1: off). */
    maxWeight: number;
    /** FEEDBACK_OUTCOME_WEIGHT: what one outcome counts for against one label (in (0, 1]). */
    outcomeWeight: number;
  };
  /** When set, GET /metrics needs `Authorization: Bearer <METRICS_TOKEN>` (or the admin token). */
  metricsToken: string | undefined;
  /** CORS_ORIGINS: origins allowed to call the API from a browser; unset, CORS is off. */
  corsOrigins: string[] | "*" | undefined;
  embedder: {
    kind: Env["EMBEDDER"];
    batchSize: number;
    /** Local model worker threads. */
    workers: number;
    /** Local model: one more worker for long query texts only. */
    longTextWorker: boolean;
    maxInputTokens: number;
    hashDimension: number;
    cacheSize: number;
    timeoutMs: number;
    retries: number;
    huggingface: {
      token?: string;
      model?: string;
      endpointUrl?: string;
      provider: string;
      /** Known from the stored vectors (set at start, not from the environment). */
      dimension?: number;
    };
    /** EMBEDDER=openai: a server speaking OpenAI's /v1/embeddings. */
    openai: {
      baseUrl?: string;
      apiKey?: string;
      model?: string;
      /** Asked of the server (`dimensions`); unset, the model's own. */
      dimensions?: number;
      /** Known from the stored vectors (set at start, not from the environment). */
      dimension?: number;
    };
  };
  vectors: {
    kind: Env["VECTOR_STORE"];
    /** INDEX_IMAGE: the embedded index saves itself beside the database at shutdown and starts from that. Default true. */
    image: boolean;
    /** The embedded exact scan: INDEX_THREADS, INDEX_COMPACT_FROM (0: never), INDEX_COMPACT_CANDIDATES. */
    scan: { threads: number; compactFrom: number; compactCandidates: number };
    qdrant: {
      url?: string;
      apiKey?: string;
      collection: string;
      timeoutMs: number;
      /** Applied to every collection the service creates (a template switch's included). */
      collectionSettings: QdrantCollectionSettings;
      /** QDRANT_WRITE_ORDERING: the `ordering` of every write. */
      writeOrdering: "weak" | "medium" | "strong";
    };
    hnsw: { connectivity: number; expansionAdd: number; expansionSearch: number; exactBelow: number };
    batchSize: number;
    retryMs: number;
  };
  rank: {
    /** From DEFAULT_K; when unset, the k of the settings in force. */
    defaultK: number | undefined;
    /** ROUTING_SETTINGS: a settings file that pins the settings while it is configured. */
    settingsPath: string | undefined;
    /** The target an out-of-distribution query's ranking puts first. */
    fallbackTarget: string | undefined;
    /** RANK_EVIDENCE: read a hit's scores from SQLite, or from the index's payload (Qdrant). */
    evidenceFrom: "store" | "index";
    /** EXPLORATION_SHARE: most share of answers whose recommendation explores; 0 is off. */
    explorationShare: number;
    /**
     * A new target's trials (with feedback on): TRIAL_SHARE of the answers in a region recommend a
     * target created with a prior until it has TRIAL_OUTCOMES scores there. Share 0 is off.
     */
    trials: { share: number; outcomes: number };
    maxQueryChars: number;
    bodyLimitBytes: number;
  };
  adminBodyLimitBytes: number;
  tuning: TuningPolicy;
}

/** When the service re-tunes itself. */
export interface TuningPolicy {
  /** Tune in the background at all (TUNING=auto). Default true. */
  auto: boolean;
  /** Re-tune once this share of the examples tuned on has changed. Default 0.1. */
  changeShare: number;
  /** ... or once this many example writes and deletes happened. Default 1000. */
  changeCount: number;
  /**
   * Least time between the end of a run and the start of the next, in ms: it guards the CPU. Not
   * applied when the examples at least doubled since the settings in force were tuned. Default 600000.
   */
  minIntervalMs: number;
  /** Quiet period: a run starts once no example was written for this long, in ms. Default 5000. */
  delayMs: number;
  /** ... but a stream of writes delays it by at most this much from the change that called for it, in ms. Default 60000. */
  maxWaitMs: number;
  /** Learn shared prompt boilerplate as part of tuning, and switch to it when it ranks better. Default true. */
  templates: boolean;
}

export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

/**
 * The environment with the variables of a `.env` file (`path`, when it exists) under it: a variable
 * set in the environment wins over the file's. The file is read as Node reads `--env-file`
 * (`KEY=value` lines, `#` comments, quoted values).
 */
export function withDotEnv(env: NodeJS.ProcessEnv = process.env, path = ".env"): NodeJS.ProcessEnv {
  if (!existsSync(path)) return env;
  let file: Record<string, string>;
  try {
    file = parseEnv(readFileSync(path, "utf8")) as Record<string, string>;
  } catch (err) {
    throw new ConfigError(`${path} could not be read: ${err instanceof Error ? err.message : String(err)}`);
  }
  const merged: NodeJS.ProcessEnv = { ...file };
  for (const [key, value] of Object.entries(env)) if (value !== undefined) merged[key] = value;
  return merged;
}

/** Parses the environment once; throws a ConfigError naming every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // An empty value (`HF_TOKEN=` in an env file) means unset, so the default applies.
  const given = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ""));
  if (given.READ_ONLY !== undefined && !["false", "0", "no"].includes(given.READ_ONLY)) {
    throw new ConfigError(
      "invalid configuration:\n  READ_ONLY: replicas on a copy of the database file are gone; a replica follows the primary through Qdrant (ROLE=replica, VECTOR_STORE=qdrant, see docs/deployment.md)",
    );
  }
  const parsed = RequiredByBackend.safeParse(given);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join(".")}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join("\n")}`);
  }
  const e = parsed.data;
  return {
    server: { port: e.PORT, host: e.HOST, logLevel: e.LOG_LEVEL, shutdownGraceMs: e.SHUTDOWN_GRACE_MS },
    database: {
      path: e.DATABASE_PATH,
      backupDir:
        e.BACKUP_DIR ??
        join(dirname(e.DATABASE_PATH === ":memory:" ? "./data/router.db" : e.DATABASE_PATH), "backups"),
      seedOnEmpty: e.SEED_ON_EMPTY,
      seedDir: e.SEED_DIR,
      replicaPollMs: e.REPLICA_POLL_MS,
    },
    admin: { token: e.ADMIN_TOKEN },
    feedback: {
      token: e.FEEDBACK_TOKEN,
      windowSeconds: e.FEEDBACK_WINDOW_S,
      maxRankings: e.FEEDBACK_MAX_RANKINGS,
      maxBytes: e.FEEDBACK_MAX_BYTES,
      review: e.FEEDBACK_REVIEW,
      maxWeight: e.FEEDBACK_MAX_WEIGHT,
      outcomeWeight: e.FEEDBACK_OUTCOME_WEIGHT,
    },
    replica: {
      role: e.ROLE,
      primaryUrl: e.PRIMARY_URL,
      maxStalenessSeconds: e.REPLICA_MAX_STALENESS_S,
      token: e.REPLICA_TOKEN,
    },
    metricsToken: e.METRICS_TOKEN,
    corsOrigins:
      e.CORS_ORIGINS === undefined ? undefined : e.CORS_ORIGINS === "*" ? "*" : e.CORS_ORIGINS.split(","),
    embedder: {
      kind: e.EMBEDDER,
      batchSize: e.EMBED_BATCH_SIZE,
      workers: e.EMBED_WORKERS,
      longTextWorker: e.EMBED_LONG_WORKER,
      maxInputTokens: e.EMBED_MAX_TOKENS,
      hashDimension: e.HASH_EMBEDDER_DIMENSION,
      cacheSize: e.EMBED_CACHE_SIZE,
      timeoutMs: e.EMBED_TIMEOUT_MS,
      retries: e.EMBED_RETRIES,
      huggingface: {
        token: e.HF_TOKEN,
        model: e.HF_MODEL,
        endpointUrl: e.HF_ENDPOINT_URL,
        provider: e.HF_PROVIDER,
      },
      openai: {
        baseUrl: e.OPENAI_BASE_URL,
        apiKey: e.OPENAI_API_KEY,
        model: e.OPENAI_EMBEDDING_MODEL,
        dimensions: e.OPENAI_EMBEDDING_DIMENSIONS,
      },
    },
    vectors: {
      kind: e.VECTOR_STORE,
      image: e.INDEX_IMAGE,
      scan: {
        threads: e.INDEX_THREADS,
        compactFrom: e.INDEX_COMPACT_FROM,
        compactCandidates: e.INDEX_COMPACT_CANDIDATES,
      },
      qdrant: {
        url: e.QDRANT_URL,
        apiKey: e.QDRANT_API_KEY,
        collection: e.QDRANT_COLLECTION,
        timeoutMs: e.QDRANT_TIMEOUT_MS,
        collectionSettings: {
          shardNumber: e.QDRANT_SHARDS,
          replicationFactor: e.QDRANT_REPLICATION_FACTOR,
          writeConsistencyFactor: e.QDRANT_WRITE_CONSISTENCY_FACTOR,
          onDiskVectors: e.QDRANT_ON_DISK_VECTORS,
          onDiskPayload: e.QDRANT_ON_DISK_PAYLOAD,
          payloadIndexes: (e.QDRANT_PAYLOAD_INDEXES?.split(",") ?? []).map((pair) => {
            const [field, type] = pair.split(":") as [string, PayloadIndexType];
            return { field, type };
          }),
        },
        writeOrdering: e.QDRANT_WRITE_ORDERING,
      },
      hnsw: {
        connectivity: e.HNSW_CONNECTIVITY,
        expansionAdd: e.HNSW_EXPANSION_ADD,
        expansionSearch: e.HNSW_EXPANSION_SEARCH,
        exactBelow: e.HNSW_EXACT_BELOW,
      },
      batchSize: e.INDEX_BATCH_SIZE,
      retryMs: e.INDEX_RETRY_MS,
    },
    rank: {
      defaultK: e.DEFAULT_K,
      evidenceFrom: e.RANK_EVIDENCE,
      settingsPath: e.ROUTING_SETTINGS,
      fallbackTarget: e.FALLBACK_TARGET,
      explorationShare: e.EXPLORATION_SHARE,
      trials: { share: e.TRIAL_SHARE, outcomes: e.TRIAL_OUTCOMES },
      maxQueryChars: e.MAX_QUERY_CHARS,
      bodyLimitBytes: e.RANK_BODY_LIMIT_BYTES,
    },
    adminBodyLimitBytes: e.ADMIN_BODY_LIMIT_BYTES,
    tuning: {
      auto: e.TUNING === "auto",
      changeShare: e.TUNE_CHANGE_SHARE,
      changeCount: e.TUNE_CHANGE_COUNT,
      minIntervalMs: e.TUNE_MIN_INTERVAL_MS,
      delayMs: e.TUNE_DELAY_MS,
      maxWaitMs: e.TUNE_MAX_WAIT_MS,
      templates: e.TUNE_TEMPLATES,
    },
  };
}
