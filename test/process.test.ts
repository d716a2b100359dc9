import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChildServer } from "./support/child-server.ts";
import { ADMIN_TOKEN, tempDir } from "./support/harness.ts";

const ROOT = join(import.meta.dirname, "..");

async function healthy(url: string): Promise<boolean> {
  try {
    return (await fetch(`${url}/healthz`)).ok;
  } catch {
    return false;
  }
}

describe("npm start is the process that gets the signal", () => {
  it.each(["SIGTERM", "SIGINT"] as const)(
    "%s to the pid npm start created drains the service, exits 0 and leaves nothing serving",
    async (signal) => {
      const tmp = tempDir();
      const npm = process.platform === "win32" ? "npm.cmd" : "npm";
      const server = ChildServer.command(npm, ["start", "--silent"], {
        DATABASE_PATH: join(tmp.dir, "router.db"),
        SEED_ON_EMPTY: "false",
        EMBEDDER: "hash",
        HOME: process.env.HOME ?? tmp.dir,
      });
      try {
        await server.listening(60_000);
        expect(await healthy(server.url)).toBe(true);
        server.kill(signal);
        expect(await server.exit()).toBe(0);
        expect(server.lines.some((l) => l.includes("shutting down: draining") && l.includes(signal))).toBe(
          true,
        );
        expect(await healthy(server.url)).toBe(false);
      } finally {
        server.kill("SIGKILL");
        tmp.remove();
      }
    },
    90_000,
  );
});

describe("the build (npm run build)", () => {
  const out = ".build-test";
  beforeAll(() => {
    // Built beside the sources, as dist/ is: migrations and seed data are read from the package root.
    execFileSync(process.execPath, ["tools/build.mjs", "--out", out], { cwd: ROOT, stdio: "ignore" });
  }, 180_000);
  afterAll(() => rmSync(join(ROOT, out), { recursive: true, force: true }));

  it("runs on plain node, no TypeScript loader, and its tuning worker runs too", async () => {
    const tmp = tempDir();
    const server = ChildServer.command(process.execPath, [join(out, "main.js")], {
      DATABASE_PATH: join(tmp.dir, "router.db"),
      SEED_ON_EMPTY: "false",
      EMBEDDER: "hash",
      TUNING: "off",
      ADMIN_TOKEN,
    });
    try {
      await server.listening(60_000);
      const admin = { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" };
      const topics = ["python code", "french poetry", "tax law", "baking bread"];
      const examples = Array.from({ length: 60 }, (_, i) => ({
        text: `question ${i} about ${topics[i % 4]}`,
        scores: { big: i % 4 === 0 ? 0.9 : 0.3, small: i % 4 === 0 ? 0.2 : 0.8 },
      }));
      const added = await fetch(`${server.url}/admin/examples`, {
        method: "POST",
        headers: admin,
        body: JSON.stringify({ examples }),
      });
      expect(added.status).toBe(201);
      const tune = await fetch(`${server.url}/admin/settings/tune`, { method: "POST", headers: admin });
      expect(tune.status).toBe(202);
      let outcome: string | null = null;
      for (let i = 0; i < 300 && !outcome; i++) {
        const s = (await (await fetch(`${server.url}/admin/settings`, { headers: admin })).json()) as {
          last_run: { outcome: string | null; message: string | null } | null;
        };
        if (s.last_run?.outcome)
          outcome = `${s.last_run.outcome}${s.last_run.message ? `: ${s.last_run.message}` : ""}`;
        else await new Promise((r) => setTimeout(r, 100));
      }
      expect(outcome).toMatch(/^(replaced|kept)$/);
      const console = await fetch(`${server.url}/console`);
      expect(console.status).toBe(200);
      server.kill("SIGTERM");
      expect(await server.exit()).toBe(0);
    } finally {
      server.kill("SIGKILL");
      tmp.remove();
    }
  }, 90_000);

  it("re-embeds a database with the compiled dist/cli/reindex.js, as the image runs it", async () => {
    const tmp = tempDir();
    try {
      const env = {
        DATABASE_PATH: join(tmp.dir, "router.db"),
        SEED_ON_EMPTY: "false",
        EMBEDDER: "hash",
        HASH_EMBEDDER_DIMENSION: "64",
        TUNING: "off",
        ADMIN_TOKEN,
      };
      const server = ChildServer.command(process.execPath, [join(out, "main.js")], env);
      try {
        await server.listening(60_000);
        const added = await fetch(`${server.url}/admin/examples`, {
          method: "POST",
          headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
          body: JSON.stringify({
            examples: [
              { text: "a prompt", scores: { big: 0.5 } },
              { text: "another", scores: { big: 0.7 } },
            ],
          }),
        });
        expect(added.status).toBe(201);
        server.kill("SIGTERM");
        expect(await server.exit()).toBe(0);
      } finally {
        server.kill("SIGKILL");
      }
      // Another embedder now: the compiled command re-embeds both examples, on plain node.
      const reindex = ChildServer.command(process.execPath, [join(out, "cli", "reindex.js")], {
        ...env,
        HASH_EMBEDDER_DIMENSION: "32",
      });
      expect(await reindex.exit()).toBe(0);
      expect(reindex.lines.join("\n")).toContain(`"reembedded":2`);
    } finally {
      tmp.remove();
    }
  }, 90_000);
});
