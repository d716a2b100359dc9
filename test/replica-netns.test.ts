import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { QdrantStandIn } from "../tools/qdrant-stand-in/server.ts";
import { ChildServer } from "./support/child-server.ts";
import { ADMIN_TOKEN, TOPICS } from "./support/harness.ts";
import { call, until } from "./support/http.ts";

const tag = `kr${process.pid % 100_000}`;
const subnet = `10.${77 + (process.pid % 100)}.${process.pid % 250}`;
const NAMESPACES = { primary: `${tag}-p`, r1: `${tag}-r1`, r2: `${tag}-r2` } as const;
const ADDRESS = {
  host: `${subnet}.1`,
  primary: `${subnet}.10`,
  r1: `${subnet}.11`,
  r2: `${subnet}.12`,
} as const;
const BRIDGE = `${tag}b`;

const ip = (...args: string[]) => execFileSync("ip", args, { stdio: "pipe" });

/** Whether this process may create network namespaces (root, with iproute2). */
function canIsolate(): boolean {
  if (process.getuid?.() !== 0) return false;
  try {
    ip("netns", "add", `${tag}-probe`);
    ip("netns", "del", `${tag}-probe`);
    return true;
  } catch {
    return false;
  }
}
const isolated = canIsolate();
const note = isolated ? "" : " (skipped: needs root and `ip netns`, as CI has)";

/** A bridge in this namespace and one namespace per machine, each with an address on it. */
function network(): void {
  ip("link", "add", BRIDGE, "type", "bridge");
  ip("addr", "add", `${ADDRESS.host}/24`, "dev", BRIDGE);
  ip("link", "set", BRIDGE, "up");
  for (const [name, ns] of Object.entries(NAMESPACES)) {
    const host = `${tag}${name}h`;
    const inside = `${tag}${name}n`;
    ip("netns", "add", ns);
    ip("link", "add", host, "type", "veth", "peer", "name", inside);
    ip("link", "set", inside, "netns", ns);
    ip("link", "set", host, "master", BRIDGE);
    ip("link", "set", host, "up");
    ip(
      "netns",
      "exec",
      ns,
      "ip",
      "addr",
      "add",
      `${ADDRESS[name as keyof typeof NAMESPACES]}/24`,
      "dev",
      inside,
    );
    ip("netns", "exec", ns, "ip", "link", "set", inside, "up");
    ip("netns", "exec", ns, "ip", "link", "set", "lo", "up");
  }
}

function teardown(): void {
  for (const ns of Object.values(NAMESPACES)) {
    try {
      ip("netns", "del", ns);
    } catch {
      // not created
    }
  }
  try {
    ip("link", "del", BRIDGE);
  } catch {
    // not created
  }
}

const LOADER = pathToFileURL(join(process.cwd(), "node_modules/tsx/dist/loader.mjs")).href;
const MAIN = join(process.cwd(), "service/main.ts");

/**
 * Three machines in miniature: a primary and two replicas, each in a network namespace of its own
 * (reaching one another and Qdrant only through a bridge), and each replica in a mount namespace
 * where the primary's data folder is an empty tmpfs: a replica cannot read the primary's files, and
 * serves anyway.
 */
