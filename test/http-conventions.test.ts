import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../service/config.ts";
import { type ErrorBody, example, startService, type TestService } from "./support/harness.ts";

const ORIGIN = "https://app.example.com";

/** No header of `res` is sent empty. */
function expectNoEmptyHeaders(res: Response): void {
  for (const [name, value] of res.headers) expect(value.trim(), `${name} is empty`).not.toBe("");
}

describe("HTTP conventions", () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startService();
    await svc.addExamples([example("a question about python code", { big: 0.9, small: 0.4 })]);
  });
  afterAll(() => svc.close());

  it("answers a known path asked with another method 405 with Allow, and an unknown path 404", async () => {
    const get = await svc.request("GET", "/rank");
    expect(get.status).toBe(405);
    expect(get.headers.get("allow")).toBe("POST");
    expect(((await get.json()) as ErrorBody).error.code).toBe("METHOD_NOT_ALLOWED");
    const put = await svc.request("PUT", "/healthz");
    expect(put.status).toBe(405);
    expect(put.headers.get("allow")).toBe("GET, HEAD");
    const example = await svc.request("POST", "/admin/examples/some-id", {}, { admin: true });
    expect(example.status).toBe(405);
    expect(example.headers.get("allow")?.split(", ").sort()).toEqual([
      "DELETE",
      "GET",
      "HEAD",
      "PATCH",
      "PUT",
    ]);
    const unknown = await svc.request("GET", "/nope");
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get("allow")).toBeNull();
  });

  it("answers GET / with an index of where to go: JSON, or a page for a browser", async () => {
    const json = await svc.request("GET", "/");
    expect(json.status).toBe(200);
    const body = (await json.json()) as { links: Record<string, { href: string }> };
    expect(Object.values(body.links).map((l) => l.href)).toEqual(
      expect.arrayContaining(["/console", "/docs", "/openapi.json"]),
    );
    const page = await svc.request("GET", "/", undefined, { headers: { accept: "text/html" } });
    expect(page.headers.get("content-type")).toMatch(/text\/html/);
    const html = await page.text();
    for (const href of ["/console", "/docs", "/openapi.json"]) expect(html).toContain(`href="${href}"`);
    // knn-router's route on the same path still answers.
    const knn = await svc.request("POST", "/", { query: "python code" });
    expect(knn.status).toBe(200);
  });

  it("sends no empty header, on answers and refusals alike", async () => {
    const responses = await Promise.all([
      svc.request("POST", "/rank", { query: "python code" }),
      svc.request("POST", "/rank", { query: "" }),
      svc.request("GET", "/rank"),
      svc.request("GET", "/nope"),
      svc.request("OPTIONS", "/rank"),
      svc.request("POST", "/", { query: "python code" }),
      svc.request("GET", "/"),
      svc.request("GET", "/healthz"),
    ]);
    for (const res of responses) expectNoEmptyHeaders(res);
    expect(responses[0]?.headers.get("server-timing")).toMatch(/embed;dur=/);
  });

  it("sends a content security policy, no framing and no sniffing with the console and /docs", async () => {
    for (const path of ["/console", "/console/app.js", "/docs", "/docs/init.js"]) {
      const res = await svc.request("GET", path);
      expect(res.status, path).toBe(200);
      const csp = res.headers.get("content-security-policy") ?? "";
      expect(csp, path).toContain("default-src 'self'");
      expect(csp, path).toContain("frame-ancestors 'none'");
      expect(res.headers.get("x-frame-options"), path).toBe("DENY");
      expect(res.headers.get("x-content-type-options"), path).toBe("nosniff");
    }
    // The console's import map is the one inline script, allowed by its hash.
    const csp = (await svc.request("GET", "/console")).headers.get("content-security-policy") ?? "";
    expect(csp).toMatch(/script-src 'self' 'sha256-[A-Za-z0-9+/=]+'/);
  });

  it("has CORS off by default", async () => {
    const pre = await svc.request("OPTIONS", "/rank", undefined, {
      headers: { origin: ORIGIN, "access-control-request-method": "POST" },
    });
    expect(pre.headers.get("access-control-allow-origin")).toBeNull();
    const post = await svc.request(
      "POST",
      "/rank",
      { query: "python code" },
      { headers: { origin: ORIGIN } },
    );
    expect(post.headers.get("access-control-allow-origin")).toBeNull();
  });
});

describe("CORS by configuration (CORS_ORIGINS)", () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startService({ CORS_ORIGINS: `${ORIGIN},https://other.example.com` });
  });
  afterAll(() => svc.close());

  it("answers a preflight from a listed origin, before auth, and lets the browser read the useful headers", async () => {
    const pre = await svc.request("OPTIONS", "/admin/examples", undefined, {
      headers: {
        origin: ORIGIN,
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type",
      },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get("access-control-allow-origin")).toBe(ORIGIN);
    expect(pre.headers.get("access-control-allow-headers")?.toLowerCase()).toContain("authorization");
    const post = await svc.request("POST", "/rank", { query: "hello" }, { headers: { origin: ORIGIN } });
    expect(post.headers.get("access-control-allow-origin")).toBe(ORIGIN);
    expect(post.headers.get("access-control-expose-headers")).toContain("X-Request-Id");
  });

  it("gives an origin it does not list nothing to read", async () => {
    const post = await svc.request(
      "POST",
      "/rank",
      { query: "hello" },
      { headers: { origin: "https://evil.example.com" } },
    );
    expect(post.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("refuses a malformed CORS_ORIGINS at start, naming it", () => {
    expect(() => loadConfig({ CORS_ORIGINS: "app.example.com" })).toThrow(ConfigError);
    expect(() => loadConfig({ CORS_ORIGINS: "app.example.com" })).toThrow(/CORS_ORIGINS/);
  });
});
