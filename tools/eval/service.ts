import { createApp } from "../../service/app.ts";
import { loadConfig } from "../../service/config.ts";
import { buildDeps } from "../../service/deps.ts";
import { type Embedder, type EmbedPriority, WrappedEmbedder } from "../../service/embedding/embedder.ts";
import { createEmbedder } from "../../service/embedding/factory.ts";
import { createLogger } from "../../service/logger.ts";
import { rng } from "../../service/routing/crossval.ts";
import { DiskEmbeddingCache } from "./embedding-cache.ts";

/** The configured embedder with its vectors kept on disk, so a second run embeds nothing. */
class DiskCachedEmbedder extends WrappedEmbedder {
  constructor(
    inner: Embedder,
    private readonly cache: DiskEmbeddingCache,
  ) {
    super(inner);
  }
  embed(texts: readonly string[], _priority?: EmbedPriority): Promise<Float32Array[]> {
    return this.cache.embed(texts);
  }
}

/** A labelled example as `/admin/import` takes it (JSONL). */
export interface ImportLine {
  id?: string;
  text: string;
  category?: string | null;
  scores: Record<string, number>;
}

/** One target of a `/rank` answer. */
export interface RankedTarget {
  target: string;
  score: number;
}

/** What the replay reads of a /rank answer. */
export interface RankAnswer {
  scores: Array<RankedTarget & { support: number }>;
  recommended?: string | null;
  exploration?: { explored: boolean; propensity: number; trial?: boolean };
  ranking_id: string;
}

/**
 * A fresh service (in-memory SQLite, the configured embedder behind a disk cache) driven only
 * through its HTTP API, as an operator would: import, set prices, tune, rank.
 */
export class EvalService {
  private constructor(
    private readonly app: ReturnType<typeof createApp>,
    private readonly deps: Awaited<ReturnType<typeof buildDeps>>,
    readonly embedder: Embedder,
  ) {}

  private static readonly TOKEN = "evaluation-admin-token";

  static readonly FEEDBACK_TOKEN = "evaluation-feedback-token";

  static async start(options: {
    cacheDir: string;
    embedder?: Embedder;
    /** More configuration (EXPLORATION_SHARE, FEEDBACK_TOKEN...). */
    env?: Record<string, string>;
    /** Seeds exploration and trials, so that a replay is repeatable. */
    seed?: number;
  }): Promise<EvalService> {
    const config = loadConfig({
      ...process.env,
      DATABASE_PATH: ":memory:",
      SEED_ON_EMPTY: "false",
      ADMIN_TOKEN: EvalService.TOKEN,
      TUNING: "off",
      LOG_LEVEL: "warn",
      ROUTING_SETTINGS: "",
      ...options.env,
    });
    const base = options.embedder ?? (await createEmbedder(config.embedder));
    const embedder = new DiskCachedEmbedder(base, new DiskEmbeddingCache(options.cacheDir, base));
    const deps = await buildDeps(config, createLogger("warn"), {
      embedder,
      ...(options.seed !== undefined && { random: rng(options.seed) }),
    });
    return new EvalService(createApp(deps), deps, embedder);
  }

  private async call(method: string, path: string, body?: string, contentType = "application/json") {
    const headers: Record<string, string> = { authorization: `Bearer ${EvalService.TOKEN}` };
    if (body !== undefined) headers["content-type"] = contentType;
    return this.app.request(path, { method, headers, body });
  }

  /** POST /admin/import of every line (embedded first, so the import reads the disk cache). */
  async import(lines: readonly ImportLine[]): Promise<void> {
    await this.embedder.embed(lines.map((l) => l.text));
    await this.importLines(lines);
  }

  /** POST /admin/import of `lines` as they are. */
  async importLines(lines: readonly ImportLine[]): Promise<void> {
    const res = await this.call(
      "POST",
      "/admin/import",
      lines.map((l) => JSON.stringify(l)).join("\n"),
      "application/x-ndjson",
    );
    if (res.status !== 201) throw new Error(`import failed: ${res.status} ${await res.text()}`);
  }

