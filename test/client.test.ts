import type { LanguageModelV4GenerateResult, LanguageModelV4StreamPart } from "@ai-sdk/provider";
import { generateText, streamText } from "ai";
import { convertArrayToReadableStream, MockLanguageModelV4 } from "ai/test";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Route, routedModel } from "../clients/typescript/src/ai-sdk.ts";
import { createRouterClient, feedback, RouterError, rank, unwrap } from "../clients/typescript/src/index.ts";
import { serveLocal } from "./support/browser.ts";
import { ADMIN_TOKEN, priceTargets, startService, type TestService, TOPICS } from "./support/harness.ts";

const SQL = "python function to sort a list of numbers";
const POEM = "a short poem about the sea";

/** A model that answers `text` and records its calls. */
function model(id: string) {
  const result: LanguageModelV4GenerateResult = {
    content: [{ type: "text", text: `answer from ${id}` }],
    finishReason: { unified: "stop", raw: "stop" },
    usage: {
      inputTokens: { total: 3, noCache: 3, cacheRead: undefined, cacheWrite: undefined },
      outputTokens: { total: 4, text: 4, reasoning: undefined },
    },
    warnings: [],
  };
  const stream: LanguageModelV4StreamPart[] = [
    { type: "text-start", id: "1" },
    { type: "text-delta", id: "1", delta: `answer from ${id}` },
    { type: "text-end", id: "1" },
    { type: "finish", finishReason: result.finishReason, usage: result.usage },
  ];
  return new MockLanguageModelV4({
    modelId: id,
    doGenerate: result,
    doStream: () => Promise.resolve({ stream: convertArrayToReadableStream(stream) }),
  });
}

describe("the TypeScript client, against a running service", () => {
  let svc: TestService;
  let served: { url: string; close: () => Promise<void> };
  beforeAll(async () => {
    svc = await startService();
    served = await serveLocal(svc.app.fetch);
    const admin = createRouterClient({ baseUrl: served.url, adminToken: ADMIN_TOKEN });
    // Coding prompts are won by `coder`, writing prompts by `writer`; `cheap` is close on both.
    const examples = [
      ...TOPICS.code.map((text) => ({
        text,
        category: "code",
        scores: { coder: 0.95, writer: 0.4, cheap: 0.9 },
      })),
      ...TOPICS.poetry.map((text) => ({
        text,
        category: "poetry",
        scores: { coder: 0.3, writer: 0.95, cheap: 0.85 },
      })),
    ];
    unwrap(await admin.POST("/admin/examples", { body: { examples } }));
    unwrap(
      await admin.PUT("/admin/targets/{name}", {
        params: { path: { name: "cheap" } },
        body: { input_price_per_mtok: 0.1, output_price_per_mtok: 0.4 },
      }),
    );
    for (const name of ["coder", "writer"]) {
      unwrap(
        await admin.PUT("/admin/targets/{name}", {
          params: { path: { name } },
          body: { input_price_per_mtok: 5, output_price_per_mtok: 15 },
        }),
      );
    }
  });
  afterAll(async () => {
    await served?.close();
    await svc?.close();
  });

  it("ranks through the typed client, and reads admin routes with the token", async () => {
    const client = createRouterClient({ baseUrl: served.url });
    const answer = await rank(client, { query: SQL, k: 3 });
    expect(answer.scores[0]?.target).toBe("coder");
    expect(answer.hits).toHaveLength(3);
    expect(answer.embedder).toBe(svc.deps.embedder.id);

    const admin = createRouterClient({ baseUrl: served.url, adminToken: ADMIN_TOKEN });
    const targets = unwrap(await admin.GET("/admin/targets"));
    expect(targets.targets.map((t) => t.name).sort()).toEqual(["cheap", "coder", "writer"]);
    const page = unwrap(
      await admin.GET("/admin/examples", { params: { query: { category: "code", limit: 2 } } }),
    );
    expect(page.examples).toHaveLength(2);
    expect(page.examples.every((e) => e.category === "code")).toBe(true);
  });

  it("turns a refusal into a RouterError with the service's code, message, details and request id", async () => {
    const client = createRouterClient({ baseUrl: served.url });
    const refusal = await rank(client, { query: SQL, targets: ["coder", "gpt-5"] }).catch((e: unknown) => e);
    expect(refusal).toBeInstanceOf(RouterError);
    const err = refusal as RouterError;
    expect([err.status, err.code, err.message]).toEqual([
      400,
      "UNKNOWN_TARGET",
      "400 UNKNOWN_TARGET: unknown targets: gpt-5",
    ]);
    expect(err.details).toEqual([{ path: "targets.1", message: "no example scores gpt-5" }]);
    expect(err.requestId).toMatch(/\S/);

    const anonymous = await createRouterClient({ baseUrl: served.url }).GET("/admin/targets");
    expect(() => unwrap(anonymous)).toThrow(expect.objectContaining({ status: 401, code: "UNAUTHORIZED" }));
  });
});

