import { QdrantClient } from "@qdrant/js-client-rest";
import { pointId, translate } from "./qdrant.ts";

export interface QdrantDocumentOptions {
  url: string;
  apiKey?: string;
  timeoutMs: number;
  /** The collection that holds the document (one point): `<QDRANT_COLLECTION>-routing`. */
  collection: string;
}

/** The document's point: the same on every process. */
const POINT = pointId("routing-document");

/**
 * One versioned JSON document kept in Qdrant, beside the vectors, so that every process that can
 * reach Qdrant can read it: a collection of its own holding one point (a 1-dimensional placeholder
 * vector) whose payload is the document. Written by one process (the primary), read by any.
 */
export class QdrantDocumentStore {
  private readonly client: QdrantClient;

  constructor(private readonly options: QdrantDocumentOptions) {
    this.client = new QdrantClient({
      url: options.url,
      apiKey: options.apiKey,
      timeout: options.timeoutMs,
      checkCompatibility: false,
    });
  }

  /** The document and its version; undefined when none was written yet. */
  async read(): Promise<{ version: number; body: Record<string, unknown> } | undefined> {
    const { collection } = this.options;
    try {
      const { exists } = await this.client.collectionExists(collection);
      if (!exists) return undefined;
      const [point] = await this.client.retrieve(collection, {
        ids: [POINT],
        with_payload: true,
        with_vector: false,
      });
      const version = point?.payload?.version;
      const body = point?.payload?.document;
      if (typeof version !== "number" || typeof body !== "object" || body === null) return undefined;
      return { version, body: body as Record<string, unknown> };
    } catch (err) {
      throw translate("read the routing document", err);
    }
  }

  /** Writes the document as `version` (creating the collection the first time). */
  async write(version: number, body: Record<string, unknown>): Promise<void> {
    const { collection } = this.options;
    try {
      const { exists } = await this.client.collectionExists(collection);
      if (!exists) await this.client.createCollection(collection, { vectors: { size: 1, distance: "Dot" } });
      await this.client.upsert(collection, {
        wait: true,
        points: [{ id: POINT, vector: [1], payload: { version, document: body } }],
      });
    } catch (err) {
      throw translate("write the routing document", err);
    }
  }
}
