import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/** The stages of POST /rank, timed apart (also sent as `Server-Timing`). */
export type RankStage = "embed" | "search" | "scores" | "aggregate";

/** Where the stored-data gauges read from, at scrape time. */
export interface MetricSources {
  examples(): number;
  vectors(): Promise<number>;
  unsynced(): number;
}

/** Latency buckets in seconds: 0.25 ms to 10 s, dense where /rank lives. */
const BUCKETS = [0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];

/**
 * The service's Prometheus metrics, on a registry of its own (so several apps in one process, as in
 * tests, do not share counts). Names start with `router_`; the default process metrics too.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: "router_http_requests_total",
    help: "HTTP requests by method, route (the matched pattern) and status",
    labelNames: ["method", "route", "status"] as const,
    registers: [this.registry],
  });
  readonly rankSeconds = new Histogram({
    name: "router_rank_duration_seconds",
    help: "Whole POST /rank and POST / handling, embedding included",
    buckets: BUCKETS,
    registers: [this.registry],
  });
  readonly rankStageSeconds = new Histogram({
    name: "router_rank_stage_duration_seconds",
    help: "Each stage of a rank: embed (truncation and embedding), search (vector index), scores (SQLite read), aggregate",
    labelNames: ["stage"] as const,
    buckets: BUCKETS,
    registers: [this.registry],
  });
  readonly embedCache = new Counter({
    name: "router_embedding_cache_lookups_total",
    help: "Embedding cache lookups by result (hit, miss)",
    labelNames: ["result"] as const,
    registers: [this.registry],
  });
  readonly fallbacks = new Counter({
    name: "router_rank_fallbacks_total",
    help: "Ranks answered from the targets' means because the neighbours were too far or too few",
    registers: [this.registry],
  });
  readonly unknownShare = new Histogram({
    name: "router_rank_unknown_text_share",
    help: "Share of a query's letters the embedding model cannot read (a language it does not read); local model only",
    buckets: [0, 0.05, 0.1, 0.25, 0.5, 0.75, 1],
    registers: [this.registry],
  });
  readonly rankedFirst = new Counter({
    name: "router_rank_first_total",
    help: "How often each target was ranked first",
    labelNames: ["target"] as const,
    registers: [this.registry],
  });
  readonly recommended = new Counter({
    name: "router_rank_recommended_total",
    help: "How often each target was recommended by an objective",
    labelNames: ["target"] as const,
    registers: [this.registry],
  });
  readonly imports = new Counter({
    name: "router_imports_total",
    help: "POST /admin/import calls by result (ok, rejected)",
    labelNames: ["result"] as const,
    registers: [this.registry],
  });
  readonly importedExamples = new Counter({
    name: "router_imported_examples_total",
    help: "Examples written by POST /admin/import",
    registers: [this.registry],
  });

  readonly handedOver = new Counter({
    name: "router_rankings_handed_over_total",
    help: "Rankings replicas handed over: on the primary, kept or refused; on a replica, sent, or dropped when the primary refused them",
    labelNames: ["result"] as const,
    registers: [this.registry],
  });

  readonly tuningRuns = new Counter({
    name: "router_tuning_runs_total",
    help: "Self-tuning runs by outcome (replaced: better settings now in force; kept; failed)",
    labelNames: ["outcome"] as const,
    registers: [this.registry],
  });

  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: "router_" });
  }

  /** Gauges of what is stored, read from `sources` when scraped. */
  watch(sources: MetricSources): void {
    new Gauge({
      name: "router_examples_stored",
      help: "Labelled examples in SQLite",
      registers: [this.registry],
      collect() {
        this.set(sources.examples());
      },
    });
    new Gauge({
      name: "router_vectors_stored",
      help: "Vectors in the vector index",
      registers: [this.registry],
      async collect() {
        this.set(await sources.vectors().catch(() => Number.NaN));
      },
    });
    new Gauge({
      name: "router_vectors_unsynced",
      help: "Stored examples the vector index does not hold yet (copied by the background sync)",
      registers: [this.registry],
      collect() {
        this.set(sources.unsynced());
      },
    });
  }

  /** A replica's routing document: its version in force and its age (since last read), when scraped. */
  watchDocument(state: () => { version: number; ageSeconds: number } | undefined): void {
    new Gauge({
      name: "router_routing_document_version",
      help: "Version of the routing document this replica ranks by (0 before the first)",
      registers: [this.registry],
      collect() {
        this.set(state()?.version ?? 0);
      },
    });
    new Gauge({
      name: "router_routing_document_age_seconds",
      help: "Seconds since this replica last read the routing document from Qdrant (its lag bound)",
      registers: [this.registry],
      collect() {
        this.set(state()?.ageSeconds ?? Number.NaN);
      },
    });
  }

  /** Records one answered rank: its stages (ms), the first target, the recommendation, a fallback. */
  observeRank(rank: {
    stages: Record<RankStage, number>;
    first: string | undefined;
    recommended?: string | null;
    fallback: boolean;
    unknownShare?: number | undefined;
  }): void {
    if (rank.unknownShare !== undefined) this.unknownShare.observe(rank.unknownShare);
    for (const [stage, ms] of Object.entries(rank.stages))
      this.rankStageSeconds.observe({ stage }, ms / 1000);
    if (rank.first !== undefined) this.rankedFirst.inc({ target: rank.first });
    if (rank.recommended) this.recommended.inc({ target: rank.recommended });
    if (rank.fallback) this.fallbacks.inc();
  }
}
