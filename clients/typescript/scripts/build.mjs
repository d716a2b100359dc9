// `npm run prepare`: compiles src/ to dist/. npm runs it when the package is installed from this
// folder (`npm install <repository>/clients/typescript`) and when it is packed (`npm pack`). A folder
// install does not install the folder's own devDependencies, so the first build installs them here
// (TypeScript and the AI SDK's types, from the npm registry); the built package then resolves its
// dependency (openapi-fetch) from this folder too.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
if (!existsSync(tsc) || !existsSync(join(root, "node_modules", "openapi-fetch"))) {
  const npm = process.env.npm_execpath;
  const [command, args] = npm ? [process.execPath, [npm]] : ["npm", []];
  // The npm that runs this passes its own settings down (npm pack --dry-run's dry_run, an install's
  // omit=dev, --global...): none of them may reach this install; the registry and cache settings do.
  const inherited =
    /^npm_config_(dry_run|omit|include|production|only|global|prefix|location|save.*|package_lock.*|workspaces?|ignore_scripts|install_links)$/i;
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !inherited.test(k)));
  execFileSync(
    command,
    [...args, "install", "--ignore-scripts", "--no-audit", "--no-fund", "--no-package-lock"],
    { cwd: root, env, stdio: "inherit" },
  );
}
execFileSync(process.execPath, [tsc, "-p", "tsconfig.json"], { cwd: root, stdio: "inherit" });
