import { createHash } from "node:crypto";
import { type Embedder, type EmbedPriority, WrappedEmbedder } from "./embedder.ts";

/** Shared boilerplate learned from stored prompts: a few-shot block, a system prompt, instructions. */
export interface Templates {
  prefixes: string[];
  suffixes: string[];
}

/** `text` without the first matching prefix and suffix; never strips a prompt down to nothing. */
export function stripTemplates(text: string, templates: Templates): string {
  let out = text;
  const p = templates.prefixes.find((x) => out.startsWith(x) && out.length > x.length);
  if (p) out = out.slice(p.length);
  const s = templates.suffixes.find((x) => out.endsWith(x) && out.length > x.length);
  if (s) out = out.slice(0, out.length - s.length);
  return out.trim() === "" ? text : out;
}

/** A short, stable name of a set of templates (it goes into embedder ids and collection names). */
export function templatesDigest(templates: Templates): string {
  return createHash("sha256").update(JSON.stringify(templates)).digest("hex").slice(0, 12);
}

/** No boilerplate to strip. */
export const NO_TEMPLATES: Templates = { prefixes: [], suffixes: [] };

export function hasTemplates(templates: Templates): boolean {
  return templates.prefixes.length + templates.suffixes.length > 0;
}

export function sameTemplates(a: Templates, b: Templates): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * An embedder that embeds prompts without their learned boilerplate; its id names the templates.
 * Texts reach `embed` stripped already (`prepareText` strips, then truncates), so that what
 * truncation keeps is the prompt's own text, not the head of its boilerplate.
 */
export class TemplateStrippingEmbedder extends WrappedEmbedder {
  private readonly digest: string;

  constructor(
    inner: Embedder,
    readonly templates: Templates,
  ) {
    super(inner);
    this.digest = templatesDigest(templates);
  }

  override get id() {
    return `${this.inner.id}+templates:${this.digest}`;
  }

  override strip(text: string): string {
    return super.strip(stripTemplates(text, this.templates));
  }

  /** Embeds texts already prepared (`prepareText`): stripped, then truncated. */
  embed(texts: readonly string[], priority?: EmbedPriority): Promise<Float32Array[]> {
    return this.inner.embed(texts, priority);
  }
}
