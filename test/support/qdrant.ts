import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { QdrantClient, type Schemas } from "@qdrant/js-client-rest";
import { pointId } from "../../service/vectors/qdrant.ts";
import { QdrantStandIn } from "../../tools/qdrant-stand-in/server.ts";

/**
 * QDRANT_URL: a real Qdrant server the Qdrant suites run against (docs/deployment.md says which
 * version ran which suites); unset, the in-process stand-in.
 */
export const LIVE_QDRANT = process.env.QDRANT_URL;

/** A request the service sent, as the proxy in front of Qdrant saw it. */
export interface SeenRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage["headers"];
  body: unknown;
}

/**
 * The Qdrant a suite runs against, the real one at QDRANT_URL or the stand-in, behind a small proxy
 * that records every request the service sends and fails or delays them on demand (`fault`), so the
 * same tests run against both; and what a test reads of Qdrant's state, through Qdrant's own REST
 * API (straight to the server, not recorded).
 */
export class TestQdrant {
  readonly client: QdrantClient;
  /** Every request sent through `url`. */
  readonly requests: SeenRequest[] = [];
  /** Fail the next `times` requests (all when undefined) with this status, or delay them. */
  fault: { status?: number; retryAfter?: string; delayMs?: number; times?: number } | undefined;
  /** Names unique to this run: a real server keeps what earlier runs left. */
  private readonly run = `t${randomUUID().slice(0, 8)}`;
  private proxy: Server | undefined;
  /** The address the service is given: the proxy's. */
  url = "";

  private constructor(
    private readonly server: string,
    readonly standIn: QdrantStandIn | undefined,
  ) {
    this.client = new QdrantClient({
      url: server,
      checkCompatibility: false,
      ...(process.env.QDRANT_API_KEY && { apiKey: process.env.QDRANT_API_KEY }),
    });
  }

  static async start(): Promise<TestQdrant> {
    const standIn = LIVE_QDRANT ? undefined : await new QdrantStandIn().start();
    const q = new TestQdrant(LIVE_QDRANT ?? (standIn as QdrantStandIn).url, standIn);
    await q.listen();
    return q;
  }

  private async listen(): Promise<void> {
    this.proxy = createServer((req, res) => {
      this.forward(req)
        .then(({ status, headers, body }) => {
          res.writeHead(status, headers);
          res.end(body);
        })
        .catch((err: unknown) => {
          res.writeHead(502, { "content-type": "application/json" });
          res.end(JSON.stringify({ status: { error: String(err) }, time: 0 }));
        });
    });
    await new Promise<void>((r) => this.proxy?.listen(0, "127.0.0.1", r));
    this.url = `http://127.0.0.1:${(this.proxy.address() as AddressInfo).port}`;
  }

