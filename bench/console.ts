/// <reference lib="dom" />
/**
 * The console's load cost: `npx tsx bench/console.ts [--runs 10]`. Starts the real server (seeded,
 * hash embedder: the page's load does not embed) and loads /console in headless Debian Chromium,
 * each run in a fresh browser context (a cold cache), then once more warm (revalidated files).
 * Prints load and DOMContentLoaded times, files, and bytes on the wire and decoded.
 */
import { parseArgs } from "node:util";
import type { Browser } from "playwright-core";
import { chromiumPath, launchChromium } from "../test/support/browser.ts";
import { ChildServer } from "../test/support/child-server.ts";
import { tempDir } from "../test/support/harness.ts";

const { values } = parseArgs({ options: { runs: { type: "string", default: "10" } } });
const RUNS = Number(values.runs);

interface Load {
  loadMs: number;
  domContentLoadedMs: number;
  files: number;
  transferredBytes: number;
  decodedBytes: number;
}

async function measure(browser: Browser, url: string, reloads: number): Promise<Load[]> {
  const context = await browser.newContext();
  const page = await context.newPage();
  const loads: Load[] = [];
  for (let i = 0; i <= reloads; i++) {
    if (i === 0) await page.goto(`${url}/console`, { waitUntil: "load" });
    else await page.reload({ waitUntil: "load" });
    // The app has rendered, not only loaded.
    await page.waitForSelector("form.playground");
    loads.push(
      await page.evaluate(() => {
        const nav = performance.getEntriesByType("navigation")[0] as PerformanceNavigationTiming;
        const res = performance.getEntriesByType("resource") as PerformanceResourceTiming[];
        return {
          loadMs: nav.loadEventEnd - nav.startTime,
          domContentLoadedMs: nav.domContentLoadedEventEnd - nav.startTime,
          files: res.length + 1,
          transferredBytes: nav.transferSize + res.reduce((n, r) => n + r.transferSize, 0),
          decodedBytes: nav.decodedBodySize + res.reduce((n, r) => n + r.decodedBodySize, 0),
        };
      }),
    );
  }
  await context.close();
  return loads;
}

const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const median = s[Math.floor(s.length / 2)] ?? Number.NaN;
  return `median ${median.toFixed(0)}  min ${(s[0] ?? 0).toFixed(0)}  max ${(s.at(-1) ?? 0).toFixed(0)}`;
};

const executable = chromiumPath();
if (!executable) throw new Error("no chromium: apt-get install chromium");
const dir = tempDir();
const server = await ChildServer.start({
  DATABASE_PATH: `${dir.dir}/router.db`,
  EMBEDDER: "hash",
  ADMIN_TOKEN: "bench-admin-token-0123456789",
});
const browser = await launchChromium(executable);
try {
  // One warm-up load: the server reads and caches the files on first use.
  await measure(browser, server.url, 0);
  const cold: Load[] = [];
  const warm: Load[] = [];
  for (let i = 0; i < RUNS; i++) {
    const [first, again] = await measure(browser, server.url, 1);
    cold.push(first as Load);
    warm.push(again as Load);
  }
  for (const [name, loads] of [
    ["cold cache", cold],
    ["reload (revalidated)", warm],
  ] as const) {
    const l = loads[0] as Load;
    console.log(`${name}, ${RUNS} runs`);
    console.log(`  load event ms          ${stats(loads.map((x) => x.loadMs))}`);
    console.log(`  DOMContentLoaded ms    ${stats(loads.map((x) => x.domContentLoadedMs))}`);
    console.log(`  files ${l.files}, transferred ${l.transferredBytes} B, decoded ${l.decodedBytes} B`);
  }
} finally {
  await browser.close();
  server.kill("SIGTERM");
  await server.exit();
  dir.remove();
}
