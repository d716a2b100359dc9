import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApp } from "../../service/app.ts";
import { type Config, loadConfig } from "../../service/config.ts";
import { buildDeps, type Running } from "../../service/deps.ts";
import { type Embedder, type EmbedPriority, WrappedEmbedder } from "../../service/embedding/embedder.ts";
import { HashEmbedder } from "../../service/embedding/hash.ts";
import { AppError } from "../../service/errors.ts";
import { createLogger, type Logger } from "../../service/logger.ts";
import { buildReplica, type ReplicaRunning } from "../../service/replica.ts";
import type { TuningRunner } from "../../service/tuning/worker.ts";
import type { VectorIndex } from "../../service/vectors/vector-index.ts";

export const ADMIN_TOKEN = "test-admin-token-0123456789";

let plainFile: string | undefined;

/**
 * A settings file pinning plain similarity-weighted kNN (no shrinkage, no fallback floor): what
 * tests of the ranking maths rank with, instead of the safe defaults or self-tuned settings.
 */
export function plainSettingsFile(): string {
  if (!plainFile) {
    plainFile = join(mkdtempSync(join(tmpdir(), "router-settings-")), "plain.json");
    const plain = { k: 20, power: 1, shrinkage: 0, prior: "category", minSimilarity: 0, minSupport: 1 };
    writeFileSync(plainFile, JSON.stringify(plain));
  }
  return plainFile;
}

/**
 * A fresh service on an in-memory database and the hash embedder, unless told otherwise. Ranking
 * is plain kNN pinned by a settings file unless the test gives ROUTING_SETTINGS or asks for the
 * service's own settings (`selfTuning`: safe defaults, then self-tuning).
 */
export async function startService(
  env: Record<string, string> = {},
  options: {
    embedder?: Embedder;
    index?: VectorIndex;
    selfTuning?: boolean;
    logger?: Logger;
    /** Replaces the tuning worker (a test that watches or paces the runs). */
    tuningRunner?: TuningRunner;
    /** Seeded uniform numbers for exploration and trials. */
    random?: () => number;
  } = {},
): Promise<TestService> {
  const pinPlain = !options.selfTuning && env.ROUTING_SETTINGS === undefined;
  const config = loadConfig({
    DATABASE_PATH: ":memory:",
    SEED_ON_EMPTY: "false",
    ADMIN_TOKEN,
    LOG_LEVEL: "silent",
    EMBEDDER: "hash",
    ...(pinPlain && { ROUTING_SETTINGS: plainSettingsFile() }),
    ...env,
  });
  const deps = await buildDeps(config, options.logger ?? createLogger("silent"), {
    embedder:
      options.embedder ??
      (config.embedder.kind === "hash"
        ? new HashEmbedder(config.embedder.hashDimension, config.embedder.maxInputTokens)
        : undefined),
    index: options.index,
    ...(options.tuningRunner && { tuningRunner: options.tuningRunner }),
    ...(options.random && { random: options.random }),
  });
  return new TestService(config, deps);
}

/** A logger that keeps every line, for tests about what the service says. */
export class RecordingLogger implements Logger {
  readonly lines: Array<{ level: string; message: string; fields: Record<string, unknown> }> = [];
  debug(message: string, fields: Record<string, unknown> = {}) {
    this.lines.push({ level: "debug", message, fields });
  }
  info(message: string, fields: Record<string, unknown> = {}) {
    this.lines.push({ level: "info", message, fields });
  }
  warn(message: string, fields: Record<string, unknown> = {}) {
    this.lines.push({ level: "warn", message, fields });
  }
  error(message: string, fields: Record<string, unknown> = {}) {
    this.lines.push({ level: "error", message, fields });
  }
  child(): Logger {
    return this;
  }
  /** The fields of the first line with `message`. */
  find(message: string): Record<string, unknown> | undefined {
    return this.lines.find((l) => l.message === message)?.fields;
  }
}

export class TestService {
  readonly app: ReturnType<typeof createApp>;

  constructor(
    readonly config: Config,
    readonly deps: Running,
  ) {
    this.app = createApp(deps);
  }

  /** A JSON request (a FormData body goes as multipart); `admin: true` adds the bearer token. */
  async request(
    method: string,
    path: string,
    body?: unknown,
    options: { admin?: boolean; headers?: Record<string, string> } = {},
  ): Promise<Response> {
    const headers: Record<string, string> = { ...options.headers };
    const form = body instanceof FormData;
    if (body !== undefined && !form && !headers["content-type"]) headers["content-type"] = "application/json";
    if (options.admin) headers.authorization = `Bearer ${ADMIN_TOKEN}`;
    const init: RequestInit = { method, headers };
    if (body !== undefined) init.body = typeof body === "string" || form ? body : JSON.stringify(body);
    return this.app.request(path, init);
  }

