import { createServer, type IncomingMessage, type Server } from "node:http";
import { HashEmbedder } from "../../service/embedding/hash.ts";
import { closeLocal, listenLocal } from "./local-server.ts";

/**
 * An in-process server that answers like OpenAI's `POST /v1/embeddings` (as Ollama, vLLM and the
 * rest speak it): `{"model", "input": string | string[], "encoding_format"?, "dimensions"?}` ->
 * `{"object": "list", "data": [{"object": "embedding", "index", "embedding"}], "model", "usage"}`.
 * Vectors come from the hash embedder (scaled, so normalising them is the client's job), listed in
 * reverse order with their indexes when `shuffle` is on. Records requests; fails on demand, with a
 * `retry-after-ms` header (the client's own retry waits that long instead of its half-second).
 */
export class FakeOpenAI {
  readonly requests: Array<{
    path: string;
    headers: IncomingMessage["headers"];
    body: { model: string; input: string | string[]; encoding_format?: string; dimensions?: number };
  }> = [];
  fault: { status?: number; delayMs?: number; times?: number; body?: unknown } | undefined;
  /** List the vectors in reverse order (each with its index), as a server may. */
  shuffle = false;
  readonly model: HashEmbedder;
  private server: Server | undefined;
  url = "";

  constructor(readonly dimension = 24) {
    this.model = new HashEmbedder(dimension);
  }

  /** Listens on `port` (a free one by default); `url` is the `/v1` base. */
  async start(port = 0): Promise<this> {
    this.server = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}");
      this.requests.push({ path: req.url ?? "", headers: req.headers, body });
      const f = this.fault;
      if (f && (f.times === undefined || f.times > 0)) {
        if (f.times !== undefined) f.times--;
        if (f.delayMs) await new Promise((r) => setTimeout(r, f.delayMs));
        if (f.status) {
          res.writeHead(f.status, { "content-type": "application/json", "retry-after-ms": "5" });
          return res.end(JSON.stringify({ error: { message: "injected failure", type: "server_error" } }));
        }
        if (f.body !== undefined) {
          res.writeHead(200, { "content-type": "application/json" });
          return res.end(JSON.stringify(f.body));
        }
      }
      if (req.url !== "/v1/embeddings" || req.method !== "POST") {
        res.writeHead(404, { "content-type": "application/json" });
        return res.end(JSON.stringify({ error: { message: "not found" } }));
      }
      const inputs: string[] = Array.isArray(body.input) ? body.input : [body.input];
      const data = inputs.map((t, index) => {
        const full = Array.from(this.model.embedOne(t)).map((x) => x * 3);
        return {
          object: "embedding",
          index,
          embedding: body.dimensions ? full.slice(0, body.dimensions) : full,
        };
      });
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          object: "list",
          data: this.shuffle ? data.reverse() : data,
          model: body.model,
          usage: { prompt_tokens: inputs.length, total_tokens: inputs.length },
        }),
      );
    });
    this.url = `${await listenLocal(this.server, port)}/v1`;
    return this;
  }

  async stop(): Promise<void> {
    await closeLocal(this.server);
  }
}
