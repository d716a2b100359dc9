import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";

/**
 * What can be checked of the compose stack's documented steps on a machine without a Docker engine:
 * every `docker compose` command in the docs names services the compose files define, the re-embed
 * steps stop the primary, run the compiled command as a one-off container and start it again, and
 * the primary's restarts are bounded. (CI also validates the files with docker-compose itself.)
 */
const ROOT = resolve(import.meta.dirname, "..");

function services(...files: string[]): Record<string, { restart?: string; command?: unknown }> {
  const merged: Record<string, Record<string, unknown>> = {};
  for (const file of files) {
    const doc = parse(readFileSync(join(ROOT, file), "utf8"), { merge: true }) as {
      services: Record<string, Record<string, unknown>>;
    };
    for (const [name, service] of Object.entries(doc.services))
      merged[name] = { ...merged[name], ...service };
  }
  return merged;
}

/** Every `docker compose …` command in the Markdown docs, line continuations joined. */
function composeCommands(): Array<{ file: string; command: string }> {
  const files = [
    "README.md",
    ...readdirSync(join(ROOT, "docs"))
      .filter((f) => f.endsWith(".md"))
      .map((f) => `docs/${f}`),
  ];
  return files.flatMap((file) =>
    [...readFileSync(join(ROOT, file), "utf8").matchAll(/```(?:sh|bash)\n([\s\S]*?)```/g)].flatMap((block) =>
      (block[1] as string)
        .replace(/\\\n\s*/g, " ")
        .split("\n")
        .map((line) => line.replace(/#.*$/, "").trim())
        .filter((line) => /\bdocker compose\b/.test(line))
        .map((command) => ({ file, command })),
    ),
  );
}

/** The service names a compose command acts on. */
function named(command: string): string[] {
  const args = command
    .slice(command.indexOf("docker compose") + "docker compose".length)
    .trim()
    .split(/\s+/);
  const out: string[] = [];
  let verb: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === "-f") {
      i++;
      continue;
    }
    if (a === "--scale") {
      out.push((args[++i] as string).split("=")[0] as string);
      continue;
    }
    if (a.startsWith("-")) continue;
    if (!verb) {
      verb = a;
      continue;
    }
    // run and exec take one service, then its command.
    out.push(a);
    if (verb === "run" || verb === "exec") break;
  }
  return out;
}

describe("the compose stack's documented steps", () => {
  const stack = services("docker-compose.yml");
  const multilingual = services("docker-compose.yml", "docker-compose.multilingual.yml");

  it("name only services the compose files define", () => {
    const commands = composeCommands();
    expect(commands.length).toBeGreaterThanOrEqual(4);
    for (const { file, command } of commands) {
      for (const name of named(command)) {
        expect(Object.keys(multilingual), `${file}: ${command}`).toContain(name);
      }
    }
  });

  it("re-embed with the primary stopped, as a one-off container running the compiled command, then start it", () => {
    const steps = composeCommands()
      .filter((c) => c.file === "docs/deployment.md")
      .map((c) => c.command.replace(/^ADMIN_TOKEN=\S+\s+/, ""));
    const stop = steps.findIndex((c) => /docker compose stop primary$/.test(c));
    const run = steps.findIndex((c) => / run --rm primary node dist\/cli\/reindex\.js$/.test(c));
    const start = steps.findIndex((c) => / up -d primary$/.test(c));
    expect(stop).toBeGreaterThanOrEqual(0);
    expect(run).toBeGreaterThan(stop);
    expect(start).toBeGreaterThan(run);
  });

  it("restart the primary a bounded number of times: a start-up error does not loop", () => {
    expect(stack.primary?.restart).toMatch(/^on-failure:\d+$/);
    expect(multilingual.primary?.restart).toMatch(/^on-failure:\d+$/);
  });

  it("build the image with npm run build and run dist/ from it (where dist/cli/reindex.js comes from)", () => {
    const dockerfile = readFileSync(join(ROOT, "Dockerfile"), "utf8");
    expect(dockerfile).toMatch(/RUN npm run build/);
    expect(dockerfile).toMatch(/COPY --from=build \/app\/dist \.\/dist/);
    expect(readFileSync(join(ROOT, "tools", "build.mjs"), "utf8")).toContain("tsconfig.build.json");
    const build = JSON.parse(readFileSync(join(ROOT, "tsconfig.build.json"), "utf8")) as {
      include?: string[];
    };
    expect(build.include?.some((p) => p.startsWith("service"))).toBe(true);
  });
});
