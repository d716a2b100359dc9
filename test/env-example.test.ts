import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { EnvSchema } from "../service/config.ts";

/** `.env.example` as name -> value, comments and blank lines dropped. */
function envExample(): Map<string, string> {
  const entries = new Map<string, string>();
  for (const raw of readFileSync(new URL("../.env.example", import.meta.url), "utf8").split("\n")) {
    const line = raw.replace(/\s+#.*$/, "").trim();
    if (line === "" || line.startsWith("#")) continue;
    const eq = line.indexOf("=");
    const name = line.slice(0, eq);
    expect(entries.has(name), `${name} is listed twice`).toBe(false);
    entries.set(name, line.slice(eq + 1));
  }
  return entries;
}

describe(".env.example", () => {
  const listed = envExample();
  const shape = EnvSchema.shape as Record<string, { parse(v: unknown): unknown }>;

  it("lists exactly the variables the config schema reads", () => {
    expect([...listed.keys()].sort()).toEqual(Object.keys(shape).sort());
  });

  it("gives each variable its real default (empty where there is none)", () => {
    for (const [name, value] of listed) {
      const schema = shape[name] as { parse(v: unknown): unknown };
      // An empty value means unset (see loadConfig), so it must be a variable without a default.
      const expected = schema.parse(undefined);
      expect(value === "" ? undefined : schema.parse(value), name).toEqual(expected);
    }
  });
});
