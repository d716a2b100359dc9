import { execFile, execFileSync } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serveLocal } from "./support/browser.ts";
import { ADMIN_TOKEN, startService, type TestService, TOPICS } from "./support/harness.ts";

const SCRIPT = new URL("../docs/examples/route.py", import.meta.url).pathname;

function python(): string | undefined {
  try {
    execFileSync("python3", ["--version"], { stdio: "ignore" });
    return "python3";
  } catch {
    return undefined;
  }
}
const interpreter = python();
// CI sets REQUIRE_PYTHON so a missing interpreter fails there instead of skipping.
if (!interpreter && !process.env.REQUIRE_PYTHON) {
  console.warn("skipping the Python example: no python3 on PATH");
}

describe.skipIf(!interpreter && !process.env.REQUIRE_PYTHON)(
  `the standard-library Python example (docs/examples/route.py)${interpreter || process.env.REQUIRE_PYTHON ? "" : " (skipped: no python3 on PATH)"}`,
  () => {
    let svc: TestService;
    let served: { url: string; close: () => Promise<void> };
    beforeAll(async () => {
      svc = await startService();
      served = await serveLocal(svc.app.fetch);
      const examples = TOPICS.code.map((text) => ({ text, scores: { coder: 0.95, writer: 0.4 } }));
      expect((await svc.addExamples(examples)).status).toBe(201);
    });
    afterAll(async () => {
      await served?.close();
      await svc?.close();
    });

    const run = (env: Record<string, string>, prompt: string, flags: string[] = []) =>
      promisify(execFile)(interpreter ?? "python3", [SCRIPT, ...flags, prompt], {
        env: { PATH: process.env.PATH ?? "", ROUTER_URL: served.url, ...env },
        timeout: 20_000,
      });

    it("ranks a prompt and shows a refusal with its code, field and request id, writing nothing even with the admin token", async () => {
      const { stdout } = await run({ ADMIN_TOKEN }, "python function to sort a list");
      const lines = stdout.trim().split("\n");
      expect(lines.shift()).toBe("read-only: nothing is written (--write stores an example)");
      expect(lines[0]).toBe("'python function to sort a list': 3 neighbours, fallback=False");
      expect(lines[1]).toMatch(/^ {2}coder +score 0\.9500 {2}support 3$/);
      expect(lines[2]).toMatch(/^ {2}writer +score 0\.4000 {2}support 3$/);
      expect(lines[3]).toMatch(
        /^refused: 400 VALIDATION_FAILED: query: query must not be empty \(request \S+\)$/,
      );
      expect(lines[4]).toBe("  query: query must not be empty");
      expect(svc.deps.stores.examples.countExamples()).toBe(TOPICS.code.length);
      expect(svc.deps.stores.targets.listTargets().map((t) => t.name)).toEqual(["coder", "writer"]);
    });

    it("refuses --write without the admin token", async () => {
      const failed = await run({}, "python function to sort a list", ["--write"]).catch(
        (e: { code: number; stderr: string }) => e,
      );
      expect(failed).toMatchObject({ code: 2 });
      expect((failed as { stderr: string }).stderr).toContain("--write needs ADMIN_TOKEN");
      expect(svc.deps.stores.examples.countExamples()).toBe(TOPICS.code.length);
    });

    it("stores an example with --write and the admin token, idempotently", async () => {
      for (let i = 0; i < 2; i++) {
        const { stdout } = await run({ ADMIN_TOKEN }, "python function to sort a list", ["--write"]);
        expect(stdout.split("\n")[0]).toBe("stored example python-example-1 (scores gpt-4o, gpt-4o-mini)");
      }
      const stored = await svc.request("GET", "/admin/examples/python-example-1", undefined, { admin: true });
      expect(((await stored.json()) as { scores: Record<string, number> }).scores).toEqual({
        "gpt-4o": 0.92,
        "gpt-4o-mini": 0.81,
      });
      expect(svc.deps.stores.examples.countExamples()).toBe(TOPICS.code.length + 1);
    });
  },
);
