import { createHash } from "node:crypto";
import { type Embedder, type EmbedPriority, WrappedEmbedder } from "./embedder.ts";

/** Shared boilerplate learned from stored prompts: a few-shot block, a system prompt, instructions. */
export interface Templates {
  prefixes: string[];
  suffixes: string[];
}

export interface LearnOptions {
  /** Shortest boilerplate worth stripping, in characters. Default 40. */
  minChars?: number;
  /** Share of prompts a boilerplate must open or close to count. Default 0.1. */
  minShare?: number;
}

/**
 * Finds prefixes and suffixes that many prompts share word for word. Prompts are grouped by their
 * first (last) 8 words; a group holding at least `minShare` of all prompts contributes the longest
 * prefix (suffix) all its members share, if it is at least `minChars` long.
 */
export function learnTemplates(texts: readonly string[], options: LearnOptions = {}): Templates {
  const minChars = options.minChars ?? 40;
  const minCount = Math.max(2, Math.ceil((options.minShare ?? 0.1) * texts.length));
  const find = (flip: (s: string) => string) => {
    const groups = new Map<string, string[]>();
    for (const t of texts) {
      const f = flip(t);
      const key = f.split(/\s+/).slice(0, 8).join(" ");
      groups.set(key, [...(groups.get(key) ?? []), f]);
    }
    const found: string[] = [];
    for (const members of groups.values()) {
      if (members.length < minCount) continue;
      let common = members[0] as string;
      for (const m of members) {
        let i = 0;
        while (i < common.length && i < m.length && common[i] === m[i]) i++;
        common = common.slice(0, i);
      }
      // Cut back to a word boundary so a shared first letter of the distinct part stays.
      const cut = common.search(/\s\S*$/);
      const whole = cut > 0 ? common.slice(0, cut + 1) : common;
      if (whole.length >= minChars) found.push(flip(whole));
    }
    return found.sort((a, b) => b.length - a.length);
  };
  const reverse = (s: string) => [...s].reverse().join("");
  return { prefixes: find((s) => s), suffixes: find(reverse) };
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

/** An embedder that embeds prompts without their learned boilerplate; its id names the templates. */
export class TemplateStrippingEmbedder extends WrappedEmbedder {
  private readonly digest: string;

  constructor(
    inner: Embedder,
    readonly templates: Templates,
  ) {
    super(inner);
    this.digest = createHash("sha256").update(JSON.stringify(templates)).digest("hex").slice(0, 12);
  }

  override get id() {
    return `${this.inner.id}+templates:${this.digest}`;
  }

  embed(texts: readonly string[], priority?: EmbedPriority): Promise<Float32Array[]> {
    return this.inner.embed(
      texts.map((t) => stripTemplates(t, this.templates)),
      priority,
    );
  }
}
