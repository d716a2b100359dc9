import { describe, expect, it } from "vitest";
import { buckets, parseMetrics, quantile, total, traffic } from "../service/console/metrics.js";
import { startService } from "./support/harness.ts";

const scrape = (text: string) => parseMetrics(text);

describe("the console's reading of /metrics", () => {
  it("parses samples with labels, escapes and comments", () => {
    const s = scrape(
      '# HELP x y\n# TYPE x counter\nx{a="1",b="q\\"u"} 3\nx{a="2"} 4.5\ny 7\n\nz_bucket{le="+Inf"} 2\n',
    );
    expect(s).toEqual([
      { name: "x", labels: { a: "1", b: 'q"u' }, value: 3 },
      { name: "x", labels: { a: "2" }, value: 4.5 },
      { name: "y", labels: {}, value: 7 },
      { name: "z_bucket", labels: { le: "+Inf" }, value: 2 },
    ]);
    expect(total(s, "x")).toBe(7.5);
    expect(total(s, "x", { a: "2" })).toBe(4.5);
  });

  it("interpolates quantiles inside a bucket, as histogram_quantile does", () => {
    const b: Array<[number, number]> = [
      [0.01, 50],
      [0.1, 100],
      [Number.POSITIVE_INFINITY, 100],
    ];
    expect(quantile(0.5, b)).toBeCloseTo(0.01);
    expect(quantile(0.75, b)).toBeCloseTo(0.055);
    expect(quantile(0.5, [[Number.POSITIVE_INFINITY, 0]])).toBeNull();
    // In the open last bucket: its lower bound.
    expect(
      quantile(0.99, [
        [0.5, 1],
        [Number.POSITIVE_INFINITY, 10],
      ]),
    ).toBe(0.5);
  });

  it("reads the service's own exposition: ranks, latency, first places, /metrics polls left out", async () => {
    const svc = await startService();
    try {
      await svc.addExamples([
        { text: "alpha beta", scores: { a: 1, b: 0 } },
        { text: "gamma delta", scores: { a: 0, b: 1 } },
      ]);
      const read = async () => scrape(await (await svc.request("GET", "/metrics")).text());
      const before = await read();
      for (const query of ["alpha beta", "alpha", "gamma delta"]) {
        expect((await svc.request("POST", "/rank", { query })).status).toBe(200);
      }
      const now = await read();
      const t = traffic(now, before, 2);
      expect(t.ranks).toBe(3);
      // Three /rank calls; the second GET /metrics is not counted.
      expect(t.requestsPerSecond).toBe(1.5);
      expect(t.fallbackRate).toBe(0);
      expect(t.firstShares.map((f) => [f.target, f.count])).toEqual([
        ["a", 2],
        ["b", 1],
      ]);
      expect(t.p50).toBeGreaterThan(0);
      expect(buckets(now, "router_rank_duration_seconds").at(-1)?.[1]).toBe(3);
    } finally {
      await svc.close();
    }
  });
});
