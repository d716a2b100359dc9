import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { AppError } from "../errors.ts";
import type { ExampleService } from "./example-service.ts";
import { parseExamplesJsonl } from "./import-formats.ts";
import { parseOrThrow, TargetName, TargetPatch, toStorePatch } from "./schemas.ts";
import type { TargetService } from "./target-service.ts";

/** A line of `seed-data/targets.jsonl`: a target's name and the fields of PUT /admin/targets/:name. */
export const SeedTarget = z.object({ name: TargetName }).passthrough();

/** Reads `targets.jsonl` into (name, patch) pairs, validated like PUT /admin/targets/:name bodies. */
export function parseSeedTargets(text: string): Array<{ name: string; patch: TargetPatch }> {
  return text
    .split(/\r?\n/)
    .map((l, i) => ({ line: i + 1, raw: l.trim() }))
    .filter((l) => l.raw !== "")
    .map(({ line, raw }) => {
      const { name, ...patch } = parseOrThrow(SeedTarget, JSON.parse(raw), [`targets:${line}`]);
      return { name, patch: parseOrThrow(TargetPatch, patch, [`targets:${line}`]) };
    });
}

/**
 * Loads `examples.jsonl` and `targets.jsonl` from `dir` through the same code as the admin API:
 * the example write path (upsert, so a re-run changes nothing) and the target update.
 */
export async function seedFromDirectory(
  dir: string,
  examples: ExampleService,
  targets: TargetService,
): Promise<{ examples: number; targets: number }> {
  const inputs = await parseExamplesJsonl(
    readFileSync(join(dir, "examples.jsonl"), "utf8"),
    "examples.jsonl",
  );
  await examples.add(inputs, "upsert");
  const targetsFile = join(dir, "targets.jsonl");
  let updated = 0;
  if (existsSync(targetsFile)) {
    for (const { name, patch } of parseSeedTargets(readFileSync(targetsFile, "utf8"))) {
      try {
        targets.update(name, toStorePatch(patch));
        updated++;
      } catch (err) {
        // A priced target no seeded example scores does not exist yet: nothing to price.
        if (!(err instanceof AppError && err.code === "NOT_FOUND")) throw err;
      }
    }
  }
  return { examples: inputs.length, targets: updated };
}
