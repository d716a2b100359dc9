import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ADMIN_TOKEN,
  example,
  FEEDBACK_TOKEN,
  REPLICA_TOKEN,
  startService,
  type TestService,
  TOPICS,
} from "./support/harness.ts";

/**
 * Every route, fed what a hostile or careless client sends: each case names the request, the
 * status and the error code it must get, and nothing may change in the store.
 */
type Case = {
  name: string;
  method: string;
  path: string;
  /** A string or bytes are sent as they are; anything else as JSON. */
  body?: unknown;
  headers?: Record<string, string>;
  /** Send the admin token (default true for /admin paths). */
  admin?: boolean;
  status: number;
  code: string;
};

const ID = "9a1b2c3d-0000-4000-8000-0000000000aa";
const long = (n: number) => "x".repeat(n);
const json = { "content-type": "application/json" };

const rank: Case[] = [
  ["empty body", ""],
  ["not JSON", "{query"],
  ["JSON array", [1, 2]],
  ["JSON string", '"query"'],
  ["JSON number", "42"],
  ["null", "null"],
  ["missing query", {}],
  ["query null", { query: null }],
  ["query number", { query: 1 }],
  ["query object", { query: { a: 1 } }],
  ["query blank", { query: "   " }],
  ["query empty", { query: "" }],
  ["k zero", { query: "a", k: 0 }],
  ["k negative", { query: "a", k: -3 }],
  ["k fraction", { query: "a", k: 1.5 }],
  ["k too big", { query: "a", k: 201 }],
  ["k string", { query: "a", k: "5" }],
  ["targets empty", { query: "a", targets: [] }],
  ["targets not array", { query: "a", targets: "coder" }],
  ["target name bad", { query: "a", targets: ["bad name!"] }],
  ["truncate_strategy 0", { query: "a", truncate_strategy: 0 }],
  ["truncate_strategy 5", { query: "a", truncate_strategy: 5 }],
  ["truncate_strategy string", { query: "a", truncate_strategy: "head" }],
  ["unknown field", { query: "a", top_k: 3 }],
  ["prompt instead of query", { prompt: "a" }],
  ["category empty", { query: "a", category: "" }],
  ["category too long", { query: "a", category: long(201) }],
  ["objective empty", { query: "a", objective: {} }],
  ["objective two rules", { query: "a", objective: { max_price: 1, quality_tolerance: 0.1 } }],
  ["objective wtp zero", { query: "a", objective: { willingness_to_pay: 0 } }],
  ["objective tolerance > 1", { query: "a", objective: { quality_tolerance: 2 } }],
  ["objective unknown field", { query: "a", objective: { max_price: 1, budget: 3 } }],
  ["objective utility order without wtp", { query: "a", objective: { max_price: 1, order: "utility" } }],
  ["objective output_share > 1", { query: "a", objective: { max_price: 1, output_share: 1.5 } }],
].map(([name, body]) => ({
  name: `/rank: ${name}`,
  method: "POST",
  path: "/rank",
  body,
  headers: json,
  status: 400,
  code: name === "empty body" || name === "not JSON" ? "INVALID_JSON" : "VALIDATION_FAILED",
}));

const knnRouter: Case[] = [
  ["empty body", "", "INVALID_JSON"],
  ["not JSON", "{", "INVALID_JSON"],
  ["missing query", {}, "VALIDATION_FAILED"],
  ["query empty", { query: "" }, "VALIDATION_FAILED"],
  ["query number", { query: 5 }, "VALIDATION_FAILED"],
  ["array body", [], "VALIDATION_FAILED"],
  ["truncate_strategy 9", { query: "a", truncate_strategy: 9 }, "VALIDATION_FAILED"],
  ["truncate_strategy string", { query: "a", truncate_strategy: "3" }, "VALIDATION_FAILED"],
].map(([name, body, code]) => ({
  name: `POST /: ${name}`,
  method: "POST",
  path: "/",
  body,
  headers: json,
  status: 400,
  code: code as string,
}));

