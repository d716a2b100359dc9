import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../service/config.ts";
import { OpenAIEmbedder, type OpenAIEmbedderOptions } from "../service/embedding/openai.ts";
import { AppError } from "../service/errors.ts";
import { FakeOpenAI } from "./support/fake-openai.ts";
import { type ErrorBody, example, startService, tempDir } from "./support/harness.ts";
import { freePort } from "./support/local-server.ts";

let server: FakeOpenAI;
beforeAll(async () => {
  server = await new FakeOpenAI(24).start();
});
afterAll(() => server.stop());
beforeEach(() => {
  server.requests.length = 0;
  server.fault = undefined;
  server.shuffle = false;
});

const options = (over: Partial<OpenAIEmbedderOptions> = {}): OpenAIEmbedderOptions => ({
  baseUrl: server.url,
  model: "nomic-embed-text",
  timeoutMs: 1000,
  retries: 2,
  batchSize: 32,
  maxInputTokens: 512,
  ...over,
});

const cosine = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * (b[i] as number), 0);
const failure = (p: Promise<unknown>) => p.then(() => undefined).catch((x: unknown) => x as AppError);

describe("the OpenAI-compatible embedder against a /v1/embeddings double", () => {
  it("detects the dimension at start-up and names itself after the model", async () => {
    const e = await OpenAIEmbedder.create(options());
    expect(e.dimension).toBe(24);
    expect(e.id).toBe("openai:nomic-embed-text:24");
    expect(server.requests).toHaveLength(1);
    expect(server.requests[0]?.path).toBe("/v1/embeddings");
  });

  it("returns the server's vectors normalised, in input order whatever order it lists them in", async () => {
    const e = await OpenAIEmbedder.create(options());
    server.shuffle = true;
    const [a, b] = await e.embed(["the cat sat", "tax return forms"]);
    expect(Math.hypot(...(a as Float32Array))).toBeCloseTo(1, 5);
    expect(cosine(a as Float32Array, server.model.embedOne("the cat sat"))).toBeCloseTo(1, 5);
    expect(cosine(b as Float32Array, server.model.embedOne("tax return forms"))).toBeCloseTo(1, 5);
  });

  it("sends batches of EMBED_BATCH_SIZE as floats, for the model, with the key when there is one", async () => {
    const e = await OpenAIEmbedder.create(options({ batchSize: 32, apiKey: "sk-test" }));
    server.requests.length = 0;
    const out = await e.embed(Array.from({ length: 70 }, (_, i) => `text ${i}`));
    expect(out).toHaveLength(70);
    expect(server.requests.map((r) => (r.body.input as string[]).length)).toEqual([32, 32, 6]);
    expect(server.requests[0]?.body).toMatchObject({ model: "nomic-embed-text", encoding_format: "float" });
    expect(server.requests[0]?.body.dimensions).toBeUndefined();
    expect(server.requests[0]?.headers.authorization).toBe("Bearer sk-test");
  });

  it("sends no Authorization header without a key, and asks for OPENAI_EMBEDDING_DIMENSIONS when set", async () => {
    const e = await OpenAIEmbedder.create(options({ dimensions: 16 }));
    expect(e.dimension).toBe(16);
    expect(server.requests[0]?.headers.authorization).toBeUndefined();
    expect(server.requests[0]?.body.dimensions).toBe(16);
  });

  it("retries a 503 and a 429 a bounded number of times, honouring the server's retry-after, then succeeds", async () => {
    const e = await OpenAIEmbedder.create(options({ retries: 2 }));
    for (const status of [503, 429]) {
      server.requests.length = 0;
      server.fault = { status, times: 2 };
      await expect(e.embed(["hello"])).resolves.toHaveLength(1);
      expect(server.requests).toHaveLength(3);
    }
  });

  it("gives up after retries + 1 attempts with EMBEDDER_UNAVAILABLE and Retry-After", async () => {
    const e = await OpenAIEmbedder.create(options({ retries: 2 }));
    server.requests.length = 0;
    server.fault = { status: 502 };
    const err = await failure(e.embed(["hello"]));
    expect(err).toBeInstanceOf(AppError);
    expect(err?.code).toBe("EMBEDDER_UNAVAILABLE");
    expect(err?.message).toContain("502");
    expect(err?.retryAfterSeconds).toBe(5);
    expect(server.requests).toHaveLength(3);
  });

  it("times out a slow server by its own clock", async () => {
    const e = await OpenAIEmbedder.create(options({ timeoutMs: 100, retries: 0 }));
    server.fault = { delayMs: 400 };
    const err = await failure(e.embed(["hello"]));
    expect(err?.code).toBe("EMBEDDER_UNAVAILABLE");
    expect(err?.message.toLowerCase()).toContain("timed out");
    expect(err?.retryAfterSeconds).toBe(5);
  });

  it("does not retry a 4xx (a wrong model, a wrong key)", async () => {
    const e = await OpenAIEmbedder.create(options({ retries: 3 }));
    for (const status of [400, 401, 404]) {
      server.requests.length = 0;
      server.fault = { status };
      const err = await failure(e.embed(["hello"]));
      expect(err?.code).toBe("EMBEDDER_UNAVAILABLE");
      expect(err?.retryAfterSeconds).toBeUndefined();
      expect(server.requests).toHaveLength(1);
    }
  });

  it("refuses answers it cannot use: too few vectors, non-numbers, another dimension", async () => {
    const e = await OpenAIEmbedder.create(options({ retries: 0 }));
    const bodies = [
      { object: "list", data: [] },
      { object: "list", data: [{ object: "embedding", index: 0, embedding: ["x", 1] }] },
      { object: "list", data: [{ object: "embedding", index: 0, embedding: [0.1, 0.2] }] },
      { nothing: true },
    ];
    for (const body of bodies) {
      server.fault = { body, times: 1 };
      const err = await failure(e.embed(["hello"]));
      expect(err?.code, JSON.stringify(body)).toBe("EMBEDDER_UNAVAILABLE");
    }
  });

  it("answers readiness from a recent success, and probes when there was none", async () => {
    const e = await OpenAIEmbedder.create(options());
    server.requests.length = 0;
    await e.health();
    expect(server.requests).toHaveLength(0);
    (e as unknown as { lastSuccess: number }).lastSuccess = 0;
    server.fault = { status: 503 };
    await expect(e.health()).rejects.toMatchObject({ code: "EMBEDDER_UNAVAILABLE" });
    // The probe does not retry: readiness answers at once.
    expect(server.requests).toHaveLength(1);
  });

  it("fails start-up clearly when the server is unreachable", async () => {
    const port = await freePort();
    const err = await failure(
      OpenAIEmbedder.create(options({ baseUrl: `http://127.0.0.1:${port}/v1`, retries: 1 })),
    );
    expect(err?.code).toBe("EMBEDDER_UNAVAILABLE");
    expect(err?.retryAfterSeconds).toBe(5);
  });
});

