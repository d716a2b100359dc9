import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Schemas } from "@qdrant/js-client-rest";
import { QdrantContract } from "./contract.ts";

export interface QdrantStandInOptions {
  /**
   * Qdrant's REST contract to hold every request and answer to (see contract.ts): `"auto"` (the
   * default) loads it when the file is there; `false` checks nothing.
   */
  contract?: QdrantContract | "auto" | false;
  /**
   * Keep collections' `metadata` (Qdrant 1.16 and later), or accept it and keep none, as Qdrant 1.14
   * does (found against 1.14.1). Default true.
   */
  metadata?: boolean;
}

/**
 * An in-process stand-in for a Qdrant server: the REST operations the service uses, in the shapes
 * Qdrant documents (typed with the client's own schemas, and, when its OpenAPI document is at hand,
 * every request and answer checked against it: `violations`). Points live in memory and are found by
 * brute-force cosine. It keeps collections with their parameters, payloads, payload indexes and
 * aliases, records every request, and fails on demand (status codes, delays) to test error handling.
 * `npm run qdrant:stand-in` runs one as a standalone server.
 */
export class QdrantStandIn {
  readonly requests: Array<{
    method: string;
    path: string;
    query: URLSearchParams;
    headers: IncomingMessage["headers"];
    body: unknown;
  }> = [];
  readonly collections = new Map<string, Collection>();
  /** Alias name → collection name. */
  readonly aliases = new Map<string, string>();
  /** Requests or answers that do not fit Qdrant's contract (empty when it is not loaded). */
  readonly violations: string[] = [];
  readonly contract: QdrantContract | undefined;
  /** Fail the next `times` requests (all when undefined) with this status, or delay them. */
  fault: { status?: number; retryAfter?: string; delayMs?: number; times?: number } | undefined;
  private server: Server | undefined;
  url = "";

  private readonly keepsMetadata: boolean;

  constructor(options: QdrantStandInOptions = {}) {
    const contract = options.contract ?? "auto";
    this.contract = contract === "auto" ? QdrantContract.load() : contract || undefined;
    this.keepsMetadata = options.metadata ?? true;
  }

