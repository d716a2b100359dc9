import OpenAI, { APIConnectionError, APIError } from "openai";
import { AppError } from "../errors.ts";
import { type Embedder, normalize } from "./embedder.ts";
import { embedInBatches, probeDimension } from "./remote.ts";
import { type Span, wordSpans } from "./truncate.ts";

export interface OpenAIEmbedderOptions {
  /** The server's `/v1` base, e.g. `http://ollama:11434/v1`, `http://vllm:8000/v1`, `https://api.openai.com/v1`. */
  baseUrl: string;
  /** Sent as `Authorization: Bearer`; servers that take none (Ollama, a local vLLM) need none. */
  apiKey?: string;
  /** The model the server embeds with, as it names it (`nomic-embed-text`, `text-embedding-3-small`). */
  model: string;
  /** Asked of the server as `dimensions` (models that can shorten their vectors); unset, the model's own. */
  dimensions?: number;
  /** Timeout of one request, in ms. */
  timeoutMs: number;
  /** Retries after a failed request (timeouts, 408, 409, 429, 5xx, network), with backoff; then 503. */
  retries: number;
  /** Texts per request. */
  batchSize: number;
  /** Token limit used by truncate_strategy before sending. */
  maxInputTokens: number;
  /** The fetch the client uses; tests pass a recorder. Default the global fetch. */
  fetch?: typeof fetch;
  /**
   * The model's dimension when already known (the stored vectors say it): if the server does not
   * answer at start, the embedder is made anyway, and every call answers 503 until it does.
   */
  dimension?: number;
}

/**
 * Embeddings from any server that speaks OpenAI's `POST /v1/embeddings` (Ollama, vLLM, llama.cpp's
 * server, LM Studio, LocalAI, OpenAI and Azure OpenAI themselves), through the `openai` client: its
 * retries (bounded by EMBED_RETRIES, backing off and honouring `Retry-After`) and timeout, then
 * `503 EMBEDDER_UNAVAILABLE`. Vectors are asked for as floats (servers differ on base64) and
 * normalised here, whatever the server does.
 */
export class OpenAIEmbedder implements Embedder {
  readonly id: string;
  readonly maxInputTokens: number;
  /** When a request last succeeded (ms since the epoch); 0 before any. */
  private lastSuccess = 0;

  private constructor(
    private readonly client: OpenAI,
    private readonly options: OpenAIEmbedderOptions,
    readonly dimension: number,
  ) {
    this.id = `openai:${options.model}:${dimension}`;
    this.maxInputTokens = options.maxInputTokens;
  }

  /**
   * Connects and detects the model's dimension by embedding a probe text. When the server does not
   * answer and `options.dimension` is known, starts without it (not ready) instead of failing.
   */
  static async create(options: OpenAIEmbedderOptions): Promise<OpenAIEmbedder> {
    const client = new OpenAI({
      baseURL: options.baseUrl,
      // The client insists on a key; a server that takes none gets no Authorization header.
      apiKey: options.apiKey ?? "none",
      ...(options.apiKey === undefined && { defaultHeaders: { Authorization: null } }),
      maxRetries: options.retries,
      timeout: options.timeoutMs,
      ...(options.fetch && { fetch: options.fetch }),
    });
    const probe = new OpenAIEmbedder(client, options, 0);
    const dimension = await probeDimension((texts) => probe.request(texts), options.dimension);
    const embedder = new OpenAIEmbedder(client, options, dimension);
    embedder.lastSuccess = probe.lastSuccess;
    return embedder;
  }

  async embed(texts: readonly string[]): Promise<Float32Array[]> {
    return embedInBatches(texts, this.options.batchSize, this.dimension, (batch) => this.request(batch));
  }

  /** The OpenAI API has no tokenizer route: truncation counts words. */
  async tokenize(text: string): Promise<Span[]> {
    return wordSpans(text);
  }

  /**
   * Healthy when a request succeeded in the last 30 s; otherwise one probe request decides (without
   * retries). Keeps a frequent readiness check from turning into a stream of billed calls.
   */
  async health(): Promise<void> {
    if (Date.now() - this.lastSuccess < 30_000) return;
    await this.request(["health probe"], 0);
  }

  async close(): Promise<void> {}

  private async request(texts: readonly string[], retries?: number): Promise<Float32Array[]> {
    let answer: OpenAI.Embeddings.CreateEmbeddingResponse;
    try {
      answer = await this.client.embeddings.create(
        {
          model: this.options.model,
          input: [...texts],
          encoding_format: "float",
          ...(this.options.dimensions !== undefined && { dimensions: this.options.dimensions }),
        },
        retries === undefined ? {} : { maxRetries: retries },
      );
    } catch (err) {
      const transient = isTransient(err);
      throw new AppError("EMBEDDER_UNAVAILABLE", `embedding server failed: ${describe(err)}`, {
        cause: err,
        ...(transient && { retryAfterSeconds: 5 }),
      });
    }
    const rows = Array.isArray(answer?.data) ? answer.data : [];
    if (rows.length !== texts.length) {
      throw new AppError(
        "EMBEDDER_UNAVAILABLE",
        `embedding server answered ${rows.length} vectors for ${texts.length} texts`,
      );
    }
    // In input order, whatever order the server listed them in.
    const ordered = [...rows].sort((a, b) => a.index - b.index);
    const vectors = ordered.map((row) => {
      const v = row.embedding as unknown;
      if (
        !Array.isArray(v) ||
        v.length === 0 ||
        !v.every((x) => typeof x === "number" && Number.isFinite(x))
      ) {
        throw new AppError("EMBEDDER_UNAVAILABLE", "embedding server answered a malformed vector");
      }
      return normalize(Float32Array.from(v as number[]));
    });
    this.lastSuccess = Date.now();
    return vectors;
  }
}

/** A failure a retry can mend: no answer, a timeout, 408, 409, 429, 5xx. */
function isTransient(err: unknown): boolean {
  if (err instanceof APIConnectionError) return true;
  if (err instanceof APIError) {
    const s = err.status;
    return s === undefined || s === 408 || s === 409 || s === 429 || s >= 500;
  }
  return false;
}

function describe(err: unknown): string {
  if (err instanceof APIError && err.status !== undefined) return `${err.status} ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}