const good = example("write a poem", { poet: 0.9 });
const addExamples: Case[] = [
  ["empty body", "", 400, "INVALID_JSON"],
  ["not JSON", "[", 400, "INVALID_JSON"],
  ["no examples field", {}, 400, "VALIDATION_FAILED"],
  ["examples empty", { examples: [] }, 400, "VALIDATION_FAILED"],
  ["examples not array", { examples: good }, 400, "VALIDATION_FAILED"],
  ["text missing", { examples: [{ scores: { a: 1 } }] }, 400, "VALIDATION_FAILED"],
  ["text blank", { examples: [{ text: " ", scores: { a: 1 } }] }, 400, "VALIDATION_FAILED"],
  ["text too long", { examples: [{ text: long(100_001), scores: { a: 1 } }] }, 400, "VALIDATION_FAILED"],
  ["scores missing", { examples: [{ text: "a" }] }, 400, "VALIDATION_FAILED"],
  ["scores empty", { examples: [{ text: "a", scores: {} }] }, 400, "VALIDATION_FAILED"],
  ["score above 1", { examples: [{ text: "a", scores: { a: 1.5 } }] }, 400, "VALIDATION_FAILED"],
  ["score negative", { examples: [{ text: "a", scores: { a: -0.1 } }] }, 400, "VALIDATION_FAILED"],
  ["score string", { examples: [{ text: "a", scores: { a: "0.5" } }] }, 400, "VALIDATION_FAILED"],
  ["target name bad", { examples: [{ text: "a", scores: { "no spaces": 1 } }] }, 400, "VALIDATION_FAILED"],
  ["id with a space", { examples: [{ id: "a b", text: "a", scores: { a: 1 } }] }, 400, "VALIDATION_FAILED"],
  [
    "id of 201 characters",
    { examples: [{ id: "x".repeat(201), text: "a", scores: { a: 1 } }] },
    400,
    "VALIDATION_FAILED",
  ],
  ["id empty", { examples: [{ id: "", text: "a", scores: { a: 1 } }] }, 400, "VALIDATION_FAILED"],
  // A URL resolves `.` and `..` away: /admin/examples/.. could never reach them.
  ["id `.`", { examples: [{ id: ".", text: "a", scores: { a: 1 } }] }, 400, "VALIDATION_FAILED"],
  ["id `..`", { examples: [{ id: "..", text: "a", scores: { a: 1 } }] }, 400, "VALIDATION_FAILED"],
  ["category empty", { examples: [{ text: "a", category: "", scores: { a: 1 } }] }, 400, "VALIDATION_FAILED"],
  ["unknown field", { examples: [{ text: "a", scores: { a: 1 }, lang: "en" }] }, 400, "VALIDATION_FAILED"],
  ["unknown top field", { examples: [good], dry_run: true }, 400, "VALIDATION_FAILED"],
  [
    "same id twice",
    {
      examples: [
        { ...good, id: ID },
        { ...good, id: ID },
      ],
    },
    400,
    "VALIDATION_FAILED",
  ],
  ["one bad of many", { examples: [good, { text: "b", scores: { a: 2 } }] }, 400, "VALIDATION_FAILED"],
  ["1001 examples", { examples: Array.from({ length: 1001 }, () => good) }, 400, "VALIDATION_FAILED"],
  ["an id that exists", { examples: [{ ...good, id: "EXISTING" }] }, 409, "CONFLICT"],
].map(([name, body, status, code]) => ({
  name: `POST /admin/examples: ${name}`,
  method: "POST",
  path: "/admin/examples",
  body,
  headers: json,
  status: status as number,
  code: code as string,
}));

/** PATCH of the example the suite stores (`EXISTING`), with `body` and `headers`. */
const patch = (name: string, body: Case["body"], headers: Record<string, string>, code: string): Case => ({
  name: `PATCH example: ${name}`,
  method: "PATCH",
  path: "/admin/examples/EXISTING",
  body,
  headers,
  status: 400,
  code,
});

