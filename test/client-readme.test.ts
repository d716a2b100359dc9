import { execFile } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serveLocal } from "./support/browser.ts";
import { startService, type TestService } from "./support/harness.ts";

const ROOT = resolve(import.meta.dirname, "..");
const README = join(ROOT, "clients", "typescript", "README.md");
const DIR = join(ROOT, ".build-test", "client-readme");
const run = promisify(execFile);

/** The README's TypeScript snippets, in order. */
function snippets(): string[] {
  return [...readFileSync(README, "utf8").matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] as string);
}

/**
 * A project as a user's would be: `strict` on, the package's two entry points resolved to the
 * client's source (what its dist/ is built from), Node's types.
 */
function writeProject(): string[] {
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(DIR, { recursive: true });
  const files = snippets().map((code, i) => {
    const file = `snippet-${i + 1}.ts`;
    writeFileSync(join(DIR, file), code);
    return file;
  });
  const client = (f: string) => join(ROOT, "clients", "typescript", "src", f);
  writeFileSync(
    join(DIR, "tsconfig.json"),
    JSON.stringify(
      {
        compilerOptions: {
          strict: true,
          target: "ES2022",
          module: "ESNext",
          moduleResolution: "Bundler",
          lib: ["ES2023", "DOM"],
          types: ["node"],
          typeRoots: [join(ROOT, "node_modules", "@types")],
          noEmit: true,
          skipLibCheck: true,
          allowImportingTsExtensions: true,
          isolatedModules: true,
          paths: {
            "knn-llm-router-client": [client("index.ts")],
            "knn-llm-router-client/ai-sdk": [client("ai-sdk.ts")],
          },
        },
        files,
      },
      null,
      2,
    ),
  );
  return files;
}

describe("the TypeScript client's README", () => {
  let files: string[];
  let svc: TestService;
  let served: { url: string; close: () => Promise<void> };
  beforeAll(async () => {
    files = writeProject();
    svc = await startService();
    served = await serveLocal(svc.app.fetch);
    const added = await svc.addExamples([
      { text: "write a haiku about rain", scores: { "gpt-4o": 0.9, "gpt-4o-mini": 0.6 } },
      { text: "a short poem about a rainy morning", scores: { "gpt-4o": 0.85, "gpt-4o-mini": 0.55 } },
    ]);
    expect(added.status).toBe(201);
  });
  afterAll(async () => {
    await served?.close();
    await svc?.close();
  });

  it("has snippets for ranking, the AI SDK model and feedback", () => {
    expect(files).toHaveLength(3);
    expect(snippets()[1]).toContain("MockLanguageModelV4");
  });

  it("type-checks every snippet under strict", async () => {
    const tsc = join(ROOT, "node_modules", "typescript", "bin", "tsc");
    const checked = await run(process.execPath, [tsc, "-p", join(DIR, "tsconfig.json")], { cwd: DIR }).then(
      () => "",
      (err: { stdout: string }) => err.stdout,
    );
    expect(checked).toBe("");
  }, 60_000);

  it("runs the AI SDK snippet as it is: the router's first target answers", async () => {
    const { stdout } = await run(process.execPath, ["--import", "tsx", join(DIR, "snippet-2.ts")], {
      cwd: DIR,
      env: { ...process.env, ROUTER_URL: served.url, TSX_TSCONFIG_PATH: join(DIR, "tsconfig.json") },
      timeout: 30_000,
    });
    expect(stdout.trim().split("\n")).toEqual(["gpt-4o answered", "gpt-4o (ranked)"]);
  }, 40_000);

  it("runs the ranking snippet as it is", async () => {
    const { stdout } = await run(process.execPath, ["--import", "tsx", join(DIR, "snippet-1.ts")], {
      cwd: DIR,
      env: { ...process.env, ROUTER_URL: served.url, TSX_TSCONFIG_PATH: join(DIR, "tsconfig.json") },
      timeout: 30_000,
    });
    expect(stdout.trim()).toBe("gpt-4o 2 2 false");
  }, 40_000);
});
