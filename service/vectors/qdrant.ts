import { createHash } from "node:crypto";
import {
  QdrantClient,
  QdrantClientResourceExhaustedError,
  QdrantClientTimeoutError,
  QdrantClientUnexpectedResponseError,
  type Schemas,
} from "@qdrant/js-client-rest";
import { ApiError } from "@qdrant/openapi-typescript-fetch";
import type { QdrantCollectionSettings } from "../config.ts";
import { AppError, StartupError } from "../errors.ts";
import {
  CollectionMissingError,
  type Neighbour,
  type PointEvidence,
  type VectorIndex,
  type VectorRecord,
} from "./vector-index.ts";

export interface QdrantIndexOptions {
  /** Base URL, e.g. http://qdrant:6333. */
  url: string;
  /** Sent as the `api-key` header when set. */
  apiKey?: string;
  /** Collection name. Default `examples`. */
  collection: string;
  /** Per-request timeout in ms. Default 5000. */
  timeoutMs: number;
  /** Points per upsert request. Default 256. */
  batchSize: number;
  /** Identity of the embedder whose vectors the collection holds; stored in the collection's metadata. */
  embedderId: string;
  /** When the collection does not match the embedder: refuse (default, at start-up) or recreate it (reindex). */
  onMismatch?: "refuse" | "recreate";
  /**
   * False: open what exists and never create, move or delete anything (a replica); a missing
   * collection is VECTOR_STORE_UNAVAILABLE. Default true.
   */
  create?: boolean;
  /** Shards, replication, on-disk storage and payload indexes of a collection this index creates. */
  collectionSettings?: QdrantCollectionSettings;
  /** The `ordering` of every write (Qdrant's default: weak). */
  writeOrdering?: "weak" | "medium" | "strong";
}

/** Collection metadata key naming the embedder of the stored vectors. */
const EMBEDDER_KEY = "embedder_id";

/** Payload key holding the example's own id. */
const EXAMPLE_ID_KEY = "example_id";
/** Payload keys of a point's evidence (see PointEvidence). */
const CATEGORY_KEY = "category";
const SCORES_KEY = "scores";
const VERSION_KEY = "version";
/** Comparisons [a, b, aWins, games] between targets, on points whose example has any. */
const PREFERENCES_KEY = "preferences";
/** Weights of scores not weighing 1, on points whose example has any. */
const WEIGHTS_KEY = "weights";
/** What an outcome's scores are read against, on points whose example is an outcome's. */
const BASELINES_KEY = "baselines";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * The point id of an example. Qdrant takes only UUIDs and unsigned integers as point ids: a UUID
 * example id is its own point id (so collections written before readable ids stay as they are);
 * any other id maps to a UUID made from its SHA-256 (version 8, RFC 9562), the same on every
 * replica and every run, and the example id itself goes into the point's payload.
 */
