import type { Embedder } from "../embedding/embedder.ts";
import { NO_TEMPLATES, type Templates } from "../embedding/templates.ts";
import type { VectorIndex } from "../vectors/vector-index.ts";

/** An embedder and the index of the vectors it made, with the learned templates it strips. */
export interface Embedding {
  embedder: Embedder;
  index: VectorIndex;
  templates: Templates;
}

/**
 * The embedding in force. Self-tuning swaps embedder and index together when it switches to other
 * learned templates; a request takes the pair once (`current`), so it never embeds with one and
 * searches the other.
 */
export class ActiveEmbedding {
  private pair: Embedding;

  constructor(embedder: Embedder, index: VectorIndex, templates: Templates = NO_TEMPLATES) {
    this.pair = { embedder, index, templates };
  }

  current(): Embedding {
    return this.pair;
  }

  get embedder(): Embedder {
    return this.pair.embedder;
  }

  get index(): VectorIndex {
    return this.pair.index;
  }

  get templates(): Templates {
    return this.pair.templates;
  }

  /** Puts `next` in force; returns the pair it replaced. */
  swap(next: Embedding): Embedding {
    const previous = this.pair;
    this.pair = next;
    return previous;
  }
}
