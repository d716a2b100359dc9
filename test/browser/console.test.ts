/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// page.evaluate callbacks run in the browser: their globals are the DOM's.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromiumPath, launchChromium, recordForeignRequests, serveLocal } from "../support/browser.ts";
import { ADMIN_TOKEN, startService, type TestService } from "../support/harness.ts";

const executable = chromiumPath();
const note = executable ? "" : " (skipped: no chromium; apt-get install chromium)";
const ARTIFACTS = "test-artifacts";
// knn-router's own quickstart files, read in place: see ../shared/data/knn-router/SOURCE.md.
const KNN_ROUTER_DATA = "../shared/data/knn-router/deploy/docker-compose/data";
const knnRouterHere = existsSync(join(KNN_ROUTER_DATA, "points.jsonl"));
const knnRouterNote = knnRouterHere ? "" : " (skipped: ../shared/data/knn-router is absent)";

interface Settings {
  tuning: string;
  evaluation: { curves?: Record<string, unknown> } | null;
}

/**
 * The console at /console in headless Chromium against a seeded, self-tuning service: every page is
 * driven as an operator would, through the page's own controls only.
 */
describe.skipIf(!executable)(`the console in headless Chromium${note}`, () => {
  let svc: TestService;
  let server: Awaited<ReturnType<typeof serveLocal>>;
  let browser: Browser;
  let page: Page;
  let foreign: string[];
  const pageErrors: string[] = [];
  const failed: string[] = [];

  beforeAll(async () => {
    svc = await startService(
      { SEED_ON_EMPTY: "true", TUNE_DELAY_MS: "0", TUNE_MIN_INTERVAL_MS: "0" },
      { selfTuning: true },
    );
    server = await serveLocal(svc.app.fetch);
    browser = await launchChromium(executable as string);
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    foreign = recordForeignRequests(page, server.url);
    page.on("pageerror", (e) => pageErrors.push(e.message));
    page.on("console", (m) => {
      // A 4xx the tests provoke is listed by `failed` below; anything else the page logs as an error counts.
      if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) pageErrors.push(m.text());
    });
    page.on("response", (r) => {
      if (r.status() >= 400)
        failed.push(`${r.request().method()} ${new URL(r.url()).pathname} ${r.status()}`);
    });
    mkdirSync(ARTIFACTS, { recursive: true });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await svc?.close();
  });

  const go = async (hash: string) => {
    await page.evaluate((h) => {
      location.hash = h;
    }, hash);
  };
  const shot = (name: string) =>
    page.screenshot({ path: `${ARTIFACTS}/console-${name}.png`, fullPage: true });
  const rank = async (text: string) => {
    await go("#/playground");
    await page.fill("form.playground textarea[name=query]", text);
    await page.click("form.playground button[type=submit]");
    await page.waitForSelector(".result .bar-row");
  };
  const enabledTargets = async () => {
    const r = await svc.request("GET", "/admin/targets", undefined, { admin: true });
    const { targets } = (await r.json()) as { targets: Array<{ name: string; enabled: boolean }> };
    return targets.filter((t) => t.enabled).map((t) => t.name);
  };

  it("loads from the service alone and ranks a typed prompt without the token", async () => {
    const loaded = await page.goto(`${server.url}/console`, { waitUntil: "load" });
    // Served with its security headers (a script they blocked would count in pageErrors).
    expect(loaded?.headers()["content-security-policy"]).toContain("script-src 'self' 'sha256-");
    expect(loaded?.headers()["x-frame-options"]).toBe("DENY");
    const load = await page.evaluate(() => {
      const nav = performance.getEntriesByType("navigation")[0] as PerformanceNavigationTiming;
      const resources = performance.getEntriesByType("resource") as PerformanceResourceTiming[];
      return {
        loadMs: Math.round(nav.loadEventEnd - nav.startTime),
        domContentLoadedMs: Math.round(nav.domContentLoadedEventEnd - nav.startTime),
        files: resources.length + 1,
        transferredBytes: nav.transferSize + resources.reduce((n, r) => n + r.transferSize, 0),
        decodedBytes: nav.decodedBodySize + resources.reduce((n, r) => n + r.decodedBodySize, 0),
      };
    });
    writeFileSync(`${ARTIFACTS}/console-load.json`, `${JSON.stringify(load, null, 2)}\n`);
    console.log(`console load: ${JSON.stringify(load)}`);
    expect(load.transferredBytes).toBeGreaterThan(0);
    // Compressed on the wire: less than the files themselves.
    expect(load.transferredBytes).toBeLessThan(load.decodedBytes);

    await rank("Write a Python function that merges two sorted lists.");
    const shown = await page
      .locator(".result .bar-row")
      .evaluateAll((rows) => rows.map((r) => r.getAttribute("data-target")));
    expect([...shown].sort()).toEqual((await enabledTargets()).sort());
    expect(await page.locator("table.neighbours tbody tr").count()).toBeGreaterThan(0);
    expect(await page.locator("table.neighbours").textContent()).toContain("admin token needed");
    await shot("playground");

    await page.selectOption("select[name=objective]", "willingness_to_pay");
    await page.fill("input[name=objective-value]", "1000");
    await page.click("form.playground button[type=submit]");
    await page.waitForSelector(".recommended-name");
    const recommended = await page.locator(".recommended-name").textContent();
    expect(await enabledTargets()).toContain(recommended);
    expect(await page.locator(`.bar-row.recommended[data-target='${recommended}']`).count()).toBe(1);
    expect(await page.locator(".result .summary").textContent()).toMatch(/\$[0-9.]+\/M tokens/);
    await page.selectOption("select[name=objective]", "");
  }, 60_000);

  it("asks for the token on every other page", async () => {
    for (const view of ["examples", "targets", "quality"]) {
      await go(`#/${view}`);
      await page.waitForSelector("text=Type the admin token");
    }
    expect(await page.locator("table.targets").count()).toBe(0);
  });

  it("checks a typed token on the service, says when it is wrong, and keeps a right one for the tab only", async () => {
    await page.fill("input[name=token]", "not-the-admin-token-at-all");
    await page.click("form.token button");
    await page.waitForSelector(".token-problem");
    expect(await page.locator(".token-problem").textContent()).toBe("wrong token: the service refused it");
    expect(await page.evaluate(() => Object.keys(sessionStorage))).toEqual([]);
    // Still asking: nothing behind the token was opened.
    await go("#/targets");
    await page.waitForSelector("text=Type the admin token");

    await page.fill("input[name=token]", ADMIN_TOKEN);
    await page.click("form.token button");
    await page.waitForSelector("text=admin token accepted, kept for this tab");
    await page.waitForSelector("table.targets");
    const stored = await page.evaluate(() => ({
      cookie: document.cookie,
      local: localStorage.length,
      session: Object.keys(sessionStorage),
    }));
    expect(stored).toEqual({ cookie: "", local: 0, session: ["knn-router-admin-token"] });
    const cookies = await page.context().cookies();
    expect(cookies).toEqual([]);
  });

  it("adds an example in Examples that becomes the top neighbour of its own text", async () => {
    const text = "Translate this Old Norse saga passage about a shipwreck into modern Icelandic prose.";
    await go("#/examples/new");
    await page.fill(".example-form textarea[name=text]", text);
    await page.fill(".example-form input[name=category]", "translation");
    await page.fill(".example-form input[name='score-gpt-4o']", "0.9");
    await page.fill(".example-form input[name='score-gpt-4o-mini']", "0.4");
    await page.click(".example-form button[type=submit]");
    await page.waitForFunction(() => /^#\/examples\/[0-9a-f-]{36}$/.test(location.hash));
    const id = (await page.evaluate(() => location.hash)).split("/")[2] as string;
    const stored = (await (
      await svc.request("GET", `/admin/examples/${id}`, undefined, { admin: true })
    ).json()) as {
      text: string;
      scores: Record<string, number>;
    };
    expect(stored).toMatchObject({ text, scores: { "gpt-4o": 0.9, "gpt-4o-mini": 0.4 } });

    await rank(text);
    // The neighbours' texts and scores arrive after the ranking (one read an example): wait for them.
    await page.waitForFunction(
      () => document.querySelector("table.neighbours tbody tr td.text .hint") === null,
    );
    const first = page.locator("table.neighbours tbody tr").first();
    expect(await first.getAttribute("data-id")).toBe(id);
    expect(await first.textContent()).toContain("1.0000");
    expect(await first.textContent()).toContain("Old Norse");
    // The neighbours' scores stand in columns in the ranking's order, each under its target.
    const ranking = await page
      .locator(".result .bar-row")
      .evaluateAll((rows) => rows.map((r) => r.getAttribute("data-target")));
    const columns = await page.locator("table.neighbours thead th.target-col").allTextContents();
    expect(columns).toEqual(ranking);
    expect(await first.locator("td.score[data-target='gpt-4o']").textContent()).toBe("0.90");
    expect(await first.locator("td.score[data-target='gpt-4o-mini']").textContent()).toBe("0.40");
    const cells = await first
      .locator("td.score")
      .evaluateAll((tds) => tds.map((td) => td.getAttribute("data-target")));
    expect(cells).toEqual(ranking);
    // Confidence in words, beside the bars that show it as a share.
    expect(await page.locator(".result .bar-row").first().textContent()).toMatch(/\d+% from neighbours/);
    expect(await page.locator(".confidence-note").textContent()).toMatch(
      /^(About \d+% of each score comes from these neighbours; the rest is the prior|The scores come from these neighbours alone)/,
    );
    // The neighbour links to its example.
    await first.locator("a").click();
    await page.waitForSelector(".example-form textarea[name=text]");
    expect(await page.inputValue(".example-form textarea[name=text]")).toBe(text);
  }, 30_000);

  it("edits and deletes an example, and shows the API's error for a bad edit", async () => {
    const id = (await page.evaluate(() => location.hash)).split("/")[2] as string;
    await page.fill(".example-form input[name='score-gpt-4o']", "0.55");
    await page.click(".example-form button[type=submit]");
    await page.waitForSelector(".example-form .ok");
    const after = (await (
      await svc.request("GET", `/admin/examples/${id}`, undefined, { admin: true })
    ).json()) as {
      scores: Record<string, number>;
    };
    expect(after.scores["gpt-4o"]).toBe(0.55);

    await page.fill(".example-form textarea[name=text]", "   ");
    await page.click(".example-form button[type=submit]");
    await page.waitForSelector(".example-form .error");
    expect(await page.locator(".example-form .error").textContent()).toContain("text");

    page.once("dialog", (d) => d.accept());
    await page.click(".example-form button.danger");
    await page.waitForFunction(() => location.hash === "#/examples");
    expect((await svc.request("GET", `/admin/examples/${id}`, undefined, { admin: true })).status).toBe(404);
  }, 30_000);

  it("browses examples by category with paging and finds the nearest to a text", async () => {
    await go("#/examples");
    await page.waitForSelector("table.examples tbody tr");
    expect(await page.locator("table.examples tbody tr").count()).toBe(20);
    const firstPage = await page.locator("table.examples tbody tr").first().getAttribute("data-id");
    await page.click(".pager button:has-text('Next')");
    await page.waitForFunction(
      (first) => document.querySelector("table.examples tbody tr")?.getAttribute("data-id") !== first,
      firstPage,
    );
    await page.selectOption("select[name=category]", "math");
    await page.waitForFunction(() =>
      [...document.querySelectorAll("table.examples tbody tr td:nth-child(2)")].every(
        (td) => td.textContent === "math",
      ),
    );
    expect(await page.locator(".pager").textContent()).toContain("page 1");
    await shot("examples");

    await page.fill("input[name=search]", "Solve for x: 3x + 7 = 22");
    await page.click("form.row button[type=submit]");
    await page.waitForSelector("text=Nearest to the text");
    const sims = await page.locator("table.examples tbody tr td:nth-child(3)").allInnerTexts();
    expect(sims.length).toBeGreaterThan(0);
    const values = sims.map(Number);
    expect(values).toEqual([...values].sort((a, b) => b - a));
  }, 30_000);

  it("imports JSONL in bulk, listing each bad line the API names", async () => {
    await go("#/examples/import");
    const bad = '{"text":"fine","scores":{"gpt-4o":0.5}}\n{"text":"","scores":{}}\nnot json\n';
    const upload = async (name: string, text: string) => {
      await page.setInputFiles("input[name=examples]", {
        name,
        mimeType: "application/x-ndjson",
        buffer: Buffer.from(text),
      });
      await page.click(".import button[type=submit]");
    };
    await upload("bad.jsonl", bad);
    await page.waitForSelector(".import .error");
    const shown = await page.locator(".import .error").textContent();
    expect(shown).toContain("examples:2.text text must not be empty");
    expect(shown).toContain("examples:3 not valid JSON");

    const lines = Array.from({ length: 30 }, (_, i) =>
      JSON.stringify({
        text: `bulk imported prompt number ${i}`,
        category: "bulk",
        scores: { "gpt-4o": 0.7 },
      }),
    ).join("\n");
    await upload("good.jsonl", lines);
    await page.waitForSelector("text=imported 30 examples");
    const cats = (await (
      await svc.request("GET", "/admin/categories", undefined, { admin: true })
    ).json()) as {
      categories: Array<{ name: string | null; examples: number }>;
    };
    expect(cats.categories).toContainEqual({ name: "bulk", examples: 30 });
  }, 30_000);

  it.skipIf(!knnRouterHere)(
    `imports knn-router's points and targets files as they are${knnRouterNote}`,
    async () => {
      await go("#/examples/import");
      await page.check("input[name=fmt] >> nth=1");
      await page.setInputFiles("input[name=points]", join(KNN_ROUTER_DATA, "points.jsonl"));
      await page.setInputFiles("input[name=targets]", join(KNN_ROUTER_DATA, "targets.jsonl"));
      await page.click(".import button[type=submit]");
      const points = readFileSync(join(KNN_ROUTER_DATA, "points.jsonl"), "utf8").trim().split("\n").length;
      await page.waitForSelector(`text=imported ${points} examples`);
      expect(await page.locator(".import .error").count()).toBe(0);
    },
    30_000,
  );

  it("disabling a target in Targets removes it from the playground's ranking", async () => {
    const query = "Summarise the plot of Hamlet in three sentences.";
    const ranked = () =>
      page.locator(".result .bar-row").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-target")));
    await rank(query);
    const before = await ranked();
    expect(before).toContain("gpt-4o");

    await go("#/targets");
    const row = page.locator("table.targets tr[data-target='gpt-4o']");
    await row.waitFor();
    await row.locator("input[name=enabled]").uncheck();
    await row.locator("text=disabled").waitFor();
    expect(await enabledTargets()).not.toContain("gpt-4o");
    await page.fill("table.targets tr[data-target='gpt-4o-mini'] input[name=input_price]", "0.2");
    await page.click("table.targets tr[data-target='gpt-4o-mini'] button");
    await shot("targets");

    await rank(query);
    // As sets: a tuning run may finish between the two ranks and reorder them.
    expect((await ranked()).sort()).toEqual(before.filter((t) => t !== "gpt-4o").sort());
    const price = async () => {
      const r = await svc.request("GET", "/admin/targets", undefined, { admin: true });
      const { targets } = (await r.json()) as {
        targets: Array<{ name: string; input_price_per_mtok: number | null }>;
      };
      return targets.find((t) => t.name === "gpt-4o-mini")?.input_price_per_mtok;
    };
    await expect.poll(price).toBe(0.2);

    await go("#/targets");
    await page.locator("table.targets tr[data-target='gpt-4o'] input[name=enabled]").check();
    await page.locator("table.targets tr[data-target='gpt-4o'] >> text=enabled").waitFor();
    expect(await enabledTargets()).toContain("gpt-4o");
  }, 30_000);

  it("draws the cross-validated cost-quality curve on the quality page", async () => {
    // Seeding at start scheduled a tuning run; the page shows it once it has finished.
    for (let i = 0; i < 600; i++) {
      const s = (await (
        await svc.request("GET", "/admin/settings", undefined, { admin: true })
      ).json()) as Settings;
      if (s.tuning === "idle" && s.evaluation?.curves) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await go("#/quality");
    await page.waitForSelector(".plot canvas", { timeout: 15_000 });
    const legend = await page.locator(".plot .u-legend").textContent();
    for (const curve of ["these settings", "best single model", "oracle"]) expect(legend).toContain(curve);
    // The canvas is drawn on: not a single colour.
    const colours = await page.locator(".plot canvas").evaluate((c) => {
      const canvas = c as HTMLCanvasElement;
      const data = canvas.getContext("2d")?.getImageData(0, 0, canvas.width, canvas.height).data ?? [];
      const seen = new Set<number>();
      for (let i = 0; i < data.length; i += 4 * 97)
        seen.add(((data[i] ?? 0) << 16) | ((data[i + 1] ?? 0) << 8) | (data[i + 2] ?? 0));
      return seen.size;
    });
    expect(colours).toBeGreaterThan(2);
    expect(Number(await page.locator(".metric-value").textContent())).toBeGreaterThan(0);
    // Readable legend (no uPlot "Value: --"), money in dollars, times and states in words.
    expect(legend).toContain("cost per 1,000 queries");
    expect(legend).not.toContain("Value");
    const points = await page.locator("table.points tbody td:nth-child(2)").allTextContents();
    expect(points.length).toBeGreaterThan(0);
    for (const cost of points) expect(cost).toMatch(/^\$\d+(\.\d+)?$/);
    const summary = await page.locator(".summary").textContent();
    expect(summary).toContain("settings: tuned on your examples");
    expect(summary).toMatch(/tuned (just now|\d+ seconds? ago|\d+ minutes? ago) on \d+ examples/);
    expect(await page.locator(".summary time").first().getAttribute("datetime")).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(await page.locator(".last-run").textContent()).toMatch(
      /last run, started (just now|.* ago): (found better settings and put them in force|kept the settings in force \(none ranked better\))/,
    );
    expect(await page.locator("table.settings tr[data-setting=k] th").textContent()).toBe(
      "neighbours read (k)",
    );
    await shot("quality");
  }, 90_000);

  it("shows live traffic from the service's own metrics", async () => {
    await go("#/traffic");
    await page.waitForSelector("table.traffic");
    const cell = (row: string, column: number) =>
      page.evaluate(
        ([r, c]) => {
          const tr = [...document.querySelectorAll("table.traffic tr")].find((t) =>
            t.textContent?.startsWith(r as string),
          );
          return tr?.children[c as number]?.textContent ?? "";
        },
        [row, column] as const,
      );
    const ranksBefore = Number(await cell("ranks", 2));
    // Traffic from elsewhere (as a client would send it) while the page polls.
    let sending = true;
    let sent = 0;
    const traffic = (async () => {
      while (sending) {
        await svc.request("POST", "/rank", { query: `traffic query ${sent}` });
        sent += 1;
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    try {
      await page.waitForFunction(
        () => {
          const tr = [...document.querySelectorAll("table.traffic tr")].find((t) =>
            t.textContent?.startsWith("requests/s"),
          );
          return Number(tr?.children[1]?.textContent) > 0;
        },
        undefined,
        { timeout: 15_000 },
      );
      await page.waitForSelector(".plot canvas", { timeout: 10_000 });
    } finally {
      sending = false;
      await traffic;
    }
    await page.waitForFunction(
      (n) => {
        const tr = [...document.querySelectorAll("table.traffic tr")].find((t) =>
          t.textContent?.startsWith("ranks"),
        );
        return Number(tr?.children[2]?.textContent) >= n;
      },
      ranksBefore + sent,
      { timeout: 10_000 },
    );
    expect(Number(await cell("/rank p50", 2))).toBeGreaterThan(0);
    expect(await cell("fallback rate", 2)).toMatch(/%$/);
    // Requests a second since start too, percentiles labelled as the estimates they are.
    expect(Number(await cell("requests/s", 2))).toBeGreaterThan(0);
    expect(await cell("/rank p99", 0)).toBe("/rank p99 ms (estimate)");
    expect(await page.locator("section").textContent()).toContain(
      "estimates from the latency histogram's buckets",
    );
    const legend = await page.locator(".plot .u-legend").textContent();
    expect(legend).toContain("requests/s");
    expect(legend).toContain("/rank p99 (estimate)");
    expect(legend).not.toContain("Value");
    expect(await page.locator(".bars .bar-row").count()).toBeGreaterThan(0);
    await shot("traffic");
  }, 40_000);

  it("starts over: deletes a category's examples, deletes a target, and replaces every example with a file", async () => {
    const examples = async (query = "") =>
      (
        (await (
          await svc.request("GET", `/admin/examples?limit=1000${query}`, undefined, { admin: true })
        ).json()) as {
          examples: Array<{ id: string; scores: Record<string, number> }>;
        }
      ).examples;
    await go("#/examples");
    await page.selectOption("select[name=category]", "math");
    const maths = (await examples("&category=math")).length;
    expect(maths).toBeGreaterThan(0);
    page.once("dialog", (d) => {
      expect(d.message()).toBe("Delete every example of category math?");
      void d.accept();
    });
    await page.click(".bulk-delete button.danger");
    await page.waitForSelector(`.bulk-delete >> text=deleted ${maths}`);
    expect(await examples("&category=math")).toEqual([]);

    await go("#/targets");
    const row = page.locator("table.targets tr[data-target='gpt-4o-mini']");
    await row.waitFor();
    page.once("dialog", (d) => void d.accept());
    await row.locator("button.danger").click();
    await page.waitForSelector("text=deleted gpt-4o-mini:");
    expect(await page.locator("table.targets tr[data-target='gpt-4o-mini']").count()).toBe(0);
    expect((await examples()).some((e) => "gpt-4o-mini" in e.scores)).toBe(false);

    await go("#/examples/import");
    const mine = Array.from({ length: 12 }, (_, i) =>
      JSON.stringify({ id: `mine-${i}`, text: `my own prompt number ${i}`, scores: { "gpt-4o": 0.5 } }),
    ).join("\n");
    await page.setInputFiles("input[name=examples]", {
      name: "mine.jsonl",
      mimeType: "application/x-ndjson",
      buffer: Buffer.from(mine),
    });
    await page.check(".import input[name=replace]");
    page.once("dialog", (d) => void d.accept());
    await page.click(".import button[type=submit]");
    await page.waitForSelector("text=imported 12 examples, deleted");
    expect((await examples()).map((e) => e.id).sort()).toEqual(
      Array.from({ length: 12 }, (_, i) => `mine-${i}`).sort(),
    );
  }, 60_000);

  it("made no request to another host, raised no page error, and failed only where the tests meant it to", () => {
    expect(foreign).toEqual([]);
    expect(pageErrors).toEqual([]);
    expect(failed.map((f) => f.replace(/[0-9a-f-]{36}/, "{id}"))).toEqual([
      "GET /admin/targets 401",
      "PUT /admin/examples/{id} 400",
      "POST /admin/import 400",
    ]);
  });
});
