import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seedOverHttp } from "../service/cli/seed.ts";
import { ADMIN_TOKEN, startService, type TestService } from "./support/harness.ts";

describe("npm run seed -- --url (over real HTTP)", () => {
  let svc: TestService;
  let server: ReturnType<typeof serve>;
  let url: string;
  beforeAll(async () => {
    svc = await startService();
    server = serve({ fetch: svc.app.fetch, port: 0, hostname: "127.0.0.1" });
    await new Promise((r) => server.once("listening", r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.close();
    await svc.close();
  });

  it("loads seed-data/ through the admin API, and a second run changes nothing", async () => {
    const first = await seedOverHttp({ url, token: ADMIN_TOKEN, dir: "seed-data" });
    expect(first.examples).toBeGreaterThanOrEqual(300);
    const count = svc.deps.stores.examples.countExamples();
    expect(count).toBe(first.examples);
    expect(svc.deps.stores.targets.getTarget("gpt-4o")).toMatchObject({
      inputPricePerMtok: 2.5,
      outputPricePerMtok: 10,
    });
    await seedOverHttp({ url, token: ADMIN_TOKEN, dir: "seed-data" });
    expect(svc.deps.stores.examples.countExamples()).toBe(count);
  });

  it("fails with the service's own error when the token is wrong", async () => {
    await expect(seedOverHttp({ url, token: "not-the-token-at-all", dir: "seed-data" })).rejects.toThrow(
      /UNAUTHORIZED: missing or wrong admin token/,
    );
  });
});
