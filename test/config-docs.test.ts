import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { EnvSchema } from "../service/config.ts";

/** The table of docs/configuration.md: each variable with the default the row states (undefined: unset). */
function documented(): Map<string, string | undefined> {
  const out = new Map<string, string | undefined>();
  const text = readFileSync(new URL("../docs/configuration.md", import.meta.url), "utf8");
  for (const line of text.split("\n")) {
    const cells = line.split(" | ");
    if (!line.startsWith("| `") || cells.length < 3) continue;
    const names = [...(cells[0] as string).matchAll(/`([A-Z0-9_]+)`/g)].map((m) => m[1] as string);
    const cell = cells[1] as string;
    const values =
      cell.trim() === "unset"
        ? names.map(() => undefined)
        : [...cell.matchAll(/`([^`]*)`/g)].map((m) => m[1]);
    expect(values, `the defaults of ${names.join(", ")}`).toHaveLength(names.length);
    for (const [i, name] of names.entries()) {
      expect(out.has(name), `${name} is documented twice`).toBe(false);
      out.set(name, values[i]);
    }
  }
  return out;
}

describe("docs/configuration.md", () => {
  const table = documented();
  const shape = EnvSchema.shape as Record<string, { parse(v: unknown): unknown }>;

  it("documents exactly the variables the config schema reads", () => {
    expect([...table.keys()].sort()).toEqual(Object.keys(shape).sort());
  });

  it("states each variable's real default, once", () => {
    for (const [name, stated] of table) {
      const schema = shape[name] as { parse(v: unknown): unknown };
      const real = schema.parse(undefined);
      expect(stated === undefined ? undefined : schema.parse(stated), name).toEqual(real);
    }
  });
});