  /** Listens on `port` (a free one by default) on `host` (loopback by default). */
  async start(port = 0, host = "127.0.0.1"): Promise<this> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) =>
        this.send(req, res, 500, { status: { error: String(err) }, time: 0 }),
      );
    });
    await new Promise<void>((r) => this.server?.listen(port, host, r));
    const address = this.server.address() as AddressInfo;
    this.url = `http://${host.includes(":") ? `[${host}]` : host}:${address.port}`;
    return this;
  }

  /**
   * Stops listening; then, when anything sent or answered did not fit Qdrant's contract, throws
   * listing it: every suite that stops a stand-in is held to the contract.
   */
  async stop(): Promise<void> {
    const server = this.server;
    if (server) {
      this.server = undefined;
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
    if (this.violations.length > 0) {
      throw new Error(
        `requests or answers that do not fit Qdrant's contract:\n${this.violations.join("\n")}`,
      );
    }
  }

  /** The collection a name or alias stands for, if any. */
  collection(name: string): Collection | undefined {
    return this.collections.get(this.resolve(name));
  }

  /** The collection a name stands for: itself, or the collection an alias points to. */
  resolve(name: string): string {
    return this.aliases.get(name) ?? name;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://x");
    const method = req.method ?? "";
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString("utf8");
    const body: unknown = raw ? JSON.parse(raw) : undefined;
    this.requests.push({ method, path: url.pathname, query: url.searchParams, headers: req.headers, body });
    if (this.contract) this.violations.push(...this.contract.checkRequest(method, url.pathname, body));

    if (this.fault && (this.fault.times === undefined || this.fault.times > 0)) {
      const f = this.fault;
      if (f.times !== undefined) f.times--;
      if (f.delayMs) await new Promise((r) => setTimeout(r, f.delayMs));
      if (f.status) {
        if (f.retryAfter) res.setHeader("retry-after", f.retryAfter);
        return this.send(req, res, f.status, { status: { error: "injected failure" }, time: 0 });
      }
    }
    const ok = <T>(result: T) => this.send(req, res, 200, { result, status: "ok", time: 0.001 });
    const fail = (status: number, error: string) =>
      this.send(req, res, status, { status: { error }, time: 0 });

    if (method === "GET" && url.pathname === "/collections") {
      return ok<Schemas["CollectionsResponse"]>({
        collections: [...this.collections.keys()].sort().map((name) => ({ name })),
      });
    }
    if (method === "GET" && url.pathname === "/aliases") {
      return ok<Schemas["CollectionsAliasesResponse"]>({ aliases: this.aliasList() });
    }
    if (method === "POST" && url.pathname === "/collections/aliases") {
      const problem = this.changeAliases((body as Schemas["ChangeAliasesOperation"]).actions);
      return problem ? fail(problem.status, problem.error) : ok(true);
    }

    const m = /^\/collections\/([^/]+)(\/.*)?$/.exec(url.pathname);
    if (!m) return fail(404, "not found");
    const given = decodeURIComponent(m[1] as string);
    const name = this.resolve(given);
    const rest = m[2] ?? "";
    const coll = this.collections.get(name);
    const key = `${method} ${rest}`;

    if (key === "GET /exists") return ok<Schemas["CollectionExistence"]>({ exists: coll !== undefined });
    if (key === "PUT ") {
      if (coll || this.aliases.has(given))
        return fail(409, `Wrong input: Collection \`${given}\` already exists!`);
      const created = body as Schemas["CreateCollection"];
      this.collections.set(
        given,
        new Collection(this.keepsMetadata ? created : { ...created, metadata: undefined }),
      );
      return ok(true);
    }
    if (!coll) return fail(404, `Not found: Collection \`${given}\` doesn't exist!`);
    switch (key) {
      case "GET ":
        return ok<Schemas["CollectionInfo"]>(coll.info());
      case "DELETE ":
        this.collections.delete(name);
        // As Qdrant: a collection's aliases go with it.
        for (const [alias, target] of this.aliases) if (target === name) this.aliases.delete(alias);
        return ok(true);
      case "GET /aliases":
        return ok<Schemas["CollectionsAliasesResponse"]>({
          aliases: this.aliasList().filter((a) => a.collection_name === name),
        });
      case "PUT /index": {
        const index = body as Schemas["CreateFieldIndex"];
        coll.indexes.set(
          index.field_name,
          (index.field_schema ?? null) as Schemas["PayloadFieldSchema"] | null,
        );
        return ok<Schemas["UpdateResult"]>({ operation_id: coll.nextOp++, status: "completed" });
      }
      case "PUT /points": {
        const op = body as Schemas["PointInsertOperations"];
        if (!("points" in op)) return fail(400, "batch format not supported here");
        for (const p of op.points) {
          // As Qdrant: a point id is an unsigned integer or a UUID, nothing else.
          if (!validPointId(p.id)) {
            return fail(400, `Format error in JSON body: value ${String(p.id)} is not a valid point ID`);
          }
          const v = p.vector as number[];
          if (v.length !== coll.size) {
            return fail(
              400,
              `Wrong input: Vector dimension error: expected dim: ${coll.size}, got ${v.length}`,
            );
          }
        }
        for (const p of op.points) {
          coll.points.set(String(p.id), p.vector as number[]);
          if (p.payload) coll.payloads.set(String(p.id), p.payload);
          else coll.payloads.delete(String(p.id));
        }
        return ok<Schemas["UpdateResult"]>({ operation_id: coll.nextOp++, status: "completed" });
      }
      case "POST /points": {
        // Retrieve by ids.
        const r = body as Schemas["PointRequest"];
        const found = r.ids.filter((id) => coll.points.has(String(id)));
        return ok<Schemas["Record"][]>(
          found.map((id) => ({
            id,
            ...coll.payloadOf(String(id), r.with_payload ?? true),
            ...(r.with_vector === true && { vector: coll.points.get(String(id)) as number[] }),
          })),
        );
      }
      case "POST /points/delete": {
        const sel = body as Schemas["PointsSelector"];
        if (!("points" in sel)) return fail(400, "filter selector not supported here");
        for (const id of sel.points) {
          coll.points.delete(String(id));
          coll.payloads.delete(String(id));
        }
        return ok<Schemas["UpdateResult"]>({ operation_id: coll.nextOp++, status: "completed" });
      }
      case "POST /points/query": {
        const q = body as Schemas["QueryRequest"];
        if (!Array.isArray(q.query)) return fail(400, "only a dense vector query is supported here");
        const found = coll.search(q.query as number[], q.limit ?? 10);
        return ok<Schemas["QueryResponse"]>({
          points: found.map((p) => ({ ...p, ...coll.payloadOf(String(p.id), q.with_payload) })),
        });
      }
      case "POST /points/scroll": {
        const s = body as Schemas["ScrollRequest"];
        const ids = [...coll.points.keys()].sort();
        const start = s.offset === undefined || s.offset === null ? 0 : ids.indexOf(String(s.offset));
        const limit = s.limit ?? 10;
        const page = ids.slice(start, start + limit);
        return ok<Schemas["ScrollResult"]>({
          points: page.map((id) => ({ id, ...coll.payloadOf(id, s.with_payload) })),
          next_page_offset: ids[start + limit] ?? null,
        });
      }
      case "POST /points/count":
        return ok<Schemas["CountResult"]>({ count: coll.points.size });
      default:
        return fail(404, `no route ${key}`);
    }
  }

  private aliasList(): Schemas["AliasDescription"][] {
    return [...this.aliases]
      .map(([alias_name, collection_name]) => ({ alias_name, collection_name }))
      .sort((a, b) => a.alias_name.localeCompare(b.alias_name));
  }

  /** Applies alias actions all at once, as Qdrant does, or none when one of them cannot be applied. */
  private changeAliases(
    actions: Schemas["AliasOperations"][],
  ): { status: number; error: string } | undefined {
    const next = new Map(this.aliases);
    for (const action of actions) {
      if ("create_alias" in action) {
        const { alias_name, collection_name } = action.create_alias;
        if (!this.collections.has(collection_name)) {
          return { status: 404, error: `Not found: Collection \`${collection_name}\` doesn't exist!` };
        }
        if (this.collections.has(alias_name)) {
          return { status: 409, error: `Wrong input: Collection \`${alias_name}\` already exists!` };
        }
        // Creating an alias that exists moves it (Qdrant replaces it).
        next.set(alias_name, collection_name);
      } else if ("delete_alias" in action) {
        if (!next.delete(action.delete_alias.alias_name)) {
          return {
            status: 404,
            error: `Not found: Alias ${action.delete_alias.alias_name} does not exists!`,
          };
        }
      } else if ("rename_alias" in action) {
        const { old_alias_name, new_alias_name } = action.rename_alias;
        const target = next.get(old_alias_name);
        if (target === undefined)
          return { status: 404, error: `Not found: Alias ${old_alias_name} does not exists!` };
        next.delete(old_alias_name);
        next.set(new_alias_name, target);
      }
    }
    this.aliases.clear();
    for (const [k, v] of next) this.aliases.set(k, v);
    return undefined;
  }

  private send(req: IncomingMessage, res: ServerResponse, status: number, body: unknown): void {
    if (this.contract) {
      const path = new URL(req.url ?? "/", "http://x").pathname;
      this.violations.push(...this.contract.checkResponse(req.method ?? "", path, status, body));
    }
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  }
}

