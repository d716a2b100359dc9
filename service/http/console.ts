import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { pageFilesRoute, pageRoute, router } from "./openapi.ts";
import { pageSecurity } from "./page-security.ts";

const JS = "text/javascript; charset=utf-8";
const CSS = "text/css; charset=utf-8";

/**
 * Every file the console loads: its own (`service/console/`) and its libraries, read from the
 * installed packages. Nothing comes from another host, and no build step is needed.
 */
const ASSETS = {
  "app.js": { type: JS, from: "console", path: "app.js" },
  "api.js": { type: JS, from: "console", path: "api.js" },
  "metrics.js": { type: JS, from: "console", path: "metrics.js" },
  "console.css": { type: CSS, from: "console", path: "console.css" },
  "preact.js": { type: JS, from: "preact", path: "dist/preact.module.js" },
  "hooks.js": { type: JS, from: "preact", path: "hooks/dist/hooks.module.js" },
  "htm.js": { type: JS, from: "htm", path: "dist/htm.module.js" },
  "uplot.js": { type: JS, from: "uplot", path: "dist/uPlot.iife.min.js" },
  "uplot.css": { type: CSS, from: "uplot", path: "dist/uPlot.min.css" },
} as const;
type Asset = keyof typeof ASSETS;

const consoleDir = join(dirname(fileURLToPath(import.meta.url)), "..", "console");

function assetPath(file: Asset): string {
  const a = ASSETS[file];
  if (a.from === "console") return join(consoleDir, a.path);
  // The package's folder from its entry point (not every package exports its package.json).
  const entry = createRequire(import.meta.url).resolve(a.from);
  const root = `${sep}node_modules${sep}${a.from}${sep}`;
  return join(entry.slice(0, entry.lastIndexOf(root) + root.length), a.path);
}

const page = pageRoute(
  "/console",
  "The operator console: playground, examples, targets, routing quality, traffic",
);

const asset = pageFilesRoute(
  "/console",
  Object.keys(ASSETS) as Asset[],
  "The console's own scripts and styles, and its libraries' (from the installed packages)",
);

/** GET /console and its assets. Files are read once, on first use. */
export function consoleRoutes() {
  const cache = new Map<Asset | "index.html", string>();
  const read = (key: Asset | "index.html", path: string) => {
    let body = cache.get(key);
    if (body === undefined) {
      body = readFileSync(path, "utf8");
      cache.set(key, body);
    }
    return body;
  };
  const index = read("index.html", join(consoleDir, "index.html"));
  // The page's one inline script is its import map, allowed by its hash.
  const importMap = /<script type="importmap">([\s\S]*?)<\/script>/.exec(index)?.[1];
  const security = pageSecurity(importMap === undefined ? [] : [importMap]);
  const routes = router();
  routes.use("/console", security).use("/console/*", security);
  return routes
    .openapi(page, (c) => {
      c.header("cache-control", "no-cache");
      return c.html(index, 200);
    })
    .openapi(asset, (c) => {
      const { file } = c.req.valid("param");
      c.header("content-type", ASSETS[file].type);
      // Revalidated each load: the files change with the service, and are small.
      c.header("cache-control", "no-cache");
      return c.body(read(file, assetPath(file)), 200);
    });
}
