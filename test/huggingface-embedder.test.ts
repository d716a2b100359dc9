import { createServer } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { CachedEmbedder } from "../service/embedding/cache.ts";
import { HuggingFaceEmbedder, type HuggingFaceEmbedderOptions } from "../service/embedding/huggingface.ts";
import { AppError } from "../service/errors.ts";
import { FakeTei } from "./support/fake-tei.ts";
import { type ErrorBody, example, startService } from "./support/harness.ts";

let tei: FakeTei;
beforeAll(async () => {
  tei = await new FakeTei(24).start();
});
afterAll(() => tei.stop());
beforeEach(() => {
  tei.requests.length = 0;
  tei.fault = undefined;
  tei.tokenLevel = false;
});

const options = (over: Partial<HuggingFaceEmbedderOptions> = {}): HuggingFaceEmbedderOptions => ({
  endpointUrl: `${tei.url}/embed`,
  model: "BAAI/bge-small-en-v1.5",
  provider: "hf-inference",
  timeoutMs: 1000,
  retries: 2,
  batchSize: 32,
  maxInputTokens: 512,
  backoffMs: 5,
  ...over,
});

const cosine = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * (b[i] as number), 0);

describe("Hugging Face embedder against a Text Embeddings Inference double", () => {
  it("detects the dimension at start-up and names itself after the model", async () => {
    const e = await HuggingFaceEmbedder.create(options());
    expect(e.dimension).toBe(24);
    expect(e.id).toBe("huggingface:BAAI/bge-small-en-v1.5:24");
    expect(tei.requests).toHaveLength(1);
  });

  it("returns the server's vectors, normalised, in order", async () => {
    const e = await HuggingFaceEmbedder.create(options());
    const [a, b] = await e.embed(["the cat sat", "tax return forms"]);
    expect(Math.hypot(...(a as Float32Array))).toBeCloseTo(1, 5);
    expect(cosine(a as Float32Array, tei.model.embedOne("the cat sat"))).toBeCloseTo(1, 5);
    expect(cosine(b as Float32Array, tei.model.embedOne("tax return forms"))).toBeCloseTo(1, 5);
  });

  it("sends batches of EMBED_BATCH_SIZE, asking the server to truncate, with the token", async () => {
    const e = await HuggingFaceEmbedder.create(options({ batchSize: 32, token: "hf_testtoken" }));
    tei.requests.length = 0;
    const texts = Array.from({ length: 70 }, (_, i) => `text ${i}`);
    const out = await e.embed(texts);
    expect(out).toHaveLength(70);
    expect(tei.requests.map((r) => (r.body.inputs as string[]).length)).toEqual([32, 32, 6]);
    expect(tei.requests[0]?.body.truncate).toBe(true);
    expect(tei.requests[0]?.headers.authorization).toBe("Bearer hf_testtoken");
  });

  it("mean-pools per-token output", async () => {
    const e = await HuggingFaceEmbedder.create(options());
    tei.tokenLevel = true;
    const [v] = await e.embed(["pool me"]);
    expect(cosine(v as Float32Array, tei.model.embedOne("pool me"))).toBeCloseTo(1, 5);
  });

  it("retries a 503 a bounded number of times, then succeeds", async () => {
    const e = await HuggingFaceEmbedder.create(options({ retries: 2 }));
    tei.requests.length = 0;
    tei.fault = { status: 503, times: 2 };
    await expect(e.embed(["hello"])).resolves.toHaveLength(1);
    expect(tei.requests).toHaveLength(3);
  });

  it("gives up after retries + 1 attempts with EMBEDDER_UNAVAILABLE (the client's endless 503 retry is off)", async () => {
    const e = await HuggingFaceEmbedder.create(options({ retries: 2 }));
    tei.requests.length = 0;
    tei.fault = { status: 503 };
    const err = (await e.embed(["hello"]).catch((x: unknown) => x)) as AppError;
    expect(err).toBeInstanceOf(AppError);
    expect(err.code).toBe("EMBEDDER_UNAVAILABLE");
    expect(err.message).toContain("after 3 attempts: HTTP 503");
    expect(err.retryAfterSeconds).toBe(5);
    expect(tei.requests).toHaveLength(3);
  });

  it("times out a slow server by its own clock", async () => {
    const e = await HuggingFaceEmbedder.create(options({ timeoutMs: 100, retries: 1 }));
    tei.fault = { delayMs: 400 };
    const err = (await e.embed(["hello"]).catch((x: unknown) => x)) as AppError;
    expect(err.code).toBe("EMBEDDER_UNAVAILABLE");
    expect(err.message).toContain("timed out");
  });

  it("answers readiness from a recent success, and probes when there was none", async () => {
    const e = await HuggingFaceEmbedder.create(options());
    tei.requests.length = 0;
    await e.health();
    expect(tei.requests).toHaveLength(0);
    const cold = await HuggingFaceEmbedder.create(options());
    (cold as unknown as { lastSuccess: number }).lastSuccess = 0;
    tei.fault = { status: 503 };
    await expect(cold.health()).rejects.toMatchObject({ code: "EMBEDDER_UNAVAILABLE" });
  });

  it("does not retry a 4xx", async () => {
    const e = await HuggingFaceEmbedder.create(options({ retries: 3 }));
    tei.requests.length = 0;
    tei.fault = { status: 400 };
    const err = (await e.embed(["hello"]).catch((x: unknown) => x)) as AppError;
    expect(err.code).toBe("EMBEDDER_UNAVAILABLE");
    expect(err.retryAfterSeconds).toBeUndefined();
    expect(tei.requests).toHaveLength(1);
  });

  it("fails start-up clearly when the server is unreachable", async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, "127.0.0.1", () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const err = (await HuggingFaceEmbedder.create(
      options({ endpointUrl: `http://127.0.0.1:${port}/embed`, retries: 1 }),
    ).catch((x: unknown) => x)) as AppError;
    expect(err.code).toBe("EMBEDDER_UNAVAILABLE");
    expect(err.message).toContain("after 2 attempts");
  });

  it("calls Inference Providers at the documented route for a model id", async () => {
    const calls: Array<{ url: string; auth: string | null; body: unknown }> = [];
    const json = (v: unknown) =>
      new Response(JSON.stringify(v), { headers: { "content-type": "application/json" } });
    const recorder: typeof fetch = async (input, init) => {
      const headers = new Headers(init?.headers);
      calls.push({
        url: String(input),
        auth: headers.get("authorization"),
        body: init?.body && JSON.parse(String(init.body)),
      });
      // The client first asks the Hub which providers serve the model (documented mapping shape).
      if (String(input).includes("/api/models/")) {
        return json({
          id: "BAAI/bge-small-en-v1.5",
          inferenceProviderMapping: {
            "hf-inference": {
              status: "live",
              providerId: "BAAI/bge-small-en-v1.5",
              task: "feature-extraction",
            },
          },
        });
      }
      return json([[0.1, 0.2, 0.3]]);
    };
    const e = await HuggingFaceEmbedder.create(
      options({ endpointUrl: undefined, model: "BAAI/bge-small-en-v1.5", token: "hf_abc", fetch: recorder }),
    );
    expect(e.dimension).toBe(3);
    expect(calls[0]?.url).toBe(
      "https://huggingface.co/api/models/BAAI/bge-small-en-v1.5?expand[]=inferenceProviderMapping",
    );
    const call = calls.at(-1);
    expect(call?.url).toBe(
      "https://router.huggingface.co/hf-inference/models/BAAI/bge-small-en-v1.5/pipeline/feature-extraction",
    );
    expect(call?.auth).toBe("Bearer hf_abc");
    expect(call?.body).toMatchObject({ inputs: ["dimension probe"], truncate: true });
  });
});

