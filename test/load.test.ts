import { join } from "node:path";
import autocannon from "autocannon";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChildServer } from "./support/child-server.ts";
import { ADMIN_TOKEN, tempDir } from "./support/harness.ts";

/** A bounded load on the real server (loopback, 6 s): any 5xx, error or timeout fails it. */
describe("sustained load", () => {
  let server: ChildServer;
  let tmp: ReturnType<typeof tempDir>;
  beforeAll(async () => {
    tmp = tempDir();
    server = await ChildServer.start({
      DATABASE_PATH: join(tmp.dir, "load.db"),
      ADMIN_TOKEN,
      EMBEDDER: "hash",
      SEED_ON_EMPTY: "true",
      TUNING: "off",
    });
  }, 30_000);
  afterAll(async () => {
    server.kill("SIGTERM");
    expect(await server.exit()).toBe(0);
    tmp.remove();
  });

  it("answers 16 connections of unique queries, with writes alongside, without one error", async () => {
    let n = 0;
    const writes: number[] = [];
    const writing = (async () => {
      for (let i = 0; i < 10; i++) {
        await new Promise((r) => setTimeout(r, 500));
        const res = await fetch(`${server.url}/admin/examples`, {
          method: "POST",
          headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
          body: JSON.stringify({
            examples: [{ text: `written under load ${i}`, scores: { "gpt-4o": 0.7 } }],
          }),
        });
        writes.push(res.status);
      }
    })();
    const result = await autocannon({
      url: `${server.url}/rank`,
      connections: 16,
      duration: 6,
      requests: [
        {
          method: "POST",
          headers: { "content-type": "application/json" },
          setupRequest: (req) => ({
            ...req,
            body: JSON.stringify({ query: `unique query ${++n} about ${n % 13}` }),
          }),
        },
      ],
    });
    await writing;
    expect(result.errors).toBe(0);
    expect(result.timeouts).toBe(0);
    expect(result.non2xx).toBe(0);
    expect(result["5xx"]).toBe(0);
    expect(result.requests.total).toBeGreaterThan(1000);
    expect(writes).toEqual(Array(10).fill(201));
  }, 30_000);
});
