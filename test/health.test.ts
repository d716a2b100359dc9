import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { HashEmbedder } from "../service/embedding/hash.ts";
import { SwitchableEmbedder, startService, type TestService } from "./support/harness.ts";

describe("health endpoints", () => {
  let svc: TestService;
  let embedder: SwitchableEmbedder;
  beforeEach(async () => {
    embedder = new SwitchableEmbedder(new HashEmbedder(64));
    svc = await startService({}, { embedder });
  });
  afterEach(() => svc.close());

  it("GET /healthz answers while the process runs, without auth", async () => {
    const res = await svc.request("GET", "/healthz");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ok" });
  });

  it("GET /readyz reports each dependency ready", async () => {
    const res = await svc.request("GET", "/readyz");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      status: "ready",
      checks: { database: { ok: true }, index: { ok: true }, embedder: { ok: true } },
    });
  });

  it("GET /readyz answers 503 naming the dependency that is down", async () => {
    embedder.failing = true;
    const res = await svc.request("GET", "/readyz");
    expect(res.status).toBe(503);
    const body = (await res.json()) as {
      status: string;
      checks: Record<string, { ok: boolean; message?: string }>;
    };
    expect(body.status).toBe("not_ready");
    expect(body.checks.embedder).toEqual({ ok: false, message: "embedding backend unreachable" });
    expect(body.checks.database).toEqual({ ok: true });
  });

  it("GET /readyz reports the database down once it is closed", async () => {
    await svc.deps.close();
    const res = await svc.request("GET", "/readyz");
    expect(res.status).toBe(503);
    const body = (await res.json()) as { checks: Record<string, { ok: boolean }> };
    expect(body.checks.database?.ok).toBe(false);
    svc = await startService();
  });
});