const exampleById: Case[] = [
  patch("empty body", "", json, "INVALID_JSON"),
  patch("not JSON", "{text", json, "INVALID_JSON"),
  patch("not JSON as text/plain", "{text", { "content-type": "text/plain" }, "INVALID_JSON"),
  patch("not JSON and no content type", "{text", {}, "INVALID_JSON"),
  patch(
    "text that is not UTF-8",
    new Uint8Array([0x7b, 0x22, 0x74, 0x65, 0x78, 0x74, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]),
    json,
    "INVALID_JSON",
  ),
  patch("nothing to change", {}, json, "VALIDATION_FAILED"),
  patch("text blank", { text: "  " }, { "content-type": "text/plain" }, "VALIDATION_FAILED"),
  patch("a bad score", { scores: { a: 2 } }, {}, "VALIDATION_FAILED"),
  {
    name: "GET example: id with a space",
    method: "GET",
    path: "/admin/examples/1%202",
    status: 400,
    code: "VALIDATION_FAILED",
  },
  {
    name: "GET example: unknown id",
    method: "GET",
    path: `/admin/examples/${ID}`,
    status: 404,
    code: "NOT_FOUND",
  },
  {
    name: "DELETE example: id with a slash",
    method: "DELETE",
    path: "/admin/examples/a%2Fb",
    status: 400,
    code: "VALIDATION_FAILED",
  },
  {
    name: "DELETE example: unknown id",
    method: "DELETE",
    path: `/admin/examples/${ID}`,
    status: 404,
    code: "NOT_FOUND",
  },
  {
    name: "PUT example: id with a quote",
    method: "PUT",
    path: "/admin/examples/a%22b",
    body: good,
    headers: json,
    status: 400,
    code: "VALIDATION_FAILED",
  },
  {
    name: "PUT example: empty body",
    method: "PUT",
    path: `/admin/examples/${ID}`,
    body: "",
    headers: json,
    status: 400,
    code: "INVALID_JSON",
  },
  {
    name: "PUT example: bad JSON",
    method: "PUT",
    path: `/admin/examples/${ID}`,
    body: "{x",
    headers: json,
    status: 400,
    code: "INVALID_JSON",
  },
  {
    name: "PUT example: text missing",
    method: "PUT",
    path: `/admin/examples/${ID}`,
    body: { scores: { a: 1 } },
    headers: json,
    status: 400,
    code: "VALIDATION_FAILED",
  },
  {
    name: "PUT example: score out of range",
    method: "PUT",
    path: `/admin/examples/${ID}`,
    body: { text: "a", scores: { a: 3 } },
    headers: json,
    status: 400,
    code: "VALIDATION_FAILED",
  },
  {
    name: "PUT example: body id differs",
    method: "PUT",
    path: `/admin/examples/${ID}`,
    body: { ...good, id: "9a1b2c3d-0000-4000-8000-0000000000bb" },
    headers: json,
    status: 400,
    code: "VALIDATION_FAILED",
  },
  {
    name: "PUT example: unknown field",
    method: "PUT",
    path: `/admin/examples/${ID}`,
    body: { ...good, x: 1 },
    headers: json,
    status: 400,
    code: "VALIDATION_FAILED",
  },
];

const listExamples: Case[] = [
  ["limit 0", "limit=0"],
  ["limit 1001", "limit=1001"],
  ["limit not a number", "limit=ten"],
  ["limit fraction", "limit=1.5"],
  ["cursor garbage", "cursor=!!!"],
  ["cursor of a non-id", `cursor=${Buffer.from("not an id").toString("base64url")}`],
  ["category empty", "category="],
  ["unknown parameter", "sort=desc"],
].map(([name, query]) => ({
  name: `GET /admin/examples: ${name}`,
  method: "GET",
  path: `/admin/examples?${query}`,
  status: 400,
  code: "VALIDATION_FAILED",
}));

const targets: Case[] = [
  ["empty patch", {}, 400, "VALIDATION_FAILED"],
  ["negative price", { input_price_per_mtok: -1 }, 400, "VALIDATION_FAILED"],
  ["price string", { output_price_per_mtok: "1" }, 400, "VALIDATION_FAILED"],
  ["enabled string", { enabled: "yes" }, 400, "VALIDATION_FAILED"],
  ["unknown field", { price: 1 }, 400, "VALIDATION_FAILED"],
  ["empty body", "", 400, "INVALID_JSON"],
  ["bad JSON", "{", 400, "INVALID_JSON"],
].map(([name, body, status, code]) => ({
  name: `PUT /admin/targets/coder: ${name}`,
  method: "PUT",
  path: "/admin/targets/coder",
  body,
  headers: json,
  status: status as number,
  code: code as string,
}));
targets.push(
  {
    name: "PUT target: prior_score above 1",
    method: "PUT",
    path: "/admin/targets/ghost",
    body: { prior_score: 1.5 },
    headers: json,
    status: 400,
    code: "VALIDATION_FAILED",
  },
  {
    name: "PUT target: bad name",
    method: "PUT",
    path: `/admin/targets/${encodeURIComponent("bad name")}`,
    body: { enabled: false },
    headers: json,
    status: 400,
    code: "VALIDATION_FAILED",
  },
);

