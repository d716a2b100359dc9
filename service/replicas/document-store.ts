import type { Config } from "../config.ts";
import type { DocumentStore } from "./publisher.ts";

/** The Qdrant collection that holds the routing document: `<QDRANT_COLLECTION>-routing`. */
export function routingCollection(config: Config): string {
  return `${config.vectors.qdrant.collection}-routing`;
}

/**
 * The routing document's store in Qdrant, shared by the primary (which writes it) and replicas
 * (which read it). Qdrant's client loads on first use, as the index's does.
 */
export function qdrantDocumentStore(config: Config): DocumentStore {
  const { qdrant } = config.vectors;
  let opened: Promise<DocumentStore> | undefined;
  const open = () =>
    (opened ??= import("../vectors/qdrant-document.ts").then(
      ({ QdrantDocumentStore }) =>
        new QdrantDocumentStore({
          url: qdrant.url as string,
          apiKey: qdrant.apiKey,
          timeoutMs: qdrant.timeoutMs,
          collection: routingCollection(config),
        }),
    ));
  return {
    read: async () => (await open()).read(),
    write: async (version, body) => (await open()).write(version, body),
  };
}
