import {
  InferenceClient,
  InferenceClientHubApiError,
  InferenceClientInputError,
  InferenceClientProviderApiError,
} from "@huggingface/inference";
import { AppError } from "../errors.ts";
import type { Embedder } from "./embedder.ts";
import { normalize } from "./embedder.ts";
import { embedInBatches, probeDimension } from "./remote.ts";
import { type Span, wordSpans } from "./truncate.ts";

export interface HuggingFaceEmbedderOptions {
  /** Hugging Face token; required for Inference Providers, optional for a self-hosted endpoint. */
  token?: string;
  /** Model id on the Hub, e.g. `BAAI/bge-small-en-v1.5`; also names the embedder when an endpoint is used. */
  model?: string;
  /** A Text Embeddings Inference server's embed URL, e.g. `http://tei:80/embed`. */
  endpointUrl?: string;
  /** Inference provider for `model`. Default `hf-inference`. */
  provider: string;
  /** Timeout of one request, in ms. Default 10000. */
  timeoutMs: number;
  /** Retries after a failed request (timeouts, 429, 5xx, network), with exponential backoff. Default 3. */
  retries: number;
  /** Texts per request. Default 32. */
  batchSize: number;
  /** Token limit used by truncate_strategy before sending. Default 256. */
  maxInputTokens: number;
  /** First backoff delay in ms; doubles each retry. Default 200. */
  backoffMs?: number;
  /** The fetch the client uses; tests pass a recorder. Default the global fetch. */
  fetch?: typeof fetch;
  /**
   * The model's dimension when already known (the stored vectors say it): if the server does not
   * answer at start, the embedder is made anyway, and every call answers 503 until it does.
   */
  dimension?: number;
}

type Nested = number | Nested[];

/**
 * Remote embeddings through `@huggingface/inference` feature extraction: Hugging Face Inference
 * Providers (model id + token) or a self-hosted Text Embeddings Inference server (endpoint URL).
 * The client's own retry on 503 never stops, so it is off; ours is bounded and has a timeout.
 */
export class HuggingFaceEmbedder implements Embedder {
  readonly id: string;
  readonly maxInputTokens: number;
  /** When a request last succeeded (ms since the epoch); 0 before any. */
  private lastSuccess = 0;
  /** Text Embeddings Inference's `/tokenize` beside the embed URL; unset for Inference Providers or once it answered 404. */
  private tokenizeUrl: string | undefined;

  private constructor(
    private readonly client: InferenceClient,
    private readonly options: HuggingFaceEmbedderOptions,
    readonly dimension: number,
  ) {
    const name = options.model ?? options.endpointUrl;
    this.id = `huggingface:${name}:${dimension}`;
    this.maxInputTokens = options.maxInputTokens;
    this.tokenizeUrl = options.endpointUrl && tokenizeUrlOf(options.endpointUrl);
  }

  /**
   * Connects and detects the model's dimension by embedding a probe text. When the server does not
   * answer and `options.dimension` is known, starts without it (not ready) instead of failing.
   */
  static async create(options: HuggingFaceEmbedderOptions): Promise<HuggingFaceEmbedder> {
    const client = new InferenceClient(options.token);
    const probe = new HuggingFaceEmbedder(client, options, 0);
    const dimension = await probeDimension((texts) => probe.request(texts), options.dimension);
    const embedder = new HuggingFaceEmbedder(client, options, dimension);
    embedder.lastSuccess = probe.lastSuccess;
    return embedder;
  }

  async embed(texts: readonly string[]): Promise<Float32Array[]> {
    return embedInBatches(texts, this.options.batchSize, this.dimension, (batch) => this.request(batch));
  }

  /**
   * The server's own tokens (Text Embeddings Inference `POST /tokenize`, as knn-router truncates);
   * word-based spans when the server has no tokenizer route or does not answer in time, so a
   * tokenizer hiccup costs truncation precision, never the request.
   */
  async tokenize(text: string): Promise<Span[]> {
    const url = this.tokenizeUrl;
    if (!url) return wordSpans(text);
    try {
      const res = await (this.options.fetch ?? fetch)(url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...(this.options.token && { authorization: `Bearer ${this.options.token}` }),
        },
        body: JSON.stringify({ inputs: text, add_special_tokens: false }),
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      if (res.status === 404) this.tokenizeUrl = undefined;
      if (!res.ok) return wordSpans(text);
      return byteSpansToText(text, (await res.json()) as TeiToken[][]);
    } catch {
      return wordSpans(text);
    }
  }

  /**
   * Healthy when a request succeeded in the last 30 s; otherwise one probe request decides. Keeps a
   * frequent readiness check from turning into a stream of billed calls.
   */
  async health(): Promise<void> {
    if (Date.now() - this.lastSuccess < 30_000) return;
    await this.request(["health probe"], 0);
  }

  async close(): Promise<void> {}

