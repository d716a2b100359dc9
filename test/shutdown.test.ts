import { Agent, request } from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChildServer } from "./support/child-server.ts";
import { FakeTei } from "./support/fake-tei.ts";
import { tempDir } from "./support/harness.ts";

/** One POST /rank on `agent`'s connection; resolves to status and headers, or rejects on a reset. */
function rank(url: string, agent: Agent): Promise<{ status: number; connection: string | undefined }> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ query: "a slow query" });
    const req = request(
      `${url}/rank`,
      {
        method: "POST",
        agent,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

describe("SIGTERM: drain, then exit", () => {
  let tei: FakeTei;
  let tmp: ReturnType<typeof tempDir>;
  beforeAll(async () => {
    tei = await new FakeTei(16).start();
    tmp = tempDir();
  });
  afterAll(async () => {
    await tei.stop();
    tmp.remove();
  });

  const env = (name: string, extra: Record<string, string> = {}) => ({
    DATABASE_PATH: join(tmp.dir, `${name}.db`),
    SEED_ON_EMPTY: "false",
    TUNING: "off",
    EMBEDDER: "huggingface",
    HF_ENDPOINT_URL: `${tei.url}/embed`,
    EMBED_CACHE_SIZE: "0",
    EMBED_RETRIES: "0",
    ...extra,
  });

  it("answers the request in flight, closes idle keep-alive connections, refuses nothing already accepted, and exits 0", async () => {
    const server = await ChildServer.start(env("graceful"));
    const busy = new Agent({ keepAlive: true, maxSockets: 1 });
    const idle = new Agent({ keepAlive: true, maxSockets: 1 });
    expect((await rank(server.url, idle)).status).toBe(200);
    tei.fault = { delayMs: 800, times: 1 };
    const inFlight = rank(server.url, busy);
    await new Promise((r) => setTimeout(r, 200));
    const started = Date.now();
    server.kill("SIGTERM");
    const answered = await inFlight;
    expect(answered).toEqual({ status: 200, connection: "close" });
    expect(await server.exit()).toBe(0);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(server.lines.some((l) => l.includes("shutting down: draining"))).toBe(true);
    busy.destroy();
    idle.destroy();
  }, 40_000);

  it("cuts what is still open when the grace period ends, and exits non-zero", async () => {
    const server = await ChildServer.start(
      env("forced", { SHUTDOWN_GRACE_MS: "300", EMBED_TIMEOUT_MS: "20000" }),
    );
    tei.fault = { delayMs: 5_000, times: 1 };
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const inFlight = rank(server.url, agent).catch((err: Error) => err);
    await new Promise((r) => setTimeout(r, 200));
    const started = Date.now();
    server.kill("SIGTERM");
    expect(await server.exit()).toBe(1);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(await inFlight).toBeInstanceOf(Error);
    expect(server.lines.some((l) => l.includes("grace period over"))).toBe(true);
    agent.destroy();
  }, 40_000);
});

describe("while draining", () => {
  it("refuses new requests with 503 NOT_READY and Retry-After, closing the connection", async () => {
    const { startService } = await import("./support/harness.ts");
    const svc = await startService();
    svc.deps.lifecycle.draining = true;
    const res = await svc.request("GET", "/readyz");
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("1");
    expect(res.headers.get("connection")).toBe("close");
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("NOT_READY");
    await svc.close();
  });
});
