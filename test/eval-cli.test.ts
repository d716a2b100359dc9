import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { readSettingsFile } from "../service/tuning/settings-file.ts";

const run = promisify(execFile);

describe("npm run eval (the command itself)", () => {
  it("tunes on our JSONL, reports the category hint, the hindsight ceiling and the spread over splits, and writes settings", async () => {
    const dir = mkdtempSync(join(tmpdir(), "router-eval-"));
    const settings = join(dir, "routing.json");
    const out = join(dir, "report");
    const { stdout } = await run(
      "node_modules/.bin/tsx",
      [
        "tools/eval/cli.ts",
        "seed-data/examples.jsonl",
        "--tune",
        "--ceiling",
        "--seeds",
        "3",
        "--settings-out",
        settings,
        "--out",
        out,
        "--cache",
        join(dir, "cache"),
      ],
      { env: { ...process.env, EMBEDDER: "hash", ROUTING_SETTINGS: join(dir, "absent.json") } },
    );
    const report = readFileSync(join(out, "examples.md"), "utf8");
    expect(stdout).toContain(report.trim());
    expect(report).toMatch(/\| kNN, plain \(k=20\) \| 0\.\d{3} \|/);
    expect(report).toMatch(
      /\| kNN, tuned \(k=\d+, power \d+, shrinkage \d+ to \w+ means, length weight [\d.]+\) \|/,
    );
    // The examples have categories and tuning chose shrinkage, so the table shows the hinted router.
    expect(report).toMatch(/\| kNN, tuned \([^)]*\), caller sends the category \| 0\.\d{3} \|/);
    // The grid searched on the reported split itself is shown as a bound, never as a router.
    expect(report).toMatch(
      /\| grid best on this very split, chosen with hindsight \(k=\d+[^)]*\): a ceiling, not a router \| 0\.\d{3} \|/,
    );
    // Every setting in the grid, plain k=20 and the tuned one included, is at most that ceiling.
    const value = (prefix: string) =>
      Number(
        report
          .split("\n")
          .find((l) => l.startsWith(`| ${prefix}`))
          ?.match(/ \| (\d\.\d{3}) \|/)?.[1],
      );
    const ceiling = value("grid best");
    expect(ceiling).toBeGreaterThanOrEqual(value("kNN, plain"));
    expect(ceiling).toBeGreaterThanOrEqual(value("kNN, tuned"));
    // Split seed 2 chose the settings, so the spread skips it; one row a router.
    const heading = "#### top-pick quality over 3 split seeds (1, 3, 4)";
    expect(report).toContain(heading);
    const spread = report.slice(report.indexOf(heading));
    expect(spread.match(/^\| kNN, [^|]*( \| 0\.\d{3}){4} \|$/gm)).toHaveLength(3);
    const written = readSettingsFile(settings);
    expect(written?.k).toBeGreaterThanOrEqual(10);
    const file = JSON.parse(readFileSync(settings, "utf8"));
    expect(file.tuned).toMatchObject({ dataset: "examples", metric: "top-pick quality" });
  }, 120_000);
});
