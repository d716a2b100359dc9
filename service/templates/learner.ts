import type { Templates } from "../embedding/templates.ts";

export interface LearnOptions {
  /** Shortest boilerplate worth stripping, in characters. Default 40. */
  minChars?: number;
  /** Share of prompts a boilerplate must open or close to count. Default 0.1. */
  minShare?: number;
}

/** Words a prompt is grouped by at each end. */
const KEY_WORDS = 8;
/** Characters read at each end to find those words (a word longer than this is cut). */
const KEY_CHARS = 1000;

const headKey = (t: string) => t.slice(0, KEY_CHARS).split(/\s+/).slice(0, KEY_WORDS).join(" ");
const tailKey = (t: string) => t.slice(-KEY_CHARS).split(/\s+/).slice(-KEY_WORDS).join(" ");

function commonPrefix(a: string, b: string): string {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return a.slice(0, i);
}

function commonSuffix(a: string, b: string): string {
  let i = 0;
  while (i < a.length && i < b.length && a[a.length - 1 - i] === b[b.length - 1 - i]) i++;
  return a.slice(a.length - i);
}

/**
 * Finds prefixes and suffixes that many prompts share word for word, in two passes over the
 * prompts that keep little in memory (any number of prompts can be fed). Prompts are grouped by
 * their first (last) 8 words; a group holding at least `minShare` of all prompts contributes the
 * longest prefix (suffix) all its members share, cut back to a word boundary, if it is at least
 * `minChars` long. Feed every prompt to `count`, then every prompt again to `collect`, then read
 * `templates()`.
 */
export class TemplateLearner {
  private readonly minChars: number;
  private readonly minShare: number;
  private readonly heads = new Map<string, number>();
  private readonly tails = new Map<string, number>();
  private n = 0;
  private minCount: number | undefined;
  private readonly prefixes = new Map<string, string>();
  private readonly suffixes = new Map<string, string>();

  constructor(options: LearnOptions = {}) {
    this.minChars = options.minChars ?? 40;
    this.minShare = options.minShare ?? 0.1;
  }

  /** First pass. */
  count(text: string): void {
    this.n++;
    const h = headKey(text);
    const t = tailKey(text);
    this.heads.set(h, (this.heads.get(h) ?? 0) + 1);
    this.tails.set(t, (this.tails.get(t) ?? 0) + 1);
  }

  /** Second pass: only prompts of groups large enough are kept, as the running common part. */
  collect(text: string): void {
    this.minCount ??= Math.max(2, Math.ceil(this.minShare * this.n));
    const min = this.minCount;
    const h = headKey(text);
    if ((this.heads.get(h) ?? 0) >= min) {
      const so = this.prefixes.get(h);
      this.prefixes.set(h, so === undefined ? text : commonPrefix(so, text));
    }
    const t = tailKey(text);
    if ((this.tails.get(t) ?? 0) >= min) {
      const so = this.suffixes.get(t);
      this.suffixes.set(t, so === undefined ? text : commonSuffix(so, text));
    }
  }

  templates(): Templates {
    const longestFirst = (a: string, b: string) => b.length - a.length;
    const prefixes = [...this.prefixes.values()]
      .map((common) => {
        // Cut back to a word boundary so a shared first letter of the distinct part stays.
        const cut = common.search(/\s\S*$/);
        return cut > 0 ? common.slice(0, cut + 1) : common;
      })
      .filter((p) => p.length >= this.minChars)
      .sort(longestFirst);
    const suffixes = [...this.suffixes.values()]
      .map((common) => {
        const cut = common.search(/\s/);
        return cut >= 0 && cut < common.length - 1 ? common.slice(cut) : common;
      })
      .filter((x) => x.length >= this.minChars)
      .sort(longestFirst);
    return { prefixes, suffixes };
  }
}

/** `TemplateLearner` over prompts in memory. */
export function learnTemplates(texts: readonly string[], options: LearnOptions = {}): Templates {
  const learner = new TemplateLearner(options);
  for (const t of texts) learner.count(t);
  for (const t of texts) learner.collect(t);
  return learner.templates();
}