/** The start-over routes: bulk deletes and target deletes, refused before anything goes. */
const startOver: Case[] = [
  ...[
    ["no condition", ""],
    ["all=false", "?all=false"],
    ["all=1", "?all=1"],
    ["unknown condition", "?categry=coding"],
    ["origin unknown", "?origin=robot"],
    ["empty id prefix", "?id_prefix="],
    ["empty category", "?category="],
    ["id prefix too long", `?id_prefix=${long(201)}`],
  ].map(([name, query]) => ({
    name: `DELETE /admin/examples: ${name}`,
    method: "DELETE",
    path: `/admin/examples${query}`,
    status: 400,
    code: "VALIDATION_FAILED",
  })),
  {
    name: "DELETE /admin/examples?all=true with the feedback token",
    method: "DELETE",
    path: "/admin/examples?all=true",
    headers: { authorization: `Bearer ${FEEDBACK_TOKEN}` },
    admin: false,
    status: 401,
    code: "UNAUTHORIZED",
  },
  {
    name: "DELETE target: unknown",
    method: "DELETE",
    path: "/admin/targets/never-was",
    status: 404,
    code: "NOT_FOUND",
  },
  {
    name: "DELETE target: bad name",
    method: "DELETE",
    path: `/admin/targets/${encodeURIComponent("bad name")}`,
    status: 400,
    code: "VALIDATION_FAILED",
  },
  {
    name: "DELETE target with the replica token",
    method: "DELETE",
    path: "/admin/targets/coder",
    headers: { authorization: `Bearer ${REPLICA_TOKEN}` },
    admin: false,
    status: 401,
    code: "UNAUTHORIZED",
  },
  {
    name: "import: mode unknown",
    method: "POST",
    path: "/admin/import?mode=wipe",
    body: '{"text":"a","scores":{"coder":1}}',
    headers: { "content-type": "application/x-ndjson" },
    status: 400,
    code: "VALIDATION_FAILED",
  },
  {
    name: "import: mode=replace with existing_text",
    method: "POST",
    path: "/admin/import?mode=replace&existing_text=skip",
    body: '{"text":"a","scores":{"coder":1}}',
    headers: { "content-type": "application/x-ndjson" },
    status: 400,
    code: "VALIDATION_FAILED",
  },
  {
    name: "import: mode=replace with a bad line (nothing deleted)",
    method: "POST",
    path: "/admin/import?mode=replace",
    body: '{"text":"a","scores":{"coder":1}}\n{"text":"","scores":{"coder":1}}',
    headers: { "content-type": "application/x-ndjson" },
    status: 400,
    code: "VALIDATION_FAILED",
  },
];

