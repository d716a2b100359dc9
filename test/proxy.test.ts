import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../service/app.ts";
import type { ReplicaRunning } from "../service/replica.ts";
import { QdrantStandIn } from "../tools/qdrant-stand-in/server.ts";
import { serveLocal } from "./support/browser.ts";
import {
  ADMIN_TOKEN,
  startReplica,
  startService,
  type TestService,
  TOPICS,
  tempDir,
} from "./support/harness.ts";
import { freePort } from "./support/local-server.ts";

function nginxBinary(): string | undefined {
  for (const candidate of ["nginx", "/usr/sbin/nginx"]) {
    try {
      execFileSync(candidate, ["-v"], { stdio: "ignore" });
      return candidate;
    } catch {
      // next
    }
  }
  return undefined;
}
const nginx = nginxBinary();
const note = nginx ? "" : " (skipped: no nginx; apt-get install nginx-light)";

/**
 * The compose stack's proxy configuration (deploy/nginx.conf.template), run by Debian's nginx on
 * the loopback in front of a primary and a replica: admin calls reach the primary, the rest the
 * replica.
 */
describe.skipIf(!nginx)(`the proxy in front of a primary and a replica${note}`, () => {
  let qdrant: QdrantStandIn;
  let primary: TestService;
  let replica: ReplicaRunning;
  const servers: Array<{ close: () => Promise<void> }> = [];
  let proxy: ChildProcess;
  let url: string;
  let tmp: ReturnType<typeof tempDir>;

  beforeAll(async () => {
    tmp = tempDir();
    qdrant = await new QdrantStandIn().start();
    const shared = { QDRANT_URL: qdrant.url, VECTOR_STORE: "qdrant", QDRANT_COLLECTION: "proxied" };
    primary = await startService({ ...shared, DATABASE_PATH: join(tmp.dir, "router.db") });
    replica = await startReplica(shared);
    const p = await serveLocal(primary.app.fetch);
    const r = await serveLocal(createApp(replica).fetch);
    servers.push(p, r);

    const port = await freePort();
    // As the image's envsubst fills the template in: `${NAME}` from these values, nothing else.
    const values: Record<string, string> = {
      PRIMARY_UPSTREAM: new URL(p.url).host,
      REPLICA_UPSTREAM: new URL(r.url).host,
      RESOLVER: "127.0.0.1",
      PROXY_PORT: `127.0.0.1:${port}`,
    };
    const site = readFileSync("deploy/nginx.conf.template", "utf8").replace(
      /\$\{([A-Z_]+)\}/g,
      (whole, name: string) => values[name] ?? whole,
    );
    writeFileSync(join(tmp.dir, "site.conf"), site);
    // What the nginx image wraps a templated site in, trimmed to run unprivileged in a folder.
    writeFileSync(
      join(tmp.dir, "nginx.conf"),
      `pid ${tmp.dir}/nginx.pid;\nerror_log ${tmp.dir}/error.log;\nevents {}\nhttp {\n  access_log off;\n` +
        `  client_body_temp_path ${tmp.dir}/body;\n  proxy_temp_path ${tmp.dir}/proxy;\n  include ${tmp.dir}/site.conf;\n}\n`,
    );
    execFileSync(nginx as string, ["-t", "-q", "-p", tmp.dir, "-c", join(tmp.dir, "nginx.conf")]);
    proxy = spawn(nginx as string, ["-p", tmp.dir, "-c", join(tmp.dir, "nginx.conf"), "-g", "daemon off;"], {
      stdio: "ignore",
    });
    url = `http://127.0.0.1:${port}`;
    for (let i = 0; i < 100; i++) {
      const up = await fetch(`${url}/healthz`).then(
        (res) => res.ok,
        () => false,
      );
      if (up) break;
      await new Promise((res) => setTimeout(res, 50));
    }
  }, 60_000);

  afterAll(async () => {
    proxy?.kill("SIGTERM");
    for (const s of servers) await s.close();
    await replica?.close();
    await primary?.close();
    await qdrant.stop();
    tmp?.remove();
  });

  it("sends /admin/* to the primary and /rank to the replica", async () => {
    const add = await fetch(`${url}/admin/examples`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN_TOKEN}` },
      body: JSON.stringify({
        examples: TOPICS.code.map((text, i) => ({ id: `c${i}`, text, scores: { big: 0.9 } })),
      }),
    });
    expect(add.status).toBe(201);
    await primary.deps.publisher?.publishNow();
    await replica.follower.pollNow();
    // /readyz through the proxy is the replica's: it reports its routing document.
    const ready = (await (await fetch(`${url}/readyz`)).json()) as { document?: { version: number } };
    expect(ready.document?.version).toBe(primary.deps.publisher?.published);
    const ranked = await fetch(`${url}/rank`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: TOPICS.code[0], k: 1 }),
    });
    expect(ranked.status).toBe(200);
    expect(((await ranked.json()) as { hits: Array<{ id: string }> }).hits[0]?.id).toBe("c0");
    const settings = await fetch(`${url}/admin/settings`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(settings.status).toBe(200);
    // /feedback reaches the primary (a replica has no such route): feedback is off there, so 503.
    const outcome = await fetch(`${url}/feedback`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ranking_id: "r", target: "big", score: 1 }),
    });
    expect(outcome.status).toBe(503);
    expect(((await outcome.json()) as { error: { code: string } }).error.code).toBe("FEEDBACK_DISABLED");
    // The hand-over of a replica's rankings is not served through the proxy at all: replicas reach
    // the primary directly.
    const handOver = await fetch(`${url}/feedback/rankings`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN_TOKEN}` },
      body: JSON.stringify({ rankings: [] }),
    });
    expect(handOver.status).toBe(404);
    expect(((await handOver.json()) as { error: { code: string } }).error.code).toBe("NOT_FOUND");
  });
});
