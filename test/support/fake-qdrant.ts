import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Schemas } from "@qdrant/js-client-rest";
import { closeLocal, listenLocal } from "./local-server.ts";

/**
 * An in-process HTTP server that answers the Qdrant REST endpoints the adapter uses, in the shapes
 * Qdrant documents, typed with the client's own exported schemas: a client upgrade that changes
 * them breaks the build here. It keeps points in memory, searches by brute-force cosine, records
 * every request, and fails on demand (status codes, delays) to test error handling.
 */
export class FakeQdrant {
  readonly requests: Array<{
    method: string;
    path: string;
    query: URLSearchParams;
    headers: IncomingMessage["headers"];
    body: unknown;
  }> = [];
  readonly collections = new Map<string, Collection>();
  /** Fail the next `times` requests (all when undefined) with this status, or delay them. */
  fault: { status?: number; retryAfter?: string; delayMs?: number; times?: number } | undefined;
  private server: Server | undefined;
  url = "";

  /** Listens on `port` (a free one by default). */
  async start(port = 0): Promise<this> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => send(res, 500, { status: { error: String(err) } }));
    });
    this.url = await listenLocal(this.server, port);
    return this;
  }

  async stop(): Promise<void> {
    await closeLocal(this.server);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://x");
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString("utf8");
    const body: unknown = raw ? JSON.parse(raw) : undefined;
    this.requests.push({
      method: req.method ?? "",
      path: url.pathname,
      query: url.searchParams,
      headers: req.headers,
      body,
    });

    if (this.fault && (this.fault.times === undefined || this.fault.times > 0)) {
      const f = this.fault;
      if (f.times !== undefined) f.times--;
      if (f.delayMs) await new Promise((r) => setTimeout(r, f.delayMs));
      if (f.status) {
        if (f.retryAfter) res.setHeader("retry-after", f.retryAfter);
        return send(res, f.status, { status: { error: "injected failure" }, time: 0 });
      }
    }

    const m = /^\/collections\/([^/]+)(\/.*)?$/.exec(url.pathname);
    if (!m) return send(res, 404, { status: { error: "not found" } });
    const name = decodeURIComponent(m[1] as string);
    const rest = m[2] ?? "";
    const coll = this.collections.get(name);
    const key = `${req.method} ${rest}`;

    if (key === "GET /exists") return ok<Schemas["CollectionExistence"]>(res, { exists: coll !== undefined });
    if (key === "PUT ") {
      const create = body as Schemas["CreateCollection"];
      const vectors = create.vectors as Schemas["VectorParams"];
      this.collections.set(
        name,
        new Collection(
          vectors.size,
          vectors.distance,
          (create.metadata ?? null) as Record<string, unknown> | null,
        ),
      );
      return ok(res, true);
    }
    if (!coll)
      return send(res, 404, {
        status: { error: `Not found: Collection \`${name}\` doesn't exist!` },
        time: 0,
      });
    switch (key) {
      case "GET ":
        return ok<Schemas["CollectionInfo"]>(res, coll.info());
      case "DELETE ":
        this.collections.delete(name);
        return ok(res, true);
      case "PUT /points": {
        const op = body as Schemas["PointInsertOperations"];
        if (!("points" in op))
          return send(res, 400, { status: { error: "batch format not supported here" } });
        for (const p of op.points) {
          // As Qdrant: a point id is an unsigned integer or a UUID, nothing else.
          if (!validPointId(p.id)) {
            return send(res, 400, {
              status: { error: `Format error in JSON body: value ${String(p.id)} is not a valid point ID` },
            });
          }
          const v = p.vector as number[];
          if (v.length !== coll.size) {
            return send(res, 400, {
              status: {
                error: `Wrong input: Vector dimension error: expected dim: ${coll.size}, got ${v.length}`,
              },
            });
          }
          coll.points.set(String(p.id), v);
          if (p.payload) coll.payloads.set(String(p.id), p.payload);
          else coll.payloads.delete(String(p.id));
        }
        return ok<Schemas["UpdateResult"]>(res, { operation_id: coll.nextOp++, status: "completed" });
      }
      case "POST /points/delete": {
        const sel = body as Schemas["PointsSelector"];
        if (!("points" in sel))
          return send(res, 400, { status: { error: "filter selector not supported here" } });
        for (const id of sel.points) {
          coll.points.delete(String(id));
          coll.payloads.delete(String(id));
        }
        return ok<Schemas["UpdateResult"]>(res, { operation_id: coll.nextOp++, status: "completed" });
      }
      case "POST /points/query": {
        const q = body as Schemas["QueryRequest"];
        const found = coll.search(q.query as number[], q.limit ?? 10);
        return ok<Schemas["QueryResponse"]>(res, {
          points: found.map((p) => ({ ...p, ...coll.payloadOf(String(p.id), q.with_payload) })),
        });
      }
      case "POST /points/scroll": {
        const s = body as Schemas["ScrollRequest"];
        const ids = [...coll.points.keys()].sort();
        const start = s.offset === undefined || s.offset === null ? 0 : ids.indexOf(String(s.offset));
        const limit = s.limit ?? 10;
        const page = ids.slice(start, start + limit);
        return ok<Schemas["ScrollResult"]>(res, {
          points: page.map((id) => ({ id, ...coll.payloadOf(id, s.with_payload) })),
          next_page_offset: ids[start + limit] ?? null,
        });
      }
      case "POST /points/count":
        return ok<Schemas["CountResult"]>(res, { count: coll.points.size });
      default:
        return send(res, 404, { status: { error: `no route ${key}` } });
    }
  }
}

/** What Qdrant takes as a point id: an unsigned integer, or a UUID in its hyphenated form. */
function validPointId(id: unknown): boolean {
  if (typeof id === "number") return Number.isInteger(id) && id >= 0;
  return typeof id === "string" && /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id);
}

class Collection {
  readonly points = new Map<string, number[]>();
  readonly payloads = new Map<string, Record<string, unknown>>();
  nextOp = 1;
  constructor(
    readonly size: number,
    readonly distance: Schemas["Distance"],
    readonly metadata: Record<string, unknown> | null,
  ) {}

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
    return {
      status: "green",
      optimizer_status: "ok",
      points_count: this.points.size,
      segments_count: 1,
      payload_schema: {},
      config: {
        params: {
          vectors: { size: this.size, distance: this.distance },
          shard_number: 1,
          replication_factor: 1,
        },
        hnsw_config: { m: 16, ef_construct: 100, full_scan_threshold: 10000 },
        optimizer_config: { default_segment_number: 0, flush_interval_sec: 5 },
        metadata: this.metadata,
      },
    };
  }
}

function ok<T>(res: ServerResponse, result: T): void {
  send(res, 200, { result, status: "ok", time: 0.001 });
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}