describe("embedding cache", () => {
  it("answers repeated texts without asking the server, least recently used out first", async () => {
    const e = new CachedEmbedder(await HuggingFaceEmbedder.create(options()), 2);
    tei.requests.length = 0;
    await e.embed(["a", "b"]);
    await e.embed(["a"]);
    expect(tei.requests).toHaveLength(1);
    await e.embed(["c"]);
    await e.embed(["a"]);
    expect(tei.requests).toHaveLength(2);
    await e.embed(["b"]);
    expect(tei.requests).toHaveLength(3);
    expect(e.hits).toBe(2);
  });
});

describe("service with EMBEDDER=huggingface", () => {
  it("ranks through the remote embedder and answers 503 when it fails", async () => {
    const svc = await startService({
      EMBEDDER: "huggingface",
      HF_ENDPOINT_URL: `${tei.url}/embed`,
      HF_MODEL: "test-model",
      EMBED_RETRIES: "0",
      EMBED_CACHE_SIZE: "0",
    });
    expect(svc.deps.embedder.id).toBe("huggingface:test-model:24");
    await svc.addExamples([
      example("write a poem about the sea", { poet: 1 }),
      example("sort a python list", { coder: 1 }),
    ]);
    const ranked = await svc.rank({ query: "write a poem about the sea", k: 1 });
    expect(ranked.body.scores[0]?.target).toBe("poet");
    tei.fault = { status: 502 };
    const res = await svc.request("POST", "/rank", { query: "another poem" });
    expect(res.status).toBe(503);
    expect(((await res.json()) as ErrorBody).error.code).toBe("EMBEDDER_UNAVAILABLE");
    await svc.close();
  });
});