  private async forward(
    req: IncomingMessage,
  ): Promise<{ status: number; headers: Record<string, string>; body: Buffer }> {
    const url = new URL(req.url ?? "/", "http://x");
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks);
    const text = raw.toString("utf8");
    this.requests.push({
      method: req.method ?? "",
      path: url.pathname,
      query: url.searchParams,
      headers: req.headers,
      body: text ? (JSON.parse(text) as unknown) : undefined,
    });
    const f = this.fault;
    if (f && (f.times === undefined || f.times > 0)) {
      if (f.times !== undefined) f.times--;
      if (f.delayMs) await new Promise((r) => setTimeout(r, f.delayMs));
      if (f.status) {
        return {
          status: f.status,
          headers: {
            "content-type": "application/json",
            ...(f.retryAfter && { "retry-after": f.retryAfter }),
          },
          body: Buffer.from(JSON.stringify({ status: { error: "injected failure" }, time: 0 })),
        };
      }
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (typeof v === "string" && k !== "host" && k !== "content-length" && k !== "connection")
        headers[k] = v;
    }
    const res = await fetch(`${this.server}${req.url ?? "/"}`, {
      method: req.method ?? "GET",
      headers,
      ...(raw.length > 0 && { body: raw }),
    });
    const out: Record<string, string> = {};
    res.headers.forEach((v, k) => {
      if (
        k !== "content-length" &&
        k !== "content-encoding" &&
        k !== "transfer-encoding" &&
        k !== "connection"
      )
        out[k] = v;
    });
    return { status: res.status, headers: out, body: Buffer.from(await res.arrayBuffer()) };
  }

  get live(): boolean {
    return this.standIn === undefined;
  }

  /** A collection name (QDRANT_COLLECTION) unique to this run on a real server; `base` as it is on the stand-in. */
  name(base: string): string {
    return this.live ? `${this.run}_${base}` : base;
  }

  /** The collection an alias stands for (the name itself when it is a collection); undefined when neither. */
  async resolve(name: string): Promise<string | undefined> {
    const { aliases } = await this.client.getAliases();
    const target = aliases.find((a) => a.alias_name === name)?.collection_name;
    if (target) return target;
    return (await this.client.collectionExists(name)).exists ? name : undefined;
  }

  /** Aliases of this run, by name, with the collection each stands for. */
  async aliases(): Promise<Map<string, string>> {
    const { aliases } = await this.client.getAliases();
    return new Map(
      aliases.filter((a) => this.mine(a.alias_name)).map((a) => [a.alias_name, a.collection_name]),
    );
  }

  /** Collections of this run. */
  async collections(): Promise<string[]> {
    const { collections } = await this.client.getCollections();
    return collections.map((c) => c.name).filter((n) => this.mine(n));
  }

  async info(collection: string): Promise<Schemas["CollectionInfo"]> {
    return this.client.getCollection(collection);
  }

  /** Exact number of points in a collection (or an alias's), 0 when there is none. */
  async count(collection: string): Promise<number> {
    const name = await this.resolve(collection);
    if (!name) return 0;
    return (await this.client.count(name, { exact: true })).count;
  }

  /** A point's payload and vector by example id; undefined when it is not there. */
  async point(
    collection: string,
    exampleId: string,
  ): Promise<{ payload: Record<string, unknown>; vector: number[] } | undefined> {
    const name = await this.resolve(collection);
    if (!name) return undefined;
    const [p] = await this.client.retrieve(name, {
      ids: [pointId(exampleId)],
      with_payload: true,
      with_vector: true,
    });
    return p
      ? { payload: (p.payload ?? {}) as Record<string, unknown>, vector: p.vector as number[] }
      : undefined;
  }

  /** Every payload of a collection (or an alias's). */
  async payloads(collection: string): Promise<Array<Record<string, unknown>>> {
    const name = await this.resolve(collection);
    if (!name) return [];
    const out: Array<Record<string, unknown>> = [];
    let offset: Schemas["ExtendedPointId"] | null | undefined;
    do {
      const page = await this.client.scroll(name, {
        limit: 256,
        with_payload: true,
        with_vector: false,
        ...(offset != null && { offset }),
      });
      out.push(...page.points.map((p) => (p.payload ?? {}) as Record<string, unknown>));
      offset = page.next_page_offset as Schemas["ExtendedPointId"] | null | undefined;
    } while (offset != null);
    return out;
  }

  /** Deletes an alias's collection and the alias (the vector store lost). */
  async lose(collection: string): Promise<void> {
    const name = await this.resolve(collection);
    if (name) await this.client.deleteCollection(name);
    if (name !== collection) {
      await this.client
        .updateCollectionAliases({ actions: [{ delete_alias: { alias_name: collection } }] })
        .catch(() => undefined);
    }
  }

  /** Removes what this run created on a real server; stops the stand-in (checking its contract). */
  async stop(): Promise<void> {
    const proxy = this.proxy;
    if (proxy) {
      this.proxy = undefined;
      proxy.closeAllConnections();
      await new Promise((r) => proxy.close(r));
    }
    if (this.standIn) return this.standIn.stop();
    for (const [alias] of await this.aliases()) {
      await this.client.updateCollectionAliases({ actions: [{ delete_alias: { alias_name: alias } }] });
    }
    for (const c of await this.collections()) await this.client.deleteCollection(c);
  }

  private mine(name: string): boolean {
    return !this.live || name.startsWith(`${this.run}_`);
  }
}
