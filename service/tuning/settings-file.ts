import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { z } from "zod";
import type { EmbeddingFeatures } from "../embedding/features.ts";
import { DEFAULT_SETTINGS, type RankingSettings } from "../routing/aggregate.ts";

/** The file `npm run eval -- --tune` writes and the service reads at start (ROUTING_SETTINGS). */
const SettingsFile = z
  .object({
    k: z.number().int().min(1).max(200),
    power: z.number().min(0).max(16),
    shrinkage: z.number().min(0),
    prior: z.enum(["category", "overall"]),
    minSimilarity: z.number().min(-1).max(1),
    /** Fewer neighbours than this at or above minSimilarity: rank by the targets' means. */
    minSupport: z.number().int().min(1).max(200).default(1),
    /** Share of each embedding given to the prompt's length (0 = off); changing it needs `npm run reindex`. */
    lengthWeight: z.number().min(0).lt(1).default(0),
    /** Boilerplate stripped from prompts before embedding; changing it needs `npm run reindex`. */
    templates: z
      .object({ prefixes: z.array(z.string().min(1)), suffixes: z.array(z.string().min(1)) })
      .default({ prefixes: [], suffixes: [] }),
    tuned: z.record(z.string(), z.unknown()).optional(),
  })
  .refine((f) => f.minSupport <= f.k, {
    path: ["minSupport"],
    message: "must be at most k (more support than neighbours can never be met)",
  });
export type SettingsFile = z.infer<typeof SettingsFile>;

/** Settings from `path`, or undefined when no path is given or there is no file. A malformed file is an error naming it. */
export function readSettingsFile(
  path: string | undefined,
): { k: number; features: EmbeddingFeatures; settings: RankingSettings } | undefined {
  if (path === undefined || !existsSync(path)) return undefined;
  const parsed = SettingsFile.safeParse(JSON.parse(readFileSync(path, "utf8")));
  if (!parsed.success) {
    throw new Error(
      `${path}: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
    );
  }
  const { k, lengthWeight, templates, tuned: _, ...settings } = parsed.data;
  return { k, features: { lengthWeight, templates }, settings: { ...DEFAULT_SETTINGS, ...settings } };
}

export function writeSettingsFile(path: string, content: z.input<typeof SettingsFile>): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(content, null, 2)}\n`);
}
