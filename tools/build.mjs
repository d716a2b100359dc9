// npm run build: compiles service/ to dist/ (tsconfig.build.json), then copies what the compiler
// does not emit: the worker scripts (plain JavaScript) and the console's files. Migrations and the
// seed data are read from the package root, beside dist/.
import { execFileSync } from "node:child_process";
import { cpSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";

const { values } = parseArgs({ options: { out: { type: "string", default: "dist" } } });
const out = values.out;
rmSync(out, { recursive: true, force: true });
const tsc = join("node_modules", "typescript", "bin", "tsc");
execFileSync(
  process.execPath,
  [tsc, "-p", "tsconfig.build.json", "--outDir", out, "--tsBuildInfoFile", join(out, ".tsbuildinfo")],
  {
    stdio: "inherit",
  },
);
for (const dir of ["embedding", "tuning", "store"]) {
  for (const file of readdirSync(join("service", dir)).filter((f) => f.endsWith(".mjs"))) {
    cpSync(join("service", dir, file), join(out, dir, file));
  }
}
cpSync(join("service", "console"), join(out, "console"), { recursive: true });
process.stdout.write(`built ${out}/\n`);
