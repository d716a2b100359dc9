import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig, withDotEnv } from "../service/config.ts";
import { ChildServer } from "./support/child-server.ts";
import { tempDir } from "./support/harness.ts";

const ROOT = join(import.meta.dirname, "..");

describe(".env", () => {
  it("fills what the environment leaves unset; the environment wins", () => {
    const tmp = tempDir();
    const path = join(tmp.dir, ".env");
    writeFileSync(path, '# comment\nEMBEDDER=hash\nDEFAULT_K="7"\nADMIN_TOKEN=from-the-file-0123456789\n');
    const env = withDotEnv({ EMBEDDER: "local", PORT: "9999" }, path);
    const config = loadConfig(env);
    expect(config.embedder.kind).toBe("local");
    expect(config.rank.defaultK).toBe(7);
    expect(config.admin.token).toBe("from-the-file-0123456789");
    expect(config.server.port).toBe(9999);
    tmp.remove();
  });

  it("is optional: without a file the environment is read as it is", () => {
    const env = { EMBEDDER: "hash" };
    expect(withDotEnv(env, join(tempDir().dir, "missing.env"))).toBe(env);
  });

  it("is read by the service at start, from its working directory", async () => {
    const tmp = tempDir();
    const token = "dotenv-admin-token-0123456789";
    writeFileSync(join(tmp.dir, ".env"), `ADMIN_TOKEN=${token}\nEMBEDDER=hash\nSEED_ON_EMPTY=false\n`);
    const server = ChildServer.command(
      process.execPath,
      ["--import", import.meta.resolve("tsx"), join(ROOT, "service/main.ts")],
      { DATABASE_PATH: join(tmp.dir, "router.db") },
      tmp.dir,
    );
    try {
      await server.listening(60_000);
      const res = await fetch(`${server.url}/admin/targets`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(res.status).toBe(200);
      const wrong = await fetch(`${server.url}/admin/targets`, { headers: { authorization: "Bearer nope" } });
      expect(wrong.status).toBe(401);
      server.kill("SIGTERM");
      expect(await server.exit()).toBe(0);
    } finally {
      server.kill("SIGKILL");
      tmp.remove();
    }
  }, 90_000);
});
