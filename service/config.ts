import { z } from "zod";
import type { LogLevel } from "./logger.ts";

const bool = z
  .enum(["true", "false", "1", "0", "yes", "no"])
  .transform((v) => v === "true" || v === "1" || v === "yes");

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** Every environment variable the service reads, with its default. `.env.example` mirrors this. */
const EnvSchema = z.object({
  PORT: int(0, 65535).default(8888),
  HOST: z.string().min(1).default("0.0.0.0"),
  LOG_LEVEL: z.enum(["debug", "info", "warn", "error", "silent"]).default("info"),
  DATABASE_PATH: z.string().min(1).default("./data/router.db"),
  SEED_ON_EMPTY: bool.default(true),
  SEED_DIR: z.string().min(1).default("./seed-data"),
  ADMIN_TOKEN: z
    .string()
    .min(16, "must be at least 16 characters")
    .optional()
    .or(z.literal("").transform(() => undefined)),
  EMBEDDER: z.enum(["local", "hash"]).default("local"),
  EMBED_BATCH_SIZE: int(1, 1024).default(32),
  EMBED_MAX_TOKENS: int(8, 100_000).default(256),
  HASH_EMBEDDER_DIMENSION: int(8, 4096).default(256),
  VECTOR_STORE: z.enum(["embedded"]).default("embedded"),
  DEFAULT_K: int(1, 200).default(20),
  MAX_QUERY_CHARS: int(1, 10_000_000).default(100_000),
  RANK_BODY_LIMIT_BYTES: int(1024, 1 << 30).default(1 << 20),
  ADMIN_BODY_LIMIT_BYTES: int(1024, 1 << 30).default(64 << 20),
});

export type Env = z.infer<typeof EnvSchema>;

/** Typed configuration, sliced per consumer so a factory sees only what it needs. */
export interface Config {
  server: { port: number; host: string; logLevel: LogLevel };
  database: { path: string; seedOnEmpty: boolean; seedDir: string };
  admin: { token: string | undefined };
  embedder: {
    kind: Env["EMBEDDER"];
    batchSize: number;
    maxInputTokens: number;
    hashDimension: number;
  };
  vectors: { kind: Env["VECTOR_STORE"] };
  rank: { defaultK: number; maxQueryChars: number; bodyLimitBytes: number };
  adminBodyLimitBytes: number;
}

export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

/** Parses the environment once; throws a ConfigError naming every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join(".")}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join("\n")}`);
  }
  const e = parsed.data;
  return {
    server: { port: e.PORT, host: e.HOST, logLevel: e.LOG_LEVEL },
    database: { path: e.DATABASE_PATH, seedOnEmpty: e.SEED_ON_EMPTY, seedDir: e.SEED_DIR },
    admin: { token: e.ADMIN_TOKEN },
    embedder: {
      kind: e.EMBEDDER,
      batchSize: e.EMBED_BATCH_SIZE,
      maxInputTokens: e.EMBED_MAX_TOKENS,
      hashDimension: e.HASH_EMBEDDER_DIMENSION,
    },
    vectors: { kind: e.VECTOR_STORE },
    rank: {
      defaultK: e.DEFAULT_K,
      maxQueryChars: e.MAX_QUERY_CHARS,
      bodyLimitBytes: e.RANK_BODY_LIMIT_BYTES,
    },
    adminBodyLimitBytes: e.ADMIN_BODY_LIMIT_BYTES,
  };
}