export function pointId(exampleId: string): string {
  if (UUID.test(exampleId)) return exampleId;
  const b = createHash("sha256").update(`example:${exampleId}`).digest().subarray(0, 16);
  b[6] = ((b[6] as number) & 0x0f) | 0x80;
  b[8] = ((b[8] as number) & 0x3f) | 0x80;
  const h = b.toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** The example id a point stands for: its payload's, else the point id itself. */
function exampleIdOf(point: { id: Schemas["ExtendedPointId"]; payload?: Schemas["Payload"] | null }): string {
  const named = point.payload?.[EXAMPLE_ID_KEY];
  return typeof named === "string" ? named : String(point.id);
}

/**
 * Qdrant as the vector index: cosine distance, point id = the example id when it is a UUID, else
 * one derived from it (`pointId`) with the example id in the payload. Every write waits for the operation to be applied (`wait=true`), so once a call
 * returns the next search sees it. Vendor failures become AppError VECTOR_STORE_UNAVAILABLE.
 */
export class QdrantIndex implements VectorIndex {
  readonly persistent = true;

  private constructor(
    private readonly client: QdrantClient,
    private readonly options: QdrantIndexOptions,
    readonly dimension: number,
  ) {}

  /**
   * Connects and makes sure the collection exists with this dimension, cosine distance and this
   * embedder. A mismatching collection stops start-up with what to do, or is recreated when asked.
   */
  static async open(options: QdrantIndexOptions, dimension: number): Promise<QdrantIndex> {
    const client = new QdrantClient({
      url: options.url,
      apiKey: options.apiKey,
      timeout: options.timeoutMs,
      checkCompatibility: false,
    });
    const index = new QdrantIndex(client, options, dimension);
    await index.ensureCollection();
    return index;
  }

  /**
   * The name every point operation uses: an alias of the collection that holds the vectors (or, for
   * a collection created before aliases, that collection itself).
   */
  get collection(): string {
    return this.options.collection;
  }

  /**
   * Makes sure `collection` names a collection of this dimension, cosine distance and embedder.
   * The service creates a concrete collection (`<name>-<stamp>`) and points the alias `<name>` at
   * it; a rebuild creates another and moves the alias in one request, so readers never see the
   * name missing, then deletes the old one. A collection created before aliases is used as it is.
   */
  private async ensureCollection(): Promise<void> {
    const name = this.options.collection;
    const create = this.options.create !== false;
    const aliases = await guard("list aliases", () => this.client.getAliases());
    const target = aliases.aliases.find((a) => a.alias_name === name)?.collection_name;
    const legacy =
      target === undefined &&
      (await guard("check the collection", () => this.client.collectionExists(name))).exists;
    const current = target ?? (legacy ? name : undefined);
    if (current !== undefined) {
      const info = await guard("read the collection", () => this.client.getCollection(current));
      const problem = mismatch(info, current, this.dimension, this.options.embedderId);
      if (!problem) return;
      if (!create || this.options.onMismatch !== "recreate") {
        throw new StartupError(
          `Qdrant collection "${name}" ${problem}. Rebuild it from SQLite with \`npm run reindex\`, ` +
            "or set QDRANT_COLLECTION to a new collection name.",
        );
      }
    } else if (!create) {
      throw new AppError("VECTOR_STORE_UNAVAILABLE", `Qdrant has no collection "${name}" yet`, {
        retryAfterSeconds: 2,
      });
    }
    // A collection created before aliases holds the name itself: it goes before the alias can.
    if (legacy) await guard("delete the collection", () => this.client.deleteCollection(name));
    const stamp = `${Date.now().toString(36)}${Math.floor(Math.random() * 36 ** 4).toString(36)}`;
    const concrete = `${name}-${stamp}-e${embedderDigest(this.options.embedderId)}`;
    await this.createConcrete(concrete);
    await guard("point the alias", () =>
      this.client.updateCollectionAliases({
        actions: [
          ...(target !== undefined ? [{ delete_alias: { alias_name: name } }] : []),
          { create_alias: { collection_name: concrete, alias_name: name } },
        ],
      }),
    );
    if (target !== undefined)
      await guard("delete the collection", () => this.client.deleteCollection(target));
  }

  private async createConcrete(name: string): Promise<void> {
    const s = this.options.collectionSettings;
    const body: Schemas["CreateCollection"] & { collection_name: string } = {
      collection_name: name,
      vectors: {
        size: this.dimension,
        distance: "Cosine",
        ...(s?.onDiskVectors !== undefined && { on_disk: s.onDiskVectors }),
      },
      ...(s?.shardNumber !== undefined && { shard_number: s.shardNumber }),
      ...(s?.replicationFactor !== undefined && { replication_factor: s.replicationFactor }),
      ...(s?.writeConsistencyFactor !== undefined && { write_consistency_factor: s.writeConsistencyFactor }),
      ...(s?.onDiskPayload !== undefined && { on_disk_payload: s.onDiskPayload }),
      metadata: { [EMBEDDER_KEY]: this.options.embedderId },
    };
    // The client's createCollection() drops `metadata`; the raw operation sends the whole body.
    await guard("create the collection", () => this.client.api().createCollection(body));
    for (const { field, type } of s?.payloadIndexes ?? []) {
      await guard("create a payload index", () =>
        this.client.createPayloadIndex(name, { field_name: field, field_schema: type, wait: true }),
      );
    }
  }

  /** Query parameters of every write: wait until applied, with the configured ordering. */
  private get writeParams(): { wait: true; ordering?: "weak" | "medium" | "strong" } {
    const ordering = this.options.writeOrdering;
    return { wait: true, ...(ordering && ordering !== "weak" && { ordering }) };
  }

  async upsert(records: readonly VectorRecord[]): Promise<void> {
    for (const r of records) {
      if (r.vector.length !== this.dimension) {
        throw new RangeError(
          `vector for ${r.id} has ${r.vector.length} dimensions, index has ${this.dimension}`,
        );
      }
    }
    for (let i = 0; i < records.length; i += this.options.batchSize) {
      const points: Schemas["PointStruct"][] = records.slice(i, i + this.options.batchSize).map((r) => {
        const id = pointId(r.id);
        const payload: Schemas["Payload"] = {
          ...(id !== r.id && { [EXAMPLE_ID_KEY]: r.id }),
          ...(r.evidence && {
            [EXAMPLE_ID_KEY]: r.id,
            [CATEGORY_KEY]: r.evidence.category,
            [SCORES_KEY]: r.evidence.scores,
            [VERSION_KEY]: r.evidence.version,
            ...(r.evidence.weights && { [WEIGHTS_KEY]: r.evidence.weights }),
            ...(r.evidence.baselines && { [BASELINES_KEY]: r.evidence.baselines }),
            ...(r.evidence.preferences?.length && {
              [PREFERENCES_KEY]: r.evidence.preferences.map((p) => [...p]),
            }),
          }),
        };
        return { id, vector: Array.from(r.vector), ...(Object.keys(payload).length > 0 && { payload }) };
      });
      await guard("upsert points", () =>
        this.client.upsert(this.collection, { ...this.writeParams, points }),
      );
    }
  }

  async delete(ids: readonly string[]): Promise<void> {
    for (let i = 0; i < ids.length; i += this.options.batchSize) {
      const points = ids.slice(i, i + this.options.batchSize).map(pointId);
      await guard("delete points", () =>
        this.client.delete(this.collection, { ...this.writeParams, points }),
      );
    }
  }

  async search(vector: Float32Array, k: number): Promise<Neighbour[]> {
    const points = await this.query(vector, k, [EXAMPLE_ID_KEY]);
    return nearest(
      points.map((p) => ({ id: exampleIdOf(p), similarity: p.score })),
      k,
    );
  }

  /** The nearest points with their payloads: one query, everything `/rank` reads of a hit. */
  async searchWithEvidence(
    vector: Float32Array,
    k: number,
  ): Promise<Array<Neighbour & { evidence?: PointEvidence }>> {
    const points = await this.query(vector, k, [
      EXAMPLE_ID_KEY,
      CATEGORY_KEY,
      SCORES_KEY,
      VERSION_KEY,
      PREFERENCES_KEY,
      WEIGHTS_KEY,
      BASELINES_KEY,
    ]);
    return nearest(
      points.map((p) => {
        const evidence = evidenceOf(p.payload);
        return { id: exampleIdOf(p), similarity: p.score, ...(evidence && { evidence }) };
      }),
      k,
    );
  }

  /** The `k` nearest points with the payload keys `keys`. */
  private async query(vector: Float32Array, k: number, keys: string[]): Promise<Schemas["ScoredPoint"][]> {
    if (vector.length !== this.dimension) {
      throw new RangeError(`query has ${vector.length} dimensions, index has ${this.dimension}`);
    }
    const result = await guard("search", () =>
      this.client.query(this.collection, {
        query: Array.from(vector),
        limit: k + tieMargin(k),
        with_payload: keys,
        with_vector: false,
      }),
    );
    return result.points;
  }

  async count(): Promise<number> {
    const result = await guard("count points", () => this.client.count(this.collection, { exact: true }));
    return result.count;
  }

  async *ids(): AsyncGenerator<string> {
    let offset: Schemas["ExtendedPointId"] | null | undefined;
    do {
      const page = await guard("list points", () =>
        this.client.scroll(this.collection, {
          limit: 1000,
          with_payload: [EXAMPLE_ID_KEY],
          with_vector: false,
          ...(offset !== undefined && offset !== null && { offset }),
        }),
      );
      for (const p of page.points) yield exampleIdOf(p);
      offset = page.next_page_offset as Schemas["ExtendedPointId"] | null | undefined;
    } while (offset !== undefined && offset !== null);
  }

  async health(): Promise<void> {
    await guard("read the collection", () => this.client.getCollection(this.collection));
  }

  async close(): Promise<void> {}

  /**
   * Deletes the collection behind the name, and the alias with it: its vectors were replaced by
   * another collection's (learned templates).
   */
  async drop(): Promise<void> {
    const name = this.options.collection;
    const aliases = await guard("list aliases", () => this.client.getAliases());
    const target = aliases.aliases.find((a) => a.alias_name === name)?.collection_name ?? name;
    await guard("delete the collection", () => this.client.deleteCollection(target));
  }
}

/** How many more points than k a search asks for, so that ties at the k-th place are settled here. */
export function tieMargin(k: number): number {
  return Math.max(8, Math.ceil(k / 4));
}

/**
 * The `k` nearest of `hits`, closest first, equal similarities by id. Qdrant returns tied points in
 * the order of its own storage, which a rebuild changes (found against Qdrant 1.14.1: the same data
 * answered with other neighbours after a restore), so a search asks for `tieMargin(k)` more and the
 * ties are settled by id: the answer does not depend on how the collection was filled.
 */
function nearest<T extends Neighbour>(hits: T[], k: number): T[] {
  return hits
    .sort((a, b) => b.similarity - a.similarity || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .slice(0, k);
}

/** A point's evidence from its payload, when it was written with it. */
function evidenceOf(payload: Schemas["Payload"] | null | undefined): PointEvidence | undefined {
  const scores = payload?.[SCORES_KEY];
  const version = payload?.[VERSION_KEY];
  const category = payload?.[CATEGORY_KEY];
  const preferences = payload?.[PREFERENCES_KEY];
  const weights = payload?.[WEIGHTS_KEY];
  const baselines = payload?.[BASELINES_KEY];
  if (typeof scores !== "object" || scores === null || typeof version !== "number") return undefined;
  return {
    category: typeof category === "string" ? category : null,
    scores: scores as Record<string, number>,
    ...(typeof weights === "object" && weights !== null && { weights: weights as Record<string, number> }),
    ...(typeof baselines === "object" &&
      baselines !== null && { baselines: baselines as Record<string, number> }),
    ...(Array.isArray(preferences) && {
      preferences: preferences as Array<[string, string, number, number]>,
    }),
    version,
  };
}

/** What is wrong with an existing collection for this embedder, or undefined when it fits. */
function mismatch(
  info: Schemas["CollectionInfo"],
  name: string,
  dimension: number,
  embedderId: string,
): string | undefined {
  const vectors = info.config.params.vectors;
  if (!vectors || !("size" in vectors)) return "uses named vectors, not one unnamed vector";
  if (vectors.size !== dimension) {
    return `holds ${vectors.size}-dimensional vectors but the configured embedder makes ${dimension}`;
  }
  if (vectors.distance !== "Cosine") return `uses ${vectors.distance} distance, not Cosine`;
  const stored = (info.config as { metadata?: Record<string, unknown> | null }).metadata?.[EMBEDDER_KEY];
  if (stored !== undefined && stored !== embedderId) {
    return `holds vectors from ${String(stored)} but the configured embedder is ${embedderId}`;
  }
  // Servers before collection metadata (Qdrant 1.14 keeps none) have the embedder in the name.
  const named = /-e([0-9a-f]{10})$/.exec(name)?.[1];
  if (stored === undefined && named !== undefined && named !== embedderDigest(embedderId)) {
    return `holds vectors from another embedder than the configured ${embedderId} (its name records embedder ${named})`;
  }
  return undefined;
}

/**
 * A short digest of an embedder's identity, in the name of every collection the service creates:
 * Qdrant before collection metadata (1.14 accepts `metadata` and keeps none, found against 1.14.1)
 * would otherwise let vectors of another embedder be searched with this one's queries.
 */
export function embedderDigest(embedderId: string): string {
  return createHash("sha256").update(embedderId).digest("hex").slice(0, 10);
}

/**
 * Runs a Qdrant call and translates its failures: timeouts, 429, 5xx and unreachable servers become
 * VECTOR_STORE_UNAVAILABLE (a retry may help, so Retry-After is set); anything else is a bug or a
 * misconfiguration and stays an error with the original as `cause`.
 */
async function guard<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw translate(what, err);
  }
}