describe.skipIf(!isolated)(`a primary and two replicas on separate network namespaces${note}`, () => {
  let qdrant: QdrantStandIn;
  const dirs = { primary: "", r1: "", r2: "" };
  const procs: Partial<Record<keyof typeof NAMESPACES, ChildServer>> = {};
  const url = (name: keyof typeof NAMESPACES) => `http://${ADDRESS[name]}:8888`;

  const common = () => ({
    EMBEDDER: "hash",
    VECTOR_STORE: "qdrant",
    QDRANT_URL: qdrant.url,
    QDRANT_COLLECTION: "isolated",
    PORT: "8888",
    HOST: "0.0.0.0",
    REPLICA_POLL_MS: "200",
  });
  const startPrimary = () =>
    ChildServer.command(
      "ip",
      ["netns", "exec", NAMESPACES.primary, process.execPath, "--import", LOADER, MAIN],
      {
        ...common(),
        DATABASE_PATH: join(dirs.primary, "router.db"),
        ADMIN_TOKEN,
        SEED_ON_EMPTY: "false",
        TUNING: "off",
      },
      dirs.primary,
    );
  const startReplica = (name: "r1" | "r2") =>
    ChildServer.command(
      "ip",
      [
        "netns",
        "exec",
        NAMESPACES[name],
        "unshare",
        "--mount",
        "sh",
        "-c",
        'mount -t tmpfs none "$HIDE" && exec "$NODE" --import "$LOADER" "$MAIN"',
      ],
      { ...common(), ROLE: "replica", HIDE: dirs.primary, NODE: process.execPath, LOADER, MAIN },
      dirs[name],
    );

  beforeAll(async () => {
    teardown();
    network();
    for (const name of Object.keys(dirs) as Array<keyof typeof dirs>) {
      dirs[name] = mkdtempSync(join(tmpdir(), `${tag}-${name}-`));
    }
    qdrant = await new QdrantStandIn().start(0, ADDRESS.host);
    // The replicas first: before any document they must be live and not ready.
    procs.r1 = startReplica("r1");
    procs.r2 = startReplica("r2");
    await procs.r1.listening();
    await procs.r2.listening();
  }, 60_000);

  afterAll(async () => {
    for (const p of Object.values(procs)) p?.kill("SIGKILL");
    await Promise.all(Object.values(procs).map((p) => p?.exit()));
    await qdrant?.stop();
    teardown();
    for (const d of Object.values(dirs)) if (d) rmSync(d, { recursive: true, force: true });
  });

  it("hides the primary's folder from a replica's namespace", async () => {
    procs.primary = startPrimary();
    await procs.primary.listening();
    expect(readdirSync(dirs.primary)).toContain("router.db");
    const seen = execFileSync(
      "ip",
      [
        "netns",
        "exec",
        NAMESPACES.r1,
        "unshare",
        "--mount",
        "sh",
        "-c",
        `mount -t tmpfs none "${dirs.primary}" && ls -A "${dirs.primary}"`,
      ],
      { encoding: "utf8" },
    );
    expect(seen.trim()).toBe("");
  }, 60_000);

  it("serves from both replicas what the primary wrote, and survives its kill -9", async () => {
    for (const r of ["r1", "r2"] as const) expect((await call(url(r), "GET", "/readyz")).status).toBe(503);
    const examples = TOPICS.code.map((text, i) => ({
      id: `code-${i}`,
      text,
      scores: { big: 0.9, small: 0.1 },
    }));
    expect((await call(url("primary"), "POST", "/admin/examples", { examples }, true)).status).toBe(201);
    for (const r of ["r1", "r2"] as const) {
      await until(async () => (await call(url(r), "GET", "/readyz")).status === 200);
      // The write's points are there at once; its targets come with the next document (one poll).
      await until(async () => {
        const ranked = await call(url(r), "POST", "/rank", { query: TOPICS.code[1], k: 1 });
        return ranked.body.hits[0]?.id === "code-1" && ranked.body.scores[0]?.target === "big";
      });
    }
    (procs.primary as ChildServer).kill("SIGKILL");
    await (procs.primary as ChildServer).exit();
    for (const r of ["r1", "r2"] as const) {
      expect((await call(url(r), "POST", "/rank", { query: TOPICS.code[2] })).status).toBe(200);
      expect((await call(url(r), "GET", "/readyz")).status).toBe(200);
      // Nothing written where the replica runs: it holds no state.
      expect(readdirSync(dirs[r])).toEqual([]);
    }
    expect(qdrant.violations).toEqual([]);
  }, 60_000);
});