  async rank(body: unknown) {
    const res = await this.request("POST", "/rank", body);
    return { status: res.status, body: (await res.json()) as RankBody };
  }

  async addExamples(examples: unknown[]) {
    const res = await this.request("POST", "/admin/examples", { examples }, { admin: true });
    return {
      status: res.status,
      body: (await res.json()) as { ids: string[]; indexed: boolean } & ErrorBody,
    };
  }

  /** POST /admin/import?format=arena: arena battles, one a line. */
  importArena(battles: unknown[]) {
    return this.request(
      "POST",
      "/admin/import?format=arena",
      battles.map((b) => JSON.stringify(b)).join("\n"),
      {
        admin: true,
        headers: { "content-type": "application/x-ndjson" },
      },
    );
  }

  close() {
    return this.deps.close();
  }
}

export interface RankBody {
  hits: Array<{ id: string; category: string | null; similarity: number }>;
  scores: Array<{ target: string; score: number; support: number }>;
  k: number;
  truncated: boolean;
}

export interface ErrorBody {
  error: {
    code: string;
    message: string;
    requestId: string;
    details?: Array<{ path: string; message: string }>;
  };
}

/** A temporary folder removed by the returned function. */
export function tempDir(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), "router-test-"));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Wraps an embedder; `failing = true` makes it fail like an unreachable backend. */
export class SwitchableEmbedder extends WrappedEmbedder {
  failing = false;
  calls = 0;
  async embed(texts: readonly string[], priority?: EmbedPriority) {
    this.calls++;
    if (this.failing)
      throw new AppError("EMBEDDER_UNAVAILABLE", "embedding backend unreachable", { retryAfterSeconds: 2 });
    return this.inner.embed(texts, priority);
  }
  override async health() {
    if (this.failing) throw new AppError("EMBEDDER_UNAVAILABLE", "embedding backend unreachable");
  }
}

/** Example bodies on clearly separated topics, so neighbour tests are unambiguous. */
export const TOPICS = {
  code: [
    "write a python function to sort a list",
    "fix this python function that sorts a list of numbers",
    "python function to reverse a list",
  ],
  poetry: [
    "write a poem about the sea",
    "a short poem about the sea at night",
    "write a rhyming poem about waves",
  ],
};

/** The feedback token of tests that turn feedback on. */
export const FEEDBACK_TOKEN = "test-feedback-token-0123456789";

/** The token replicas hand their rankings over with, in tests. */
export const REPLICA_TOKEN = "test-replica-token-0123456789";

/** Examples where `big` is better at code and `small` at poetry. */
export const SPLIT_EXAMPLES = [
  ...TOPICS.code.map((text) => ({ text, scores: { big: 0.9, small: 0.3 } })),
  ...TOPICS.poetry.map((text) => ({ text, scores: { big: 0.3, small: 0.9 } })),
];

export function example(text: string, scores: Record<string, number>, category?: string, id?: string) {
  return { text, scores, ...(category && { category }), ...(id && { id }) };
}

/**
 * A replica (ROLE=replica) built as `npm start` builds one, with the hash embedder (as the
 * harness's primaries embed), on the Qdrant `env` names.
 */
export async function startReplica(env: Record<string, string>): Promise<ReplicaRunning> {
  const config = loadConfig({
    ROLE: "replica",
    VECTOR_STORE: "qdrant",
    EMBEDDER: "hash",
    LOG_LEVEL: "silent",
    REPLICA_POLL_MS: "100",
    ...env,
  });
  return buildReplica(config, createLogger("silent"), {
    embedder: new HashEmbedder(config.embedder.hashDimension, config.embedder.maxInputTokens),
  });
}

/** A /rank answer without its `ranking_id` (new on every answer): for comparing what was ranked. */
export function ranked<T extends object>(body: T): Omit<T, "ranking_id"> {
  const { ranking_id: _id, ...rest } = body as T & { ranking_id?: string };
  return rest;
}

/** Gives each named target the same input and output price (USD per 1M tokens) through the admin API. */
export async function priceTargets(svc: TestService, prices: Record<string, number>): Promise<void> {
  for (const [name, price] of Object.entries(prices)) {
    const res = await svc.request(
      "PUT",
      `/admin/targets/${name}`,
      { input_price_per_mtok: price, output_price_per_mtok: price },
      { admin: true },
    );
    if (res.status !== 200) throw new Error(`pricing ${name}: ${res.status} ${await res.text()}`);
  }
}