const ndjson = { "content-type": "application/x-ndjson" };
const imports: Case[] = [
  {
    name: "import: CSV",
    method: "POST",
    path: "/admin/import",
    body: "a,b",
    headers: { "content-type": "text/csv" },
    status: 415,
    code: "UNSUPPORTED_MEDIA_TYPE",
  },
  {
    name: "import: no content type",
    method: "POST",
    path: "/admin/import",
    body: "x",
    headers: { "content-type": "" },
    status: 415,
    code: "UNSUPPORTED_MEDIA_TYPE",
  },
  {
    name: "import: empty",
    method: "POST",
    path: "/admin/import",
    body: "\n\n",
    headers: ndjson,
    status: 400,
    code: "VALIDATION_FAILED",
  },
  {
    name: "import: a line not JSON",
    method: "POST",
    path: "/admin/import",
    body: '{"text":"a","scores":{"a":1}}\n{oops',
    headers: ndjson,
    status: 400,
    code: "VALIDATION_FAILED",
  },
  {
    name: "import: a line with a bad score",
    method: "POST",
    path: "/admin/import",
    body: '{"text":"a","scores":{"a":9}}',
    headers: ndjson,
    status: 400,
    code: "VALIDATION_FAILED",
  },
  {
    name: "import: duplicate id",
    method: "POST",
    path: "/admin/import",
    body: `{"id":"${ID}","text":"a","scores":{"a":1}}\n{"id":"${ID}","text":"b","scores":{"a":1}}`,
    headers: ndjson,
    status: 400,
    code: "VALIDATION_FAILED",
  },
  {
    name: "import: unknown format",
    method: "POST",
    path: "/admin/import?format=csv",
    body: '{"text":"a","scores":{"a":1}}',
    headers: ndjson,
    status: 400,
    code: "VALIDATION_FAILED",
  },
  {
    name: "import: pulze format as ndjson",
    method: "POST",
    path: "/admin/import?format=pulze",
    body: '{"text":"a","scores":{"a":1}}',
    headers: ndjson,
    status: 400,
    code: "VALIDATION_FAILED",
  },
  {
    name: "import: unknown parameter",
    method: "POST",
    path: "/admin/import?dry=1",
    body: '{"text":"a","scores":{"a":1}}',
    headers: ndjson,
    status: 400,
    code: "VALIDATION_FAILED",
  },
  {
    name: "import: unlisted bad",
    method: "POST",
    path: "/admin/import?unlisted=some",
    body: '{"text":"a","scores":{"a":1}}',
    headers: ndjson,
    status: 400,
    code: "VALIDATION_FAILED",
  },
  {
    name: "import: an arena battle on a blank text",
    method: "POST",
    path: "/admin/import?format=arena",
    body: '{"text":"   ","model_a":"a","model_b":"b","winner":"model_a"}',
    headers: ndjson,
    status: 400,
    code: "VALIDATION_FAILED",
  },
  {
    name: "import: an id of dots",
    method: "POST",
    path: "/admin/import",
    body: '{"id":"..","text":"a","scores":{"a":1}}',
    headers: ndjson,
    status: 400,
    code: "VALIDATION_FAILED",
  },
  {
    name: "import: multipart without boundary",
    method: "POST",
    path: "/admin/import",
    body: "--x\r\n",
    headers: { "content-type": "multipart/form-data" },
    status: 400,
    code: "VALIDATION_FAILED",
  },
  {
    name: "import: truncated multipart",
    method: "POST",
    path: "/admin/import",
    body: '--b\r\nContent-Disposition: form-data; name="examples"\r\n\r\n{"te',
    headers: { "content-type": "multipart/form-data; boundary=b" },
    status: 400,
    code: "VALIDATION_FAILED",
  },
];

const settings: Case[] = [
  ["empty body", "", 400, "INVALID_JSON"],
  ["pinned missing", {}, 400, "VALIDATION_FAILED"],
  ["pinned without settings", { pinned: true }, 400, "VALIDATION_FAILED"],
  ["unpin with settings", { pinned: false, settings: {} }, 400, "VALIDATION_FAILED"],
  [
    "k zero",
    {
      pinned: true,
      settings: { k: 0, power: 1, shrinkage: 0, prior: "overall", min_similarity: 0, min_support: 1 },
    },
    400,
    "VALIDATION_FAILED",
  ],
  [
    "bad prior",
    {
      pinned: true,
      settings: { k: 5, power: 1, shrinkage: 0, prior: "median", min_similarity: 0, min_support: 1 },
    },
    400,
    "VALIDATION_FAILED",
  ],
  [
    "min_support over k",
    {
      pinned: true,
      settings: { k: 2, power: 1, shrinkage: 0, prior: "overall", min_similarity: 0, min_support: 3 },
    },
    400,
    "VALIDATION_FAILED",
  ],
  [
    "negative shrinkage",
    {
      pinned: true,
      settings: { k: 5, power: 1, shrinkage: -1, prior: "overall", min_similarity: 0, min_support: 1 },
    },
    400,
    "VALIDATION_FAILED",
  ],
  [
    "similarity above 1",
    {
      pinned: true,
      settings: { k: 5, power: 1, shrinkage: 0, prior: "overall", min_similarity: 2, min_support: 1 },
    },
    400,
    "VALIDATION_FAILED",
  ],
  ["unknown field", { pinned: false, mode: "auto" }, 400, "VALIDATION_FAILED"],
].map(([name, body, status, code]) => ({
  name: `PUT /admin/settings: ${name}`,
  method: "PUT",
  path: "/admin/settings",
  body,
  headers: json,
  status: status as number,
  code: code as string,
}));
settings.push({
  name: "POST tune: too few examples",
  method: "POST",
  path: "/admin/settings/tune",
  status: 409,
  code: "CONFLICT",
});

