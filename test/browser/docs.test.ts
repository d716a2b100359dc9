import { mkdirSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromiumPath, launchChromium, recordForeignRequests, serveLocal } from "../support/browser.ts";
import { startService, type TestService } from "../support/harness.ts";

const executable = chromiumPath();
const note = executable ? "" : " (skipped: no chromium; apt-get install chromium)";

describe.skipIf(!executable)(`GET /docs in headless Chromium${note}`, () => {
  let svc: TestService;
  let server: Awaited<ReturnType<typeof serveLocal>>;
  beforeAll(async () => {
    svc = await startService();
    server = await serveLocal(svc.app.fetch);
  });
  afterAll(async () => {
    await server?.close();
    await svc?.close();
  });

  it("renders every operation of /openapi.json with no request to another host", async () => {
    const browser = await launchChromium(executable as string);
    try {
      const page = await browser.newPage();
      const foreign = recordForeignRequests(page, server.url);
      const failed: string[] = [];
      page.on("requestfailed", (r) => failed.push(r.url()));
      // The page's security headers must not break it: a blocked script or style logs an error.
      const errors: string[] = [];
      page.on("console", (m) => {
        if (m.type() === "error") errors.push(m.text());
      });
      const loaded = await page.goto(`${server.url}/docs`, { waitUntil: "networkidle" });
      expect(loaded?.headers()["content-security-policy"]).toContain("default-src 'self'");
      expect(loaded?.headers()["x-frame-options"]).toBe("DENY");
      await page.waitForSelector(".opblock", { timeout: 15_000 });
      const doc = (await (await svc.request("GET", "/openapi.json")).json()) as {
        paths: Record<string, Record<string, unknown>>;
      };
      const operations = Object.values(doc.paths).reduce((n, ops) => n + Object.keys(ops).length, 0);
      expect(await page.locator(".opblock").count()).toBe(operations);
      expect(await page.locator(".opblock-summary-path").allInnerTexts()).toContain("/rank");
      mkdirSync("test-artifacts", { recursive: true });
      await page.screenshot({ path: "test-artifacts/docs.png", fullPage: false });
      expect(foreign).toEqual([]);
      expect(failed).toEqual([]);
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 60_000);
});
