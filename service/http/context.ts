import type { Config } from "../config.ts";
import type { Backups } from "../core/backups.ts";
import type { ExampleService } from "../core/example-service.ts";
import type { Ranker } from "../core/ranker.ts";
import type { TargetService } from "../core/target-service.ts";
import type { Traffic } from "../core/traffic.ts";
import type { Embedder } from "../embedding/embedder.ts";
import type { FeedbackService, RankingKeeper } from "../learning/feedback-service.ts";
import type { QuizService } from "../learning/quiz.ts";
import type { Logger } from "../logger.ts";
import type { Metrics } from "../metrics.ts";
import type { SettingsModel } from "../tuning/settings-model.ts";
import type { Tuner } from "../tuning/tuner.ts";
import type { VectorIndex } from "../vectors/vector-index.ts";

/** Everything the HTTP edge needs, built once at start-up and passed to `createApp`. */
export interface Deps {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  /** Its identity and dimension (reported by /rank, checked by imports) and its health. */
  embedder: Embedder;
  /** Its health. */
  index: VectorIndex;
  ranker: Ranker;
  /** What /readyz probes, by name: each resolves when that part can serve, and rejects otherwise. */
  checks: Record<string, () => Promise<unknown>>;
  /** A replica's routing document, as /readyz reports it. */
  document?: () => { version: number; ageSeconds: number } | undefined;
  /** Rankings kept for outcomes, and outcomes: on the primary. */
  feedback?: FeedbackService;
  /**
   * Where /rank hands each ranking: the primary's feedback service, or on a replica with
   * FEEDBACK_TOKEN and PRIMARY_URL, a relay to the primary. Without one, rankings get an id only.
   */
  keeper?: RankingKeeper;
  /** The admin API's services: on the primary only (a replica answers /admin/* 503). */
  admin?: AdminServices;
  /** Set once the process is shutting down: new requests are refused and connections close. */
  lifecycle: { draining: boolean };
  /** Requests in flight, counted for the bulk work (imports) that lets them go first. */
  traffic?: Traffic;
}

/** What the admin API works on. */
export interface AdminServices {
  examples: ExampleService;
  targets: TargetService;
  /** The ranking settings in force; pinning. */
  settings: SettingsModel;
  /** Self-tuning: its state, and a run on demand. */
  tuning: Tuner;
  /** Online copies of the database. */
  backups: Backups;
  /** A new target's quiz: prompts that cover the example space, to score it on offline. */
  quiz: QuizService;
}

/** The edge's dependencies on the primary, with the admin services beside them. */
export type AdminDeps = Deps & AdminServices;

/** Hono environment: request-scoped variables. */
export interface AppEnv {
  Variables: {
    requestId: string;
    /** This request's logger: every line carries its id (and its trace, when one came in). */
    logger: Logger;
  };
}