  private async request(texts: readonly string[], retries = this.options.retries): Promise<Float32Array[]> {
    const backoff = this.options.backoffMs ?? 200;
    for (let attempt = 0; ; attempt++) {
      try {
        const output = await this.client.featureExtraction(
          {
            ...(this.options.endpointUrl
              ? { endpointUrl: this.options.endpointUrl }
              : { model: this.options.model, provider: this.options.provider as "hf-inference" }),
            inputs: [...texts],
            // Text Embeddings Inference truncates to the model's own token limit instead of failing.
            truncate: true,
          },
          {
            retry_on_error: false,
            signal: AbortSignal.timeout(this.options.timeoutMs),
            ...(this.options.fetch && { fetch: this.options.fetch }),
          },
        );
        const vectors = toVectors(output as Nested[], texts.length);
        this.lastSuccess = Date.now();
        return vectors;
      } catch (err) {
        const transient = isTransient(err);
        if (!transient || attempt >= retries) {
          throw new AppError(
            "EMBEDDER_UNAVAILABLE",
            `embedding server failed${transient ? ` after ${attempt + 1} attempts` : ""}: ${describe(err)}`,
            { cause: err, ...(transient && { retryAfterSeconds: 5 }) },
          );
        }
        const delay = backoff * 2 ** attempt * (0.5 + Math.random() / 2);
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }
}

/** One normalised vector per text, whatever nesting the server answered with. */
function toVectors(output: Nested[], count: number): Float32Array[] {
  // A single text may come back as a flat vector.
  const rows = count === 1 && typeof output[0] === "number" ? [output] : output;
  if (rows.length !== count) {
    throw new AppError(
      "EMBEDDER_UNAVAILABLE",
      `embedding server answered ${rows.length} vectors for ${count} texts`,
    );
  }
  return rows.map((row) => normalize(Float32Array.from(pool(row))));
}

/** A vector from a row that is either a vector or per-token vectors (mean-pooled). */
function pool(row: Nested): number[] {
  if (!Array.isArray(row))
    throw new AppError("EMBEDDER_UNAVAILABLE", "embedding server answered a malformed vector");
  if (row.every((x) => typeof x === "number")) return row as number[];
  const tokens = row as number[][];
  const dim = tokens[0]?.length ?? 0;
  const sum = new Array<number>(dim).fill(0);
  for (const t of tokens) for (let j = 0; j < dim; j++) sum[j] = (sum[j] as number) + (t[j] as number);
  return sum.map((x) => x / tokens.length);
}

function statusOf(err: unknown): number | undefined {
  const http = err instanceof InferenceClientProviderApiError || err instanceof InferenceClientHubApiError;
  return http ? err.httpResponse.status : undefined;
}

/** Timeouts, rate limits, server errors and network failures may pass; bad input or auth will not. */
function isTransient(err: unknown): boolean {
  if (err instanceof InferenceClientInputError) return false;
  const status = statusOf(err);
  if (status !== undefined) return status === 408 || status === 429 || status >= 500;
  if (err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError")) return true;
  if (err instanceof AppError) return false;
  // fetch() failing to connect surfaces as a TypeError, sometimes wrapped by the client.
  return (
    err instanceof TypeError ||
    (err instanceof Error &&
      /fetch failed|ECONNREFUSED|ECONNRESET/i.test(`${err.message} ${String(err.cause)}`))
  );
}

function describe(err: unknown): string {
  const status = statusOf(err);
  if (status !== undefined) return `HTTP ${status}`;
  if (err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError")) return "timed out";
  return err instanceof Error ? err.message : String(err);
}

interface TeiToken {
  special?: boolean;
  start?: number | null;
  stop?: number | null;
}

/** `http://tei/embed` -> `http://tei/tokenize`; a URL without `/embed` gets `/tokenize` appended. */
function tokenizeUrlOf(endpointUrl: string): string {
  const url = new URL(endpointUrl);
  url.pathname = `${url.pathname.replace(/\/embed\/?$/, "").replace(/\/$/, "")}/tokenize`;
  return url.toString();
}

/** TEI's token offsets are UTF-8 byte offsets (as knn-router slices them); ours are UTF-16. */
function byteSpansToText(text: string, answer: TeiToken[][]): Span[] {
  const tokens = answer[0];
  if (!Array.isArray(tokens)) return wordSpans(text);
  const utf16At = new Map<number, number>([[0, 0]]);
  let bytes = 0;
  let units = 0;
  for (const ch of text) {
    bytes += Buffer.byteLength(ch, "utf8");
    units += ch.length;
    utf16At.set(bytes, units);
  }
  const spans: Span[] = [];
  for (const t of tokens) {
    if (t.special || typeof t.start !== "number" || typeof t.stop !== "number") continue;
    const start = utf16At.get(t.start);
    const stop = utf16At.get(t.stop);
    if (start === undefined || stop === undefined) return wordSpans(text);
    spans.push([start, stop]);
  }
  return spans;
}
