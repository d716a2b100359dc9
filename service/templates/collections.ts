import type { Config } from "../config.ts";
import { hasTemplates, type Templates, templatesDigest } from "../embedding/templates.ts";

/**
 * Where the vectors made with `templates` stripped live: a Qdrant collection of their own (the
 * configured name, suffixed by the templates' digest), so that a switch fills a new one while the
 * one in force serves. An in-process index is built at every start anyway. The service, its
 * switches and `npm run reindex` all name collections through this one function.
 */
export function vectorsFor(config: Config["vectors"], templates: Templates): Config["vectors"] {
  if (config.kind !== "qdrant" || !hasTemplates(templates)) return config;
  const collection = `${config.qdrant.collection}-templates-${templatesDigest(templates)}`;
  return { ...config, qdrant: { ...config.qdrant, collection } };
}
