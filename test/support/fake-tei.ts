import { createServer, type IncomingMessage, type Server } from "node:http";
import { HashEmbedder } from "../../service/embedding/hash.ts";
import { closeLocal, listenLocal } from "./local-server.ts";

/**
 * An in-process server that answers like Text Embeddings Inference's `POST /embed`:
 * `{"inputs": string | string[], "truncate"?: bool}` -> `[[float, ...], ...]`, and its
 * `POST /tokenize`: `{"inputs": string}` -> `[[{id, text, special, start, stop}, ...]]` with UTF-8
 * byte offsets (one token per run of letters or digits, one per other non-space character). Vectors
 * come from `vectors` when it knows the text (knn-router's shipped embeddings), else from the hash
 * embedder, so tests can predict them. Records requests; fails on demand.
 */
export class FakeTei {
  readonly requests: Array<{
    path: string;
    headers: IncomingMessage["headers"];
    body: { inputs: string | string[]; truncate?: boolean };
  }> = [];
  fault: { status?: number; delayMs?: number; times?: number } | undefined;
  /** Answer per-token vectors (3 tokens a text) instead of pooled ones. */
  tokenLevel = false;
  readonly model: HashEmbedder;
  /** Exact vectors for known texts. */
  readonly vectors = new Map<string, number[]>();
  /** Answer 404 to /tokenize, as a server without that route would. */
  noTokenize = false;
  private server: Server | undefined;
  url = "";

  constructor(readonly dimension = 24) {
    this.model = new HashEmbedder(dimension);
  }

  /** Listens on `port` (a free one by default). */
  async start(port = 0): Promise<this> {
    this.server = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      this.requests.push({ path: req.url ?? "", headers: req.headers, body });
      const f = this.fault;
      if (f && (f.times === undefined || f.times > 0)) {
        if (f.times !== undefined) f.times--;
        if (f.delayMs) await new Promise((r) => setTimeout(r, f.delayMs));
        if (f.status) {
          res.writeHead(f.status, { "content-type": "application/json" });
          return res.end(JSON.stringify({ error: "injected failure", error_type: "Overloaded" }));
        }
      }
      if (req.url === "/tokenize" && !this.noTokenize) {
        res.writeHead(200, { "content-type": "application/json" });
        return res.end(JSON.stringify([fakeTokens(body.inputs as string)]));
      }
      if (req.url !== "/embed") {
        res.writeHead(404);
        return res.end();
      }
      const inputs = Array.isArray(body.inputs) ? body.inputs : [body.inputs];
      const vectors = inputs.map((t: string) => {
        const v = this.vectors.get(t) ?? Array.from(this.model.embedOne(t)).map((x) => x * 3);
        return this.tokenLevel ? [v.map((x) => x - 1), v, v.map((x) => x + 1)] : v;
      });
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(vectors));
    });
    this.url = await listenLocal(this.server, port);
    return this;
  }

  async stop(): Promise<void> {
    await closeLocal(this.server);
  }
}

/** Tokens with UTF-8 byte offsets, framed by the special tokens a BERT tokenizer adds. */
function fakeTokens(text: string) {
  const tokens: Array<{
    id: number;
    text: string;
    special: boolean;
    start: number | null;
    stop: number | null;
  }> = [{ id: 101, text: "[CLS]", special: true, start: null, stop: null }];
  for (const m of text.matchAll(/[\p{L}\p{N}]+|[^\s\p{L}\p{N}]/gu)) {
    const start = Buffer.byteLength(text.slice(0, m.index), "utf8");
    tokens.push({
      id: 1000,
      text: m[0],
      special: false,
      start,
      stop: start + Buffer.byteLength(m[0], "utf8"),
    });
  }
  tokens.push({ id: 102, text: "[SEP]", special: true, start: null, stop: null });
  return tokens;
}
