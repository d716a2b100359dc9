import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { skipReasons } from "./support/summary-reporter.ts";

describe("the test run's summary", () => {
  it("says why tests were skipped, one line per reason, and names a skip that gives none", () => {
    expect(
      skipReasons([
        {
          fullName: "qdrant live at QDRANT_URL (skipped: QDRANT_URL is not set) > upserts",
          file: "test/a.test.ts",
        },
        {
          fullName: "qdrant live at QDRANT_URL (skipped: QDRANT_URL is not set) > deletes",
          file: "test/a.test.ts",
        },
        { fullName: "replicas (skipped: QDRANT_URL is not set) > follow", file: "test/b.test.ts" },
        { fullName: "a suite > a test", file: "test/c.test.ts" },
      ]),
    ).toEqual([
      "  3 skipped: QDRANT_URL is not set (test/a.test.ts, test/b.test.ts)",
      "  no reason given: a suite > a test (test/c.test.ts)",
    ]);
  });

  it("has a reason for every skipIf in the suite: its title says (skipped: …)", () => {
    const root = resolve(import.meta.dirname);
    const files = [
      ...readdirSync(root).filter((f) => f.endsWith(".test.ts")),
      ...readdirSync(join(root, "browser")).map((f) => `browser/${f}`),
    ];
    let skips = 0;
    for (const file of files) {
      const source = readFileSync(join(root, file), "utf8");
      for (const m of source.matchAll(/\.skipIf\([^)]*\)\(\s*/g)) {
        skips++;
        // The title: the first argument, up to its closing quote before the test function.
        const rest = source.slice((m.index ?? 0) + m[0].length);
        const title = rest.slice(0, (/[`"'],\s*(async\s*)?\(/.exec(rest)?.index ?? rest.length) + 1);
        // The title itself, or a note variable the file builds with "(skipped: …)".
        const note = /\$\{(\w+)\}/.exec(title)?.[1];
        const explained =
          title.includes("(skipped: ") ||
          (note !== undefined && new RegExp(`${note}\\s*=[^;]*\\(skipped: `, "s").test(source));
        expect(explained, `${file}: ${title}`).toBe(true);
      }
    }
    expect(skips).toBeGreaterThan(10);
  });
});