describe("the AI SDK model that routes each call, against a running service", () => {
  let svc: TestService;
  let served: { url: string; close: () => Promise<void> };
  beforeAll(async () => {
    svc = await startService();
    served = await serveLocal(svc.app.fetch);
    const examples = [
      ...TOPICS.code.map((text) => ({ text, scores: { coder: 0.95, writer: 0.4, cheap: 0.9 } })),
      ...TOPICS.poetry.map((text) => ({ text, scores: { coder: 0.3, writer: 0.95, cheap: 0.85 } })),
    ];
    expect((await svc.addExamples(examples)).status).toBe(201);
    await priceTargets(svc, { cheap: 0.1, coder: 5, writer: 5 });
  });
  afterAll(async () => {
    await served?.close();
    await svc?.close();
  });

  it("calls the model the router ranks first, and says so in providerMetadata and to onRoute", async () => {
    const models = { coder: model("coder"), writer: model("writer"), cheap: model("cheap") };
    const routes: Route[] = [];
    const routed = routedModel({
      router: createRouterClient({ baseUrl: served.url }),
      k: 3,
      models,
      onRoute: (r) => routes.push(r),
    });
    const sql = await generateText({ model: routed, prompt: SQL });
    expect(sql.text).toBe("answer from coder");
    const poem = await generateText({
      model: routed,
      instructions: "You are helpful.",
      messages: [
        { role: "user", content: SQL },
        { role: "assistant", content: "SELECT 1" },
        { role: "user", content: POEM },
      ],
    });
    // The last user message is what was ranked.
    expect(poem.text).toBe("answer from writer");
    expect(models.coder.doGenerateCalls).toHaveLength(1);
    expect(models.writer.doGenerateCalls).toHaveLength(1);
    expect(models.cheap.doGenerateCalls).toHaveLength(0);
    // The chosen model got the caller's whole prompt, untouched.
    expect(models.writer.doGenerateCalls[0]?.prompt).toHaveLength(4);

    expect(routes.map((r) => [r.target, r.reason])).toEqual([
      ["coder", "ranked"],
      ["writer", "ranked"],
    ]);
    const meta = sql.providerMetadata?.router as {
      target: string;
      reason: string;
      requestId: string;
      scores: Array<{ target: string }>;
    };
    expect(meta.target).toBe("coder");
    expect(meta.reason).toBe("ranked");
    expect(meta.requestId).toMatch(/\S/);
    expect(meta.scores.map((s) => s.target)[0]).toBe("coder");
  });

  it("streams from the chosen model, with the route on the finish", async () => {
    const models = { coder: model("coder"), writer: model("writer") };
    const routed = routedModel({ router: createRouterClient({ baseUrl: served.url }), k: 3, models });
    const result = streamText({ model: routed, prompt: POEM });
    expect(await result.text).toBe("answer from writer");
    const meta = (await result.providerMetadata)?.router as { target: string };
    expect(meta.target).toBe("writer");
    expect(models.coder.doStreamCalls).toHaveLength(0);
  });

  it("follows the objective's recommendation", async () => {
    const models = { coder: model("coder"), writer: model("writer"), cheap: model("cheap") };
    const routed = routedModel({
      router: createRouterClient({ baseUrl: served.url }),
      k: 3,
      models,
      objective: { quality_tolerance: 0.1 },
    });
    const route = await routed.choose([{ role: "user", content: [{ type: "text", text: SQL }] }]);
    expect([route.target, route.reason]).toEqual(["cheap", "recommended"]);
    expect(route.ranking?.recommended).toBe("cheap");
  });

  it("asks again without a model no example scores yet, and falls back when the router is down", async () => {
    const models = { newcomer: model("newcomer"), coder: model("coder"), writer: model("writer") };
    const routed = routedModel({ router: createRouterClient({ baseUrl: served.url }), k: 3, models });
    const route = await routed.choose([{ role: "user", content: [{ type: "text", text: SQL }] }]);
    expect([route.target, route.reason]).toEqual(["coder", "ranked"]);
    expect(route.ranking?.scores.map((s) => s.target).sort()).toEqual(["coder", "writer"]);

    const down = routedModel({
      router: createRouterClient({ baseUrl: "http://127.0.0.1:9" }),
      models,
      fallback: "writer",
    });
    const answer = await generateText({ model: down, prompt: SQL });
    expect(answer.text).toBe("answer from writer");
    const meta = answer.providerMetadata?.router as { reason: string; error: string };
    expect(meta.reason).toBe("router-error");
    expect(meta.error).toMatch(/fetch failed|ECONNREFUSED/);
  });
});