/** What Qdrant takes as a point id: an unsigned integer, or a UUID in its hyphenated form. */
function validPointId(id: unknown): boolean {
  if (typeof id === "number") return Number.isInteger(id) && id >= 0;
  return typeof id === "string" && /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id);
}

export class Collection {
  readonly points = new Map<string, number[]>();
  readonly payloads = new Map<string, Record<string, unknown>>();
  /** Payload field → its index schema, as created by PUT /collections/{name}/index. */
  readonly indexes = new Map<string, Schemas["PayloadFieldSchema"] | null>();
  readonly size: number;
  readonly distance: Schemas["Distance"];
  readonly vectorsOnDisk: boolean | null;
  readonly metadata: Record<string, unknown> | null;
  nextOp = 1;

  constructor(readonly created: Schemas["CreateCollection"]) {
    const vectors = created.vectors as Schemas["VectorParams"];
    this.size = vectors.size;
    this.distance = vectors.distance;
    this.vectorsOnDisk = vectors.on_disk ?? null;
    this.metadata = (created.metadata ?? null) as Record<string, unknown> | null;
  }

  search(query: number[], limit: number): Schemas["ScoredPoint"][] {
    const norm = (v: number[]) => Math.sqrt(v.reduce((s, x) => s + x * x, 0)) || 1;
    const qn = norm(query);
    return [...this.points]
      .map(([id, v]) => ({
        id,
        version: 1,
        score: v.reduce((s, x, i) => s + x * (query[i] as number), 0) / (qn * norm(v)),
      }))
      .sort((a, b) => b.score - a.score)
      .slice(0, limit);
  }

  /** A point's payload as `with_payload` selects it (true, false or absent, or a list of keys). */
  payloadOf(id: string, selector: unknown): { payload?: Schemas["Payload"] } {
    if (selector === undefined || selector === null || selector === false) return {};
    const stored = this.payloads.get(id) ?? {};
    if (selector === true) return { payload: stored };
    if (Array.isArray(selector)) {
      return { payload: Object.fromEntries(Object.entries(stored).filter(([k]) => selector.includes(k))) };
    }
    return { payload: stored };
  }

  info(): Schemas["CollectionInfo"] {
    const c = this.created;
    const payload_schema: Record<string, Schemas["PayloadIndexInfo"]> = {};
    for (const [field, schema] of this.indexes) {
      const type =
        typeof schema === "string" ? schema : ((schema as { type?: string } | null)?.type ?? "keyword");
      const points = [...this.payloads.values()].filter((p) => field in p).length;
      payload_schema[field] = { data_type: type as Schemas["PayloadSchemaType"], points };
    }
    return {
      status: "green",
      optimizer_status: "ok",
      points_count: this.points.size,
      indexed_vectors_count: 0,
      segments_count: 1,
      payload_schema,
      config: {
        params: {
          vectors: {
            size: this.size,
            distance: this.distance,
            ...(this.vectorsOnDisk !== null && { on_disk: this.vectorsOnDisk }),
          },
          shard_number: c.shard_number ?? 1,
          replication_factor: c.replication_factor ?? 1,
          write_consistency_factor: c.write_consistency_factor ?? 1,
          on_disk_payload: c.on_disk_payload ?? true,
        },
        hnsw_config: { m: 16, ef_construct: 100, full_scan_threshold: 10000 },
        optimizer_config: {
          deleted_threshold: 0.2,
          vacuum_min_vector_number: 1000,
          default_segment_number: 0,
          flush_interval_sec: 5,
        },
        metadata: (c.metadata ?? null) as Schemas["Payload"] | null,
      },
    };
  }
}
