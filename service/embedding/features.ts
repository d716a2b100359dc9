import { NO_TEMPLATES, type Templates } from "./templates.ts";

/** What is done to a prompt before it is embedded; part of the embedder's identity. */
export interface EmbeddingFeatures {
  /** Share of each embedding given to the prompt's length (0 = off). */
  lengthWeight: number;
  /** Boilerplate stripped from prompts before embedding. */
  templates: Templates;
}

export const NO_FEATURES: EmbeddingFeatures = { lengthWeight: 0, templates: NO_TEMPLATES };