describe("reporting how the routed model did (POST /feedback), against a running service", () => {
  const FEEDBACK_TOKEN = "client-feedback-token-0123456789";
  let svc: TestService;
  let served: { url: string; close: () => Promise<void> };
  beforeAll(async () => {
    svc = await startService({ FEEDBACK_TOKEN });
    served = await serveLocal(svc.app.fetch);
    const examples = TOPICS.code.map((text) => ({ text, scores: { coder: 0.95, writer: 0.4 } }));
    expect((await svc.addExamples(examples)).status).toBe(201);
  });
  afterAll(async () => {
    await served?.close();
    await svc?.close();
  });

  it("gives the ranking's id with the route, and the client reports the outcome on it", async () => {
    const models = { coder: model("coder"), writer: model("writer") };
    const routed = routedModel({ router: createRouterClient({ baseUrl: served.url }), models, k: 3 });
    const answer = await generateText({ model: routed, prompt: SQL });
    const meta = answer.providerMetadata?.router as { target: string; rankingId: string };
    expect(meta.rankingId).toMatch(/^[0-9a-f-]{36}$/);
    const reporter = createRouterClient({ baseUrl: served.url, adminToken: FEEDBACK_TOKEN });
    const recorded = await feedback(reporter, { ranking_id: meta.rankingId, target: meta.target, score: 0 });
    expect(recorded).toMatchObject({ ranking_id: meta.rankingId, target: "coder", score: 0 });
    expect(svc.deps.stores.examples.get(recorded.example_id)?.scores).toEqual({ coder: 0 });
    const refused = await feedback(reporter, {
      ranking_id: meta.rankingId,
      target: "nobody",
      score: 1,
    }).catch((e: unknown) => e);
    expect(refused).toMatchObject({ status: 400, code: "VALIDATION_FAILED" });
  });

  it("follows the router's exploration, and reports a preference between two models", async () => {
    const exploring = await startService({ FEEDBACK_TOKEN, EXPLORATION_SHARE: "1" });
    const server = await serveLocal(exploring.app.fetch);
    try {
      // Close scores: the runner-up wins some posterior draws.
      const examples = TOPICS.code.map((text) => ({ text, scores: { coder: 0.6, writer: 0.55 } }));
      expect((await exploring.addExamples(examples)).status).toBe(201);
      const models = { coder: model("coder"), writer: model("writer") };
      const routed = routedModel({ router: createRouterClient({ baseUrl: server.url }), models, k: 3 });
      let explored: Awaited<ReturnType<typeof routed.choose>> | undefined;
      for (let i = 0; i < 100 && !explored; i++) {
        const route = await routed.choose([{ role: "user", content: [{ type: "text", text: SQL }] }]);
        expect(route.reason).toBe("recommended");
        expect(route.target).toBe(route.ranking?.recommended);
        if (route.ranking?.exploration?.explored) explored = route;
      }
      if (!explored?.ranking) throw new Error("no exploration in 100 calls at share 1");
      expect(explored.target).toBe("writer");
      const reporter = createRouterClient({ baseUrl: server.url, adminToken: FEEDBACK_TOKEN });
      const recorded = await feedback(reporter, {
        ranking_id: explored.ranking.ranking_id,
        preferred: "writer",
        over: "coder",
      });
      expect(recorded).toMatchObject({ preferred: "writer", over: "coder", tie: false, status: "accepted" });
    } finally {
      await server.close();
      await exploring.close();
    }
  });
});