export function translate(what: string, err: unknown): Error {
  if (err instanceof AppError || err instanceof StartupError) return err;
  const unavailable = (detail: string, retryAfterSeconds = 1) =>
    new AppError("VECTOR_STORE_UNAVAILABLE", `vector store could not ${what}: ${detail}`, {
      cause: err,
      retryAfterSeconds,
    });
  if (err instanceof QdrantClientTimeoutError) return unavailable("timed out");
  if (err instanceof QdrantClientResourceExhaustedError) {
    return unavailable("rate limited", Math.max(1, Math.ceil(err.retry_after)));
  }
  const status = statusOf(err);
  if (status === 404 && /collection|doesn't exist|not found/i.test(errorText(err))) {
    return new CollectionMissingError(what, { cause: err });
  }
  if (status === 429) return unavailable("rate limited");
  if (status !== undefined && status >= 500) return unavailable(`server error ${status}`);
  if (status === undefined && isNetworkError(err)) return unavailable("server unreachable", 2);
  return new Error(`vector store could not ${what}${status ? `: HTTP ${status}` : ""}`, { cause: err });
}

/** What Qdrant said in a failed answer (`status.error`), or the error's message. */
function errorText(err: unknown): string {
  if (err instanceof ApiError) {
    const data = err.data as { status?: { error?: string } } | undefined;
    return data?.status?.error ?? err.message;
  }
  return err instanceof Error ? err.message : String(err);
}

function statusOf(err: unknown): number | undefined {
  if (err instanceof ApiError) return err.status;
  if (err instanceof QdrantClientUnexpectedResponseError) {
    const m = /Unexpected Response: (\d{3})/.exec(err.message);
    return m ? Number(m[1]) : undefined;
  }
  return undefined;
}

function isNetworkError(err: unknown): boolean {
  // fetch() rejects with a TypeError whose cause carries the socket error (ECONNREFUSED, ...).
  return err instanceof TypeError || (err instanceof Error && err.name === "AbortError");
}
