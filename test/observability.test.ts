import { Validator } from "@seriousme/openapi-schema-validator";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createApp } from "../service/app.ts";
import { HashEmbedder } from "../service/embedding/hash.ts";
import { createLogger } from "../service/logger.ts";
import { Metrics } from "../service/metrics.ts";
import {
  ADMIN_TOKEN,
  example,
  SwitchableEmbedder,
  startService,
  type TestService,
  TOPICS,
} from "./support/harness.ts";

describe("GET /openapi.json", () => {
  let svc: TestService;
  beforeEach(async () => {
    svc = await startService();
  });
  afterEach(() => svc.close());

  it("is a valid OpenAPI 3.1 document", async () => {
    const res = await svc.request("GET", "/openapi.json");
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { openapi: string };
    expect(doc.openapi).toBe("3.1.0");
    const result = await new Validator().validate(doc);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it("describes every route the app answers, the knn-router route too", async () => {
    const doc = (await (await svc.request("GET", "/openapi.json")).json()) as {
      paths: Record<string, Record<string, unknown>>;
    };
    const answered = svc.app.routes
      .filter((r) => r.method !== "ALL")
      .map((r) => `${r.method.toLowerCase()} ${r.path.replace(/:([^/]+)/g, "{$1}")}`);
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((method) => `${method} ${path}`),
    );
    expect(answered.length).toBeGreaterThanOrEqual(14);
    // The pages' own script and style files are answered but are no API: left out of the document.
    const assets = ["get /console/{file}", "get /docs/{file}"];
    expect(answered).toEqual(expect.arrayContaining(assets));
    expect(documented).not.toEqual(expect.arrayContaining([assets[0]]));
    const api = answered.filter((r) => !assets.includes(r));
    expect([...new Set(api)].sort()).toEqual([...new Set(documented)].sort());
    expect(documented).toContain("post /");
    expect(documented).toContain("post /rank");
  });

  it("names every operation, marks public ones, and declares the headers every answer carries", async () => {
    const doc = (await (await svc.request("GET", "/openapi.json")).json()) as {
      info: { license?: { name: string } };
      servers?: Array<{ url: string }>;
      paths: Record<
        string,
        Record<
          string,
          {
            operationId?: string;
            security?: unknown[];
            responses: Record<string, { headers?: Record<string, unknown> }>;
          }
        >
      >;
    };
    expect(doc.info.license?.name).toBe("Apache-2.0");
    expect(doc.servers?.length).toBeGreaterThan(0);
    const operations = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.entries(ops).map(([method, op]) => ({ route: `${method} ${path}`, ...op })),
    );
    const ids = operations.map((o) => o.operationId);
    expect(ids.every((id) => typeof id === "string" && id.length > 0)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    const byRoute = new Map(operations.map((o) => [o.route, o]));
    expect(byRoute.get("post /rank")?.security).toEqual([]);
    expect(byRoute.get("get /healthz")?.security).toEqual([]);
    expect(byRoute.get("get /admin/examples")?.security).toEqual([{ adminToken: [] }]);
    for (const o of operations) {
      for (const [status, response] of Object.entries(o.responses)) {
        expect(Object.keys(response.headers ?? {}), `${o.route} ${status}`).toContain("X-Request-Id");
        if (status === "503")
          expect(Object.keys(response.headers ?? {}), `${o.route} 503`).toContain("Retry-After");
      }
    }
  });
});

describe("GET /metrics", () => {
  it("counts requests and /rank's stages, N calls moving them by N", async () => {
    const svc = await startService();
    await svc.addExamples(TOPICS.code.map((t) => example(t, { coder: 0.9, poet: 0.1 })));
    const scrape = async () => {
      const res = await svc.request("GET", "/metrics");
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toContain("text/plain");
      return res.text();
    };
    const value = (text: string, series: string) => {
      const line = text.split("\n").find((l) => l.startsWith(`${series} `));
      return line === undefined ? 0 : Number(line.slice(series.length + 1));
    };
    const before = await scrape();
    const N = 7;
    for (let i = 0; i < N; i++)
      expect((await svc.rank({ query: `python sort ${i}`, k: 2 })).status).toBe(200);
    await svc.request("POST", "/", { query: "python sort" });
    const after = await scrape();
    const moved = (series: string) => value(after, series) - value(before, series);
    expect(moved('router_http_requests_total{method="POST",route="/rank",status="200"}')).toBe(N);
    expect(moved('router_http_requests_total{method="POST",route="/",status="200"}')).toBe(1);
    for (const stage of ["embed", "search", "scores", "aggregate"]) {
      expect(moved(`router_rank_stage_duration_seconds_count{stage="${stage}"}`)).toBe(N + 1);
    }
    expect(moved("router_rank_duration_seconds_count")).toBe(N + 1);
    expect(moved('router_rank_first_total{target="coder"}')).toBe(N + 1);
    expect(value(after, "router_examples_stored")).toBe(3);
    expect(value(after, "router_vectors_stored")).toBe(3);
    expect(value(after, "router_vectors_unsynced")).toBe(0);
    expect(after).toContain("router_process_cpu_seconds_total");
    await svc.close();
  });

  it("counts fallbacks, recommendations, imports and embedding cache lookups", async () => {
    const { buildDeps } = await import("../service/deps.ts");
    const { loadConfig } = await import("../service/config.ts");
    const config = loadConfig({
      DATABASE_PATH: ":memory:",
      SEED_ON_EMPTY: "false",
      ADMIN_TOKEN,
      EMBEDDER: "hash",
      EMBED_CACHE_SIZE: "100",
    });
    const metrics = new Metrics({ processMetrics: false });
    const deps = await buildDeps(config, createLogger("silent"), { metrics });
    const app = createApp(deps);
    const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
    const lines = TOPICS.poetry.map((t) => JSON.stringify({ text: t, scores: { poet: 0.9 } })).join("\n");
    await app.request("/admin/import", {
      method: "POST",
      headers: { ...auth, "content-type": "application/x-ndjson" },
      body: lines,
    });
    await app.request("/admin/import", {
      method: "POST",
      headers: { ...auth, "content-type": "text/csv" },
      body: "x",
    });
    await app.request("/admin/targets/poet", {
      method: "PUT",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ input_price_per_mtok: 1, output_price_per_mtok: 1 }),
    });
    const rank = (body: unknown) =>
      app.request("/rank", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    await rank({ query: "a poem about the sea", objective: { max_price: 5 } });
    await rank({ query: "a poem about the sea" });
    const text = await metrics.registry.metrics();
    expect(text).toContain('router_rank_recommended_total{target="poet"} 1');
    expect(text).toContain('router_imports_total{result="ok"} 1');
    expect(text).toContain('router_imports_total{result="rejected"} 1');
    expect(text).toContain("router_imported_examples_total 3");
    // The import embedded three texts (misses); the same query twice is one miss, then a hit.
    expect(text).toContain('router_embedding_cache_lookups_total{result="miss"} 4');
    expect(text).toContain('router_embedding_cache_lookups_total{result="hit"} 1');
    expect(text).not.toContain("router_process_cpu");
    await deps.close();

    // A fallback: the only example is far from the query and the floor is high.
    const { writeFileSync, mkdtempSync } = await import("node:fs");
    const { join } = await import("node:path");
    const { tmpdir } = await import("node:os");
    const settings = join(mkdtempSync(join(tmpdir(), "router-metrics-")), "routing.json");
    writeFileSync(
      settings,
      JSON.stringify({ k: 5, power: 1, shrinkage: 0, prior: "overall", minSimilarity: 0.99 }),
    );
    const far = await startService({ ROUTING_SETTINGS: settings });
    await far.addExamples([example("sort a python list", { coder: 1 })]);
    await far.rank({ query: "a poem about the moon" });
    expect(await (await far.request("GET", "/metrics")).text()).toContain("router_rank_fallbacks_total 1");
    await far.close();
  });

  it("sits behind METRICS_TOKEN when it is set", async () => {
    const token = "metrics-token-0123456789";
    const svc = await startService({ METRICS_TOKEN: token });
    const none = await svc.request("GET", "/metrics");
    expect(none.status).toBe(401);
    expect(((await none.json()) as { error: { code: string } }).error.code).toBe("UNAUTHORIZED");
    const ok = await svc.request("GET", "/metrics", undefined, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(ok.status).toBe(200);
    // The admin token reads them too (the console's Traffic page sends it); any other token does not.
    expect((await svc.request("GET", "/metrics", undefined, { admin: true })).status).toBe(200);
    const wrong = await svc.request("GET", "/metrics", undefined, {
      headers: { authorization: `Bearer ${token}x` },
    });
    expect(wrong.status).toBe(401);
    await svc.close();
  });
});

describe("Server-Timing", () => {
  it("/rank sends its stages", async () => {
    const svc = await startService();
    await svc.addExamples([example("sort a python list", { coder: 1 })]);
    const res = await svc.request("POST", "/rank", { query: "sort a list" });
    const header = res.headers.get("server-timing") ?? "";
    for (const stage of ["embed", "search", "scores", "aggregate"])
      expect(header).toMatch(new RegExp(`${stage};dur=[\\d.]+`));
    expect((await svc.request("GET", "/healthz")).headers.get("server-timing")).toBeNull();
    await svc.close();
  });
});

describe("logs", () => {
  const capture = async () => {
    const embedder = new SwitchableEmbedder(new HashEmbedder(64));
    const svc = await startService({}, { embedder });
    const lines: string[] = [];
    const logger = createLogger("debug", (l) => lines.push(l));
    const app = createApp({ ...svc.deps, logger });
    const entries = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    return { svc, app, lines, entries, logger, embedder };
  };

  it("writes one access line at info per request, with the route and never the body", async () => {
    const { svc, app, entries, lines } = await capture();
    const res = await app.request("/rank", {
      method: "POST",
      body: JSON.stringify({ query: "secret prompt text" }),
    });
    const id = res.headers.get("x-request-id");
    const access = entries().filter((e) => e.message === "request");
    expect(access).toHaveLength(1);
    expect(access[0]).toMatchObject({
      level: "info",
      method: "POST",
      route: "/rank",
      status: 200,
      requestId: id,
    });
    expect(typeof access[0]?.ms).toBe("number");
    expect(lines.join("")).not.toContain("secret prompt text");
    await svc.close();
  });

  it("carries the request id on every line the request caused, domain lines too", async () => {
    const { svc, app, entries, embedder } = await capture();
    embedder.failing = true;
    const res = await app.request("/rank", {
      method: "POST",
      headers: { "content-type": "application/json", "x-request-id": "req-abc-123" },
      body: JSON.stringify({ query: "anything" }),
    });
    expect(res.status).toBe(503);
    expect(res.headers.get("x-request-id")).toBe("req-abc-123");
    const mine = entries().filter((e) => e.requestId === "req-abc-123");
    expect(mine.map((e) => e.message)).toEqual(["request failed", "request"]);
    expect(entries().every((e) => e.requestId === "req-abc-123")).toBe(true);
    await svc.close();
  });

  it("lines logged by domain code while serving a request carry its id", async () => {
    const { svc, entries, logger } = await capture();
    // Domain code logs through the root logger, as the services do.
    const deps = { ...svc.deps, logger };
    const { Hono } = await import("hono");
    const probe = new Hono().post("/probe", (c) => {
      deps.logger.warn("from the domain");
      return c.text("ok");
    });
    const { requestLog } = await import("../service/http/request-log.ts");
    const { requestId } = await import("hono/request-id");
    const wrapped = new Hono().use(requestId()).use(requestLog(deps)).route("/", probe);
    await wrapped.request("/probe", { method: "POST", headers: { "x-request-id": "domain-1" } });
    expect(entries().find((e) => e.message === "from the domain")).toMatchObject({ requestId: "domain-1" });
    await svc.close();
  });

  it("keeps and echoes an incoming traceparent; ignores a malformed one", async () => {
    const { svc, app, entries } = await capture();
    const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const res = await app.request("/healthz", { headers: { traceparent: tp } });
    expect(res.headers.get("traceparent")).toBe(tp);
    expect(entries().at(-1)).toMatchObject({ traceId: "4bf92f3577b34da6a3ce929d0e0e4736", traceparent: tp });
    const bad = await app.request("/healthz", { headers: { traceparent: "00-zz-00-01" } });
    expect(bad.headers.get("traceparent")).toBeNull();
    expect(entries().at(-1)).not.toHaveProperty("traceId");
    await svc.close();
  });

  it("redacts the Authorization header and tokens wherever they are logged", () => {
    const lines: string[] = [];
    const logger = createLogger("info", (l) => lines.push(l));
    logger.info("outgoing", { headers: { authorization: "Bearer s3cret-token" }, token: "s3cret-token" });
    logger
      .child({ requestId: "r" })
      .info("nested", { req: { headers: { authorization: "Bearer s3cret-token" } } });
    expect(lines.join("")).not.toContain("s3cret");
    expect(lines.join("")).toContain("[redacted]");
  });
});