describe("truncation on the server's own tokens", () => {
  it("cuts a long query on the tokens /tokenize answers (UTF-8 offsets), as knn-router does", async () => {
    const e = await HuggingFaceEmbedder.create(options({ maxInputTokens: 4 }));
    expect(await e.tokenize("héllo, wörld")).toEqual([
      [0, 5],
      [5, 6],
      [7, 12],
    ]);
    const svc = await startService(
      { EMBEDDER: "huggingface", HF_ENDPOINT_URL: `${tei.url}/embed`, EMBED_CACHE_SIZE: "0" },
      { embedder: e },
    );
    await svc.addExamples([example("a poem about the sea", { poet: 1 })]);
    tei.requests.length = 0;
    // Nine tokens by the server's count (punctuation counts), four words by whitespace.
    const { body } = await svc.rank({ query: "ünïcode, héllo; wörld! again", truncate_strategy: 2 });
    expect(body.truncated).toBe(true);
    expect(tei.requests.map((r) => r.path)).toEqual(["/tokenize", "/embed"]);
    expect(tei.requests[1]?.body.inputs).toEqual(["ünïcode, héllo;"]);
    // Within the limit in characters: no tokenizer call at all.
    tei.requests.length = 0;
    await svc.rank({ query: "sea" });
    expect(tei.requests.map((r) => r.path)).toEqual(["/embed"]);
    await svc.close();
  });

  it("counts words when the server has no /tokenize", async () => {
    tei.noTokenize = true;
    try {
      const e = await HuggingFaceEmbedder.create(options());
      expect(await e.tokenize("a, b")).toEqual([
        [0, 2],
        [3, 4],
      ]);
      expect(await e.tokenize("c d")).toHaveLength(2);
      // After a 404 it stops asking.
      expect(tei.requests.filter((r) => r.path === "/tokenize")).toHaveLength(1);
    } finally {
      tei.noTokenize = false;
    }
  });
});

