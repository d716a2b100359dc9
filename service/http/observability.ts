import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { createRoute, z } from "@hono/zod-openapi";
import type { Deps } from "./context.ts";
import { errors, pageFilesRoute, pageRoute, router } from "./openapi.ts";
import { pageSecurity } from "./page-security.ts";

/** Swagger UI's files, served from the installed `swagger-ui-dist` package (never from a CDN), and its start. */
const DOCS_ASSETS = {
  "swagger-ui.css": "text/css; charset=utf-8",
  "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
  "init.js": "text/javascript; charset=utf-8",
} as const;

/** Starts Swagger UI: a file of its own, so the page's policy allows scripts from this origin only. */
// validatorUrl null: no badge fetched from another host.
const DOCS_INIT = `window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#ui", validatorUrl: null, deepLinking: true });\n`;
type DocsAsset = keyof typeof DOCS_ASSETS;

const DOCS_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<link rel="icon" href="data:,">
<title>knn-llm-router API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
<div id="ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
`;

const assetDir = () => dirname(createRequire(import.meta.url).resolve("swagger-ui-dist/package.json"));

const metrics = createRoute({
  operationId: "metrics",
  method: "get",
  path: "/metrics",
  tags: ["operations"],
  summary: "Prometheus metrics (text exposition format); behind METRICS_TOKEN when it is set",
  responses: {
    200: { description: "The metrics", content: { "text/plain": { schema: z.string() } } },
    ...errors(401),
  },
});

const docs = pageRoute("/docs", "The API reference, rendered from /openapi.json; works offline");

const docsAsset = pageFilesRoute(
  "/docs",
  Object.keys(DOCS_ASSETS) as DocsAsset[],
  "The reference page's own assets",
);

/** GET /metrics, GET /docs and its assets. */
export function operationsRoutes(deps: Deps) {
  const cache = new Map<DocsAsset, string>();
  const security = pageSecurity();
  const routes = router();
  routes.use("/docs", security).use("/docs/*", security);
  return routes
    .openapi(metrics, async (c) => {
      const { registry } = deps.metrics;
      return c.text(await registry.metrics(), 200, { "content-type": registry.contentType });
    })
    .openapi(docs, (c) => c.html(DOCS_PAGE, 200))
    .openapi(docsAsset, (c) => {
      const { file } = c.req.valid("param");
      let body = cache.get(file);
      if (body === undefined) {
        body = file === "init.js" ? DOCS_INIT : readFileSync(join(assetDir(), file), "utf8");
        cache.set(file, body);
      }
      c.header("content-type", DOCS_ASSETS[file]);
      c.header("cache-control", "public, max-age=86400");
      return c.body(body, 200);
    });
}