const auth: Case[] = [
  ["GET", "/admin/examples"],
  ["POST", "/admin/examples"],
  ["GET", `/admin/examples/${ID}`],
  ["PUT", `/admin/examples/${ID}`],
  ["DELETE", `/admin/examples/${ID}`],
  ["GET", "/admin/targets"],
  ["PUT", "/admin/targets/coder"],
  ["POST", "/admin/import"],
  ["GET", "/admin/settings"],
  ["PUT", "/admin/settings"],
  ["POST", "/admin/settings/tune"],
].flatMap(([method, path]) => [
  {
    name: `${method} ${path}: no token`,
    method: method as string,
    path: path as string,
    admin: false,
    body: method === "GET" || method === "DELETE" ? undefined : {},
    headers: json,
    status: 401,
    code: "UNAUTHORIZED",
  },
  {
    name: `${method} ${path}: wrong token`,
    method: method as string,
    path: path as string,
    admin: false,
    headers: { ...json, authorization: `Bearer ${ADMIN_TOKEN}-not` },
    status: 401,
    code: "UNAUTHORIZED",
  },
]);
auth.push(
  {
    name: "admin: token without Bearer",
    method: "GET",
    path: "/admin/targets",
    admin: false,
    headers: { authorization: ADMIN_TOKEN },
    status: 401,
    code: "UNAUTHORIZED",
  },
  {
    name: "admin: Basic auth",
    method: "GET",
    path: "/admin/targets",
    admin: false,
    headers: { authorization: `Basic ${Buffer.from(`a:${ADMIN_TOKEN}`).toString("base64")}` },
    status: 401,
    code: "UNAUTHORIZED",
  },
);

const elsewhere: Case[] = [
  { name: "unknown route", method: "GET", path: "/nope", status: 404, code: "NOT_FOUND" },
  // A known path asked with another method: 405 with Allow (see test/http-conventions.test.ts).
  { name: "GET /rank", method: "GET", path: "/rank", status: 405, code: "METHOD_NOT_ALLOWED" },
  {
    name: "DELETE /admin/targets",
    method: "DELETE",
    path: "/admin/targets",
    status: 405,
    code: "METHOD_NOT_ALLOWED",
  },
  {
    name: "docs: unknown asset",
    method: "GET",
    path: "/docs/secret.txt",
    status: 400,
    code: "VALIDATION_FAILED",
  },
  {
    name: "docs: path traversal",
    method: "GET",
    path: "/docs/..%2Fpackage.json",
    status: 400,
    code: "VALIDATION_FAILED",
  },
  {
    name: "console: unknown asset",
    method: "GET",
    path: "/console/secret.js",
    status: 400,
    code: "VALIDATION_FAILED",
  },
  {
    name: "console: path traversal",
    method: "GET",
    path: "/console/..%2F..%2Fpackage.json",
    status: 400,
    code: "VALIDATION_FAILED",
  },
  {
    name: "categories: no token",
    method: "GET",
    path: "/admin/categories",
    admin: false,
    status: 401,
    code: "UNAUTHORIZED",
  },
  {
    name: "/rank: body over the limit",
    method: "POST",
    path: "/rank",
    body: JSON.stringify({ query: long(1_100_000) }),
    headers: json,
    status: 413,
    code: "PAYLOAD_TOO_LARGE",
  },
  {
    name: "/rank: query over MAX_QUERY_CHARS",
    method: "POST",
    path: "/rank",
    body: { query: long(100_001) },
    headers: json,
    status: 400,
    code: "VALIDATION_FAILED",
  },
  {
    name: "/rank: unknown target",
    method: "POST",
    path: "/rank",
    body: { query: "a", targets: ["nobody"] },
    headers: json,
    status: 400,
    code: "UNKNOWN_TARGET",
  },
];