  /**
   * GET /admin/targets/{name}/quiz?format=jsonl: import lines of the quiz's prompts, the target's
   * score null (to be filled in).
   */
  async quiz(target: string, n: number): Promise<Array<ImportLine & { id: string }>> {
    const res = await this.call(
      "GET",
      `/admin/targets/${encodeURIComponent(target)}/quiz?n=${n}&format=jsonl`,
    );
    if (res.status !== 200) throw new Error(`quiz failed: ${res.status} ${await res.text()}`);
    return (await res.text())
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((l) => JSON.parse(l) as ImportLine & { id: string });
  }

  /** PUT /admin/targets/{name}: one price for input and output tokens, USD per million. */
  async price(target: string, perMtok: number): Promise<void> {
    const res = await this.call(
      "PUT",
      `/admin/targets/${encodeURIComponent(target)}`,
      JSON.stringify({ input_price_per_mtok: perMtok, output_price_per_mtok: perMtok }),
    );
    if (!res.ok) throw new Error(`setting ${target}'s price failed: ${res.status} ${await res.text()}`);
  }

  /** POST /admin/settings/tune, then GET /admin/settings until the run is over; returns what it says. */
  async tune(): Promise<{ settings: unknown; evaluation: unknown }> {
    const started = await this.call("POST", "/admin/settings/tune");
    if (started.status !== 202) throw new Error(`tuning did not start: ${await started.text()}`);
    for (;;) {
      const status = (await (await this.call("GET", "/admin/settings")).json()) as {
        tuning: string;
        settings: unknown;
        evaluation: unknown;
      };
      if (status.tuning === "idle") return status;
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  /** POST /admin/import?format=arena of every battle (texts embedded first, for the disk cache). */
  async importBattles(
    battles: ReadonlyArray<{ text: string; model_a: string; model_b: string; winner: string }>,
  ): Promise<void> {
    const texts = [...new Set(battles.map((b) => b.text))];
    await this.embedder.embed(texts);
    // A prompt's battles go in one import (one example a prompt), 500 prompts an import.
    const byText = new Map<string, Array<(typeof battles)[number]>>();
    for (const b of battles) byText.set(b.text, [...(byText.get(b.text) ?? []), b]);
    for (let i = 0; i < texts.length; i += 500) {
      const lines = texts.slice(i, i + 500).flatMap((t) => byText.get(t) ?? []);
      const res = await this.call(
        "POST",
        "/admin/import?format=arena",
        lines.map((b) => JSON.stringify(b)).join("\n"),
        "application/x-ndjson",
      );
      if (res.status !== 201) throw new Error(`arena import failed: ${res.status} ${await res.text()}`);
    }
  }

  /** PUT /admin/targets/{name} with `patch` (a new target is created); throws unless 200 or 201. */
  async putTarget(name: string, patch: Record<string, unknown>): Promise<void> {
    const res = await this.call("PUT", `/admin/targets/${encodeURIComponent(name)}`, JSON.stringify(patch));
    if (!res.ok) throw new Error(`PUT target ${name} failed: ${res.status} ${await res.text()}`);
  }

  /** PUT /admin/settings: pins these ranking settings (the API's field names). */
  async pin(settings: Record<string, unknown>): Promise<void> {
    const res = await this.call("PUT", "/admin/settings", JSON.stringify({ pinned: true, settings }));
    if (!res.ok) throw new Error(`pinning settings failed: ${res.status} ${await res.text()}`);
  }

  /** POST /rank's whole answer. */
  async rankAnswer(query: string): Promise<RankAnswer> {
    const res = await this.app.request("/rank", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query }),
    });
    if (!res.ok) throw new Error(`rank failed: ${res.status} ${await res.text()}`);
    return (await res.json()) as RankAnswer;
  }

  /** POST /feedback with the feedback token; throws unless 200. */
  async feedback(body: Record<string, unknown>): Promise<void> {
    const res = await this.app.request("/feedback", {
      method: "POST",
      headers: {
        "content-type": "application/json",
        authorization: `Bearer ${EvalService.FEEDBACK_TOKEN}`,
      },
      body: JSON.stringify(body),
    });
    if (res.status !== 200) throw new Error(`feedback failed: ${res.status} ${await res.text()}`);
  }

  /** POST /rank: every enabled target, best first, with its predicted score. */
  async rank(query: string): Promise<RankedTarget[]> {
    return (await this.rankAnswer(query)).scores;
  }

  close(): Promise<void> {
    return this.deps.close();
  }
}
