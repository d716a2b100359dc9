import { createRoute, z } from "@hono/zod-openapi";
import { router } from "./openapi.ts";

const LINKS = {
  rank: { href: "/rank", title: "POST a prompt, get the targets ranked" },
  console: { href: "/console", title: "the operator console" },
  docs: { href: "/docs", title: "the API reference" },
  openapi: { href: "/openapi.json", title: "the OpenAPI document" },
  health: { href: "/readyz", title: "readiness" },
} as const;

const Home = z
  .object({
    name: z.string().describe("what answers here"),
    links: z
      .record(
        z.string(),
        z.object({
          href: z.string().describe("a path on this service"),
          title: z.string().describe("what is there"),
        }),
      )
      .describe("where to go next"),
  })
  .openapi("Home");

const route = createRoute({
  operationId: "home",
  method: "get",
  path: "/",
  tags: ["operations"],
  summary: "A small index of this service: links to the console, the docs and the contract",
  responses: {
    200: {
      description: "The index, as JSON (or a page of links for a browser)",
      content: { "application/json": { schema: Home }, "text/html": { schema: z.string() } },
    },
  },
});

const NAME = "knn-llm-router: ranks LLM targets for a prompt from labelled examples";

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>knn-llm-router</title></head>
<body><h1>knn-llm-router</h1><p>Ranks LLM targets for a prompt from labelled examples.</p><ul>
${Object.values(LINKS)
  .map((l) => `<li><a href="${l.href}">${l.href}</a>: ${l.title}</li>`)
  .join("\n")}
</ul></body></html>
`;

/** GET /: where to go from here; a browser gets the links as a page. */
export function homeRoutes() {
  return router().openapi(route, (c) => {
    if ((c.req.header("accept") ?? "").includes("text/html")) return c.html(PAGE, 200);
    return c.json({ name: NAME, links: LINKS }, 200);
  });
}