const backup: Case[] = [
  {
    name: "backup: a name that climbs out of BACKUP_DIR",
    method: "POST",
    path: "/admin/backup",
    body: { name: "../escape" },
    headers: json,
    status: 400,
    code: "VALIDATION_FAILED",
  },
  {
    name: "backup: a name that is not a string",
    method: "POST",
    path: "/admin/backup",
    body: { name: 7 },
    headers: json,
    status: 400,
    code: "VALIDATION_FAILED",
  },
  {
    name: "backup: an unknown field",
    method: "POST",
    path: "/admin/backup",
    body: { name: "ok", to: "/etc" },
    headers: json,
    status: 400,
    code: "VALIDATION_FAILED",
  },
  {
    name: "backup: malformed JSON",
    method: "POST",
    path: "/admin/backup",
    body: '{"name":',
    headers: json,
    status: 400,
    code: "INVALID_JSON",
  },
  {
    name: "backup: no token",
    method: "POST",
    path: "/admin/backup",
    body: { name: "x" },
    headers: json,
    admin: false,
    status: 401,
    code: "UNAUTHORIZED",
  },
  {
    name: "backup download: no token",
    method: "GET",
    path: "/admin/backup",
    admin: false,
    status: 401,
    code: "UNAUTHORIZED",
  },
];

const RID = "00000000-0000-4000-8000-0000000000bb";
const feedbackAuth = { ...json, authorization: `Bearer ${FEEDBACK_TOKEN}` };
const replicaAuth = { ...json, authorization: `Bearer ${REPLICA_TOKEN}` };
const handedOver = {
  id: RID,
  created_at: "2026-12-06T09:30:00.000Z",
  query: "q",
  targets: ["coder"],
  recommended: "coder",
  propensity: 1,
  explored: false,
  uncertainty: 0,
  reasons: [],
};

const feedback: Case[] = [
  ...[
    ["empty body", "", "INVALID_JSON"],
    ["not JSON", "{", "INVALID_JSON"],
    ["no ranking_id", { target: "coder", score: 1 }, "VALIDATION_FAILED"],
    ["score above 1", { ranking_id: RID, target: "coder", score: 2 }, "VALIDATION_FAILED"],
    [
      "score and preference",
      { ranking_id: RID, target: "coder", score: 1, preferred: "a" },
      "VALIDATION_FAILED",
    ],
    ["preference over itself", { ranking_id: RID, preferred: "coder", over: "coder" }, "VALIDATION_FAILED"],
    ["unknown field", { ranking_id: RID, target: "coder", score: 1, weight: 9 }, "VALIDATION_FAILED"],
  ].map(([name, body, code]) => ({
    name: `/feedback: ${name}`,
    method: "POST",
    path: "/feedback",
    body,
    headers: feedbackAuth,
    admin: false,
    status: 400,
    code: code as string,
  })),
  {
    name: "/feedback: unknown ranking",
    method: "POST",
    path: "/feedback",
    body: { ranking_id: RID, target: "coder", score: 1 },
    headers: feedbackAuth,
    admin: false,
    status: 404,
    code: "NOT_FOUND",
  },
  {
    name: "/feedback: no token",
    method: "POST",
    path: "/feedback",
    body: { ranking_id: RID, target: "coder", score: 1 },
    headers: json,
    admin: false,
    status: 401,
    code: "UNAUTHORIZED",
  },
  ...[
    ["empty body", "", "INVALID_JSON"],
    ["not JSON", "[", "INVALID_JSON"],
    ["no rankings", {}, "VALIDATION_FAILED"],
    ["rankings empty", { rankings: [] }, "VALIDATION_FAILED"],
    ["rankings not an array", { rankings: handedOver }, "VALIDATION_FAILED"],
    ["an unknown top field", { rankings: [handedOver], from: "x" }, "VALIDATION_FAILED"],
  ].map(([name, body, code]) => ({
    name: `/feedback/rankings: ${name}`,
    method: "POST",
    path: "/feedback/rankings",
    body,
    headers: replicaAuth,
    admin: false,
    status: 400,
    code: code as string,
  })),
  {
    name: "/feedback/rankings: the feedback token",
    method: "POST",
    path: "/feedback/rankings",
    body: { rankings: [handedOver] },
    headers: feedbackAuth,
    admin: false,
    status: 401,
    code: "UNAUTHORIZED",
  },
  {
    name: "/feedback/rankings: no token",
    method: "POST",
    path: "/feedback/rankings",
    body: { rankings: [handedOver] },
    headers: json,
    admin: false,
    status: 401,
    code: "UNAUTHORIZED",
  },
  {
    name: "review: no pending outcome",
    method: "POST",
    path: `/admin/feedback/${RID}/accept`,
    status: 404,
    code: "NOT_FOUND",
  },
  {
    name: "review: unknown decision",
    method: "POST",
    path: `/admin/feedback/${RID}/approve`,
    status: 400,
    code: "VALIDATION_FAILED",
  },
  {
    name: "review: the feedback token",
    method: "POST",
    path: `/admin/feedback/${RID}/accept`,
    headers: feedbackAuth,
    admin: false,
    status: 401,
    code: "UNAUTHORIZED",
  },
  {
    name: "pending: limit 0",
    method: "GET",
    path: "/admin/feedback/pending?limit=0",
    status: 400,
    code: "VALIDATION_FAILED",
  },
  {
    name: "arrivals: hours 0",
    method: "GET",
    path: "/admin/feedback/arrivals?hours=0",
    status: 400,
    code: "VALIDATION_FAILED",
  },
  {
    name: "label queue: format csv",
    method: "GET",
    path: "/admin/label-queue?format=csv",
    status: 400,
    code: "VALIDATION_FAILED",
  },
  {
    name: "label queue: the feedback token",
    method: "GET",
    path: "/admin/label-queue",
    headers: { authorization: `Bearer ${FEEDBACK_TOKEN}` },
    admin: false,
    status: 401,
    code: "UNAUTHORIZED",
  },
];