describe("embedding server faults, service level", () => {
  it("down at start: the service starts not ready (the stored vectors give the dimension), answers 503, and recovers by itself", async () => {
    const { freePort } = await import("./support/local-server.ts");
    const { join } = await import("node:path");
    const { tempDir } = await import("./support/harness.ts");
    const port = await freePort();
    const tmp = tempDir();
    const env = {
      EMBEDDER: "huggingface",
      HF_ENDPOINT_URL: `http://127.0.0.1:${port}/embed`,
      DATABASE_PATH: join(tmp.dir, "tei.db"),
      EMBED_RETRIES: "0",
      EMBED_TIMEOUT_MS: "500",
      EMBED_CACHE_SIZE: "0",
    };
    const up = await new FakeTei(24).start(port);
    const first = await startService(env);
    await first.addExamples([
      example("write a poem about the sea", { poet: 1 }),
      example("sort a list", { coder: 1 }),
    ]);
    await first.close();
    await up.stop();

    const svc = await startService(env);
    try {
      expect((await svc.request("GET", "/readyz")).status).toBe(503);
      const down = await svc.request("POST", "/rank", { query: "a poem about the sea" });
      expect(down.status).toBe(503);
      expect(down.headers.get("retry-after")).toBe("5");
      expect(((await down.json()) as ErrorBody).error.code).toBe("EMBEDDER_UNAVAILABLE");
      const back = await new FakeTei(24).start(port);
      try {
        const ranked = await svc.rank({ query: "write a poem about the sea", k: 1 });
        expect(ranked.status).toBe(200);
        expect(ranked.body.scores[0]?.target).toBe("poet");
        expect((await svc.request("GET", "/readyz")).status).toBe(200);
        // Slow: past its timeout the request answers 503, it does not hang.
        back.fault = { delayMs: 2_000, times: 1 };
        const slow = await svc.request("POST", "/rank", { query: "a slow one" });
        expect(slow.status).toBe(503);
        expect(((await slow.json()) as ErrorBody).error.message).toContain("timed out");
      } finally {
        await back.stop();
      }
    } finally {
      await svc.close();
      tmp.remove();
    }
  }, 20_000);

  it("down at a very first start (nothing stored gives the dimension): the process serves not ready, then starts by itself", async () => {
    const { freePort } = await import("./support/local-server.ts");
    const { join } = await import("node:path");
    const { tempDir } = await import("./support/harness.ts");
    const { ChildServer } = await import("./support/child-server.ts");
    const port = await freePort();
    const tmp = tempDir();
    const server = await ChildServer.start({
      EMBEDDER: "huggingface",
      HF_ENDPOINT_URL: `http://127.0.0.1:${port}/embed`,
      DATABASE_PATH: join(tmp.dir, "first.db"),
      ADMIN_TOKEN: "first-start-admin-token",
      SEED_ON_EMPTY: "false",
      EMBED_RETRIES: "0",
      EMBED_TIMEOUT_MS: "500",
    });
    let tei: FakeTei | undefined;
    try {
      expect(server.lines.some((l) => /"message":"listening"/.test(l) && /"ready":false/.test(l))).toBe(true);
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
      const ready = await fetch(`${server.url}/readyz`);
      expect(ready.status).toBe(503);
      expect(((await ready.json()) as { checks: { startup: { ok: boolean } } }).checks.startup.ok).toBe(
        false,
      );
      const rank = await fetch(`${server.url}/rank`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ query: "hello" }),
      });
      expect(rank.status).toBe(503);
      expect(rank.headers.get("retry-after")).toBe("5");
      expect(((await rank.json()) as ErrorBody).error.code).toBe("EMBEDDER_UNAVAILABLE");

      tei = await new FakeTei(24).start(port);
      let status = 0;
      for (let i = 0; i < 150 && status !== 200; i++) {
        await new Promise((r) => setTimeout(r, 100));
        status = (await fetch(`${server.url}/readyz`)).status;
      }
      expect(status).toBe(200);
      expect(server.lines.some((l) => /started: serving the API/.test(l))).toBe(true);
      const added = await fetch(`${server.url}/admin/examples`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: "Bearer first-start-admin-token" },
        body: JSON.stringify({ examples: [example("write a poem about the sea", { poet: 1 })] }),
      });
      expect(added.status).toBe(201);
      const ranked = await fetch(`${server.url}/rank`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ query: "write a poem about the sea" }),
      });
      expect(ranked.status).toBe(200);
      server.kill("SIGTERM");
      expect(await server.exit()).toBe(0);
    } finally {
      server.kill("SIGKILL");
      await tei?.stop();
      tmp.remove();
    }
  }, 30_000);

  it("SIGTERM while waiting for the embedding server at a first start exits 0", async () => {
    const { freePort } = await import("./support/local-server.ts");
    const { ChildServer } = await import("./support/child-server.ts");
    const port = await freePort();
    const server = await ChildServer.start({
      EMBEDDER: "huggingface",
      HF_ENDPOINT_URL: `http://127.0.0.1:${port}/embed`,
      DATABASE_PATH: ":memory:",
      SEED_ON_EMPTY: "false",
      EMBED_RETRIES: "0",
    });
    try {
      expect((await fetch(`${server.url}/readyz`)).status).toBe(503);
      server.kill("SIGTERM");
      expect(await server.exit()).toBe(0);
    } finally {
      server.kill("SIGKILL");
    }
  }, 30_000);
});
