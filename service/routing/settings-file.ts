import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { z } from "zod";
import { DEFAULT_SETTINGS, type RankingSettings } from "./aggregate.ts";

/** The file `npm run eval -- --tune` writes and the service reads at start (ROUTING_SETTINGS). */
const SettingsFile = z.object({
  k: z.number().int().min(1).max(200),
  power: z.number().min(0).max(16),
  shrinkage: z.number().min(0),
  prior: z.enum(["category", "overall"]),
  minSimilarity: z.number().min(-1).max(1),
  /** Share of each embedding given to the prompt's length (0 = off); changing it needs `npm run reindex`. */
  lengthWeight: z.number().min(0).lt(1).default(0),
  tuned: z.record(z.string(), z.unknown()).optional(),
});
export type SettingsFile = z.infer<typeof SettingsFile>;

/** Settings from `path`, or undefined when there is no file. A malformed file is an error naming it. */
export function readSettingsFile(
  path: string,
): { k: number; lengthWeight: number; settings: RankingSettings } | undefined {
  if (!existsSync(path)) return undefined;
  const parsed = SettingsFile.safeParse(JSON.parse(readFileSync(path, "utf8")));
  if (!parsed.success) {
    throw new Error(
      `${path}: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
    );
  }
  const { k, lengthWeight, tuned: _, ...settings } = parsed.data;
  return { k, lengthWeight, settings: { ...DEFAULT_SETTINGS, ...settings } };
}

export function writeSettingsFile(path: string, content: z.input<typeof SettingsFile>): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(content, null, 2)}\n`);
}
