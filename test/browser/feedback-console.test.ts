/// <reference lib="dom" />
import { readFileSync } from "node:fs";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromiumPath, launchChromium, serveLocal } from "../support/browser.ts";
import {
  ADMIN_TOKEN,
  FEEDBACK_TOKEN,
  type RankBody,
  startService,
  type TestService,
  TOPICS,
} from "../support/harness.ts";

const executable = chromiumPath();
const note = executable ? "" : " (skipped: no chromium; apt-get install chromium)";

interface Ranked extends RankBody {
  ranking_id: string;
}

/**
 * The console's Feedback page in headless Chromium, against a service that holds outcomes for
 * review: the pending outcomes accepted and rejected with the page's buttons, the label queue shown
 * and downloaded, the outcomes per target plotted.
 */
describe.skipIf(!executable)(`the console's feedback page in headless Chromium${note}`, () => {
  let svc: TestService;
  let server: Awaited<ReturnType<typeof serveLocal>>;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];
  const rankings: Ranked[] = [];

  const feedback = (body: unknown) =>
    svc.request("POST", "/feedback", body, { headers: { authorization: `Bearer ${FEEDBACK_TOKEN}` } });

  beforeAll(async () => {
    svc = await startService({ FEEDBACK_TOKEN, FEEDBACK_REVIEW: "true" });
    await svc.addExamples([
      ...TOPICS.code.map((text) => ({ text, scores: { big: 0.9, small: 0.3 } })),
      ...TOPICS.poetry.map((text) => ({ text, scores: { big: 0.3, small: 0.9 } })),
    ]);
    for (const query of ["a poem about the sea", "sort a list in python", "a sonnet on rust"]) {
      rankings.push((await svc.rank({ query, k: 1 })).body as Ranked);
    }
    const [sea, sort, sonnet] = rankings as [Ranked, Ranked, Ranked];
    expect((await feedback({ ranking_id: sea.ranking_id, target: "small", score: 1 })).status).toBe(200);
    expect((await feedback({ ranking_id: sort.ranking_id, preferred: "big", over: "small" })).status).toBe(
      200,
    );
    expect((await feedback({ ranking_id: sonnet.ranking_id, target: "big", score: 0 })).status).toBe(200);
    server = await serveLocal(svc.app.fetch);
    browser = await launchChromium(executable as string);
    page = await browser.newPage({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
    page.on("pageerror", (e) => pageErrors.push(e.message));
    await page.goto(`${server.url}/console#/feedback`, { waitUntil: "load" });
    await page.waitForSelector("text=Type the admin token");
    await page.fill("input[name=token]", ADMIN_TOKEN);
    await page.click("form.token button");
    await page.waitForSelector("table.pending");
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await svc?.close();
  });

  it("lists the pending outcomes in words, and accepts and rejects them with its buttons", async () => {
    const [sea, sort, sonnet] = rankings as [Ranked, Ranked, Ranked];
    expect(await page.locator(".counts").textContent()).toContain("3 pending, 0 accepted, 0 rejected");
    expect(await page.locator(`tr[data-ranking='${sea.ranking_id}']`).textContent()).toContain(
      "small scored 1.00",
    );
    expect(await page.locator(`tr[data-ranking='${sort.ranking_id}']`).textContent()).toContain(
      "big over small",
    );

    await page.click(`tr[data-ranking='${sea.ranking_id}'] button:text("Accept")`);
    await page.waitForSelector("text=Accepted 1 outcome.");
    await page.click(`tr[data-ranking='${sonnet.ranking_id}'] button:text("Reject")`);
    await page.waitForSelector("text=Rejected 1 outcome.");
    await page.waitForSelector("text=1 pending, 1 accepted, 1 rejected");
    expect(await page.locator(`tr[data-ranking='${sea.ranking_id}']`).count()).toBe(0);
    // What the buttons did, as the API sees it.
    expect(svc.deps.stores.examples.get(`feedback-${sea.ranking_id}`)?.scores).toEqual({ small: 1 });
    expect(svc.deps.stores.examples.get(`feedback-${sonnet.ranking_id}`)).toBeUndefined();
  });

  it("shows the label queue with why, and downloads it as import lines", async () => {
    // k = 1: every ranking had thin support. The accepted one is labelled and leaves the queue.
    const rows = page.locator("table.label-queue tbody tr");
    await page.waitForSelector("table.label-queue tbody tr");
    const text = await page.locator("table.label-queue").textContent();
    expect(text).toContain("thin support: 1 neighbours scored the top target");
    expect(text).toContain("sort a list in python");
    expect(await rows.count()).toBe(2);
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.click("button:text('Download JSONL')"),
    ]);
    const lines = readFileSync((await download.path()) as string, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { text: string; scores: Record<string, null> });
    expect(lines.map((l) => l.text).sort()).toEqual(["a sonnet on rust", "sort a list in python"]);
    expect(lines[0]?.scores).toEqual({ big: null, small: null });
  });

  it("plots the accepted outcomes per target, with totals", async () => {
    await page.waitForSelector(".plot.arrivals canvas");
    const totals = await page
      .locator("table.arrival-totals tr")
      .evaluateAll((rows) =>
        rows.map((r) => [r.querySelector("th")?.textContent, r.querySelector("td")?.textContent]),
      );
    expect(totals).toEqual([["small", "1"]]);
    expect(await page.locator(".plot.arrivals .u-legend").textContent()).toContain("small");
    expect(pageErrors).toEqual([]);
  });
});