describe("EMBEDDER=openai in the service", () => {
  it("is configured by OPENAI_BASE_URL and OPENAI_EMBEDDING_MODEL, both required", () => {
    for (const [env, field] of [
      [{ OPENAI_EMBEDDING_MODEL: "m" }, "OPENAI_BASE_URL"],
      [{ OPENAI_BASE_URL: "http://ollama:11434/v1" }, "OPENAI_EMBEDDING_MODEL"],
      [{ OPENAI_BASE_URL: "not a url", OPENAI_EMBEDDING_MODEL: "m" }, "OPENAI_BASE_URL"],
      [
        { OPENAI_BASE_URL: "http://x/v1", OPENAI_EMBEDDING_MODEL: "m", OPENAI_EMBEDDING_DIMENSIONS: "0" },
        "OPENAI_EMBEDDING_DIMENSIONS",
      ],
    ] as const) {
      const err = (() => {
        try {
          loadConfig({ EMBEDDER: "openai", ...env });
          return undefined;
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toContain(field);
    }
    const config = loadConfig({
      EMBEDDER: "openai",
      OPENAI_BASE_URL: "http://vllm:8000/v1",
      OPENAI_EMBEDDING_MODEL: "BAAI/bge-m3",
      OPENAI_API_KEY: "sk-x",
      OPENAI_EMBEDDING_DIMENSIONS: "256",
    });
    expect(config.embedder.openai).toEqual({
      baseUrl: "http://vllm:8000/v1",
      apiKey: "sk-x",
      model: "BAAI/bge-m3",
      dimensions: 256,
    });
  });

  it("ranks through the server and answers 503 when it fails", async () => {
    const svc = await startService({
      EMBEDDER: "openai",
      OPENAI_BASE_URL: server.url,
      OPENAI_EMBEDDING_MODEL: "test-model",
      EMBED_RETRIES: "0",
      EMBED_CACHE_SIZE: "0",
    });
    try {
      expect(svc.deps.embedder.id).toBe("openai:test-model:24");
      await svc.addExamples([
        example("write a poem about the sea", { poet: 1 }),
        example("sort a python list", { coder: 1 }),
      ]);
      const ranked = await svc.rank({ query: "write a poem about the sea", k: 1 });
      expect(ranked.body.scores[0]?.target).toBe("poet");
      server.fault = { status: 500 };
      const res = await svc.request("POST", "/rank", { query: "another poem" });
      expect(res.status).toBe(503);
      expect(res.headers.get("retry-after")).toBe("5");
      expect(((await res.json()) as ErrorBody).error.code).toBe("EMBEDDER_UNAVAILABLE");
    } finally {
      await svc.close();
    }
  });

  it("down at start: starts not ready (the stored vectors give the dimension), answers 503, recovers by itself", async () => {
    const port = await freePort();
    const tmp = tempDir();
    const env = {
      EMBEDDER: "openai",
      OPENAI_BASE_URL: `http://127.0.0.1:${port}/v1`,
      OPENAI_EMBEDDING_MODEL: "test-model",
      DATABASE_PATH: join(tmp.dir, "openai.db"),
      EMBED_RETRIES: "0",
      EMBED_TIMEOUT_MS: "500",
      EMBED_CACHE_SIZE: "0",
    };
    const up = await new FakeOpenAI(24).start(port);
    const first = await startService(env);
    await first.addExamples([
      example("write a poem about the sea", { poet: 1 }),
      example("sort a list", { coder: 1 }),
    ]);
    await first.close();
    await up.stop();
    const svc = await startService(env);
    try {
      expect(svc.deps.embedder.id).toBe("openai:test-model:24");
      expect((await svc.request("GET", "/readyz")).status).toBe(503);
      const down = await svc.request("POST", "/rank", { query: "a poem about the sea" });
      expect(down.status).toBe(503);
      const back = await new FakeOpenAI(24).start(port);
      try {
        const ranked = await svc.rank({ query: "write a poem about the sea", k: 1 });
        expect(ranked.status).toBe(200);
        expect(ranked.body.scores[0]?.target).toBe("poet");
        expect((await svc.request("GET", "/readyz")).status).toBe(200);
      } finally {
        await back.stop();
      }
    } finally {
      await svc.close();
      tmp.remove();
    }
  }, 20_000);
});