const CASES: Case[] = [
  ...rank,
  ...knnRouter,
  ...addExamples,
  ...exampleById,
  ...listExamples,
  ...targets,
  ...startOver,
  ...imports,
  ...settings,
  ...backup,
  ...feedback,
  ...auth,
  ...elsewhere,
];

describe(`bad input on every route (${CASES.length} cases): a clear 4xx, and nothing changes`, () => {
  let svc: TestService;
  let existing: string;
  beforeAll(async () => {
    svc = await startService({ FEEDBACK_TOKEN, REPLICA_TOKEN });
    const added = await svc.addExamples(TOPICS.code.map((t) => example(t, { coder: 0.9, poet: 0.1 })));
    existing = added.body.ids[0] as string;
  });
  afterAll(() => svc.close());

  const snapshot = () =>
    JSON.stringify({
      examples: svc.deps.stores.examples
        .list({ limit: 100 })
        .map((e) => [e.id, e.text, e.scores, e.updatedAt.getTime()]),
      targets: svc.deps.stores.targets.listTargets(),
      settings: svc.deps.settings.current ?? null,
      rankings: svc.deps.stores.feedback.countRankings(),
      outcomes: svc.deps.stores.feedback.counts(),
    });

  it.each(CASES)("$name → $status $code", async (c) => {
    const before = snapshot();
    const admin = c.admin ?? c.path.startsWith("/admin");
    const body: BodyInit | undefined =
      typeof c.body === "string" || c.body instanceof Uint8Array
        ? (c.body as BodyInit)
        : c.body === undefined
          ? undefined
          : JSON.stringify(c.body).replace("EXISTING", existing);
    const headers: Record<string, string> = { ...c.headers };
    if (admin) headers.authorization = `Bearer ${ADMIN_TOKEN}`;
    const res = await svc.app.request(c.path.replace("EXISTING", existing), {
      method: c.method,
      headers,
      ...(body !== undefined && { body }),
    });
    expect(res.status).toBe(c.status);
    const err = (await res.json()) as { error: { code: string; message: string; requestId: string } };
    expect(err.error.code).toBe(c.code);
    expect(err.error.message.length).toBeGreaterThan(0);
    expect(err.error.requestId).toBe(res.headers.get("x-request-id"));
    expect(snapshot()).toBe(before);
  });
});
