/**
 * The router as a Vercel AI SDK language model: for each call it asks `POST /rank` which of the
 * caller's models to use for the prompt, calls that model, and says what it chose (in the result's
 * `providerMetadata.router`, and to `onRoute`).
 *
 *   const model = routedModel({
 *     router: createRouterClient({ baseUrl: "http://localhost:8888" }),
 *     models: { "gpt-4o": openai("gpt-4o"), "gpt-4o-mini": openai("gpt-4o-mini") },
 *   });
 *   const { text, providerMetadata } = await generateText({ model, prompt: "write a haiku about rain" });
 *   // later, how it went (with FEEDBACK_TOKEN): feedback(router, { ranking_id, target, score })
 *
 * The keys of `models` are the router's target names. When the router cannot answer (unreachable,
 * a refusal, none of the models ranked), the call still goes through, to `fallback`.
 */
import type {
  JSONObject,
  LanguageModelV4,
  LanguageModelV4CallOptions,
  LanguageModelV4Prompt,
  LanguageModelV4StreamPart,
  SharedV4ProviderMetadata,
} from "@ai-sdk/provider";
import { type RankRequest, type RankResponse, type RouterClient, RouterError, unwrap } from "./index.ts";

/** What the router chose for one call, and why. */
export interface Route {
  /** The key of `models` that answered. */
  target: string;
  /**
   * `ranked`: the best-scored of the models; `recommended`: the router's recommendation (an
   * objective's choice, or with the service's exploration on, its choice; `ranking.exploration` says
   * whether it explored and its propensity, to weigh the outcome); `fallback`: the
   * router answered but could not choose among these models (its own fallback, or none ranked);
   * `router-error`: the router could not be asked (see `error`).
   */
  reason: "ranked" | "recommended" | "fallback" | "router-error";
  /** The router's answer, when it gave one. */
  ranking?: RankResponse;
  /** The router's X-Request-Id for this ranking. */
  requestId?: string;
  /** Why the router could not be asked. */
  error?: unknown;
}

export interface RoutedModelOptions {
  router: RouterClient;
  /** The models to choose from, keyed by the router's target names. */
  models: Record<string, LanguageModelV4>;
  /** Cost-aware choice, as `/rank` takes it: the answer's `recommended` is used. */
  objective?: RankRequest["objective"];
  /** Neighbours for `/rank` (default: the service's). */
  k?: number;
  /** The model that answers when the router cannot choose (default: the first of `models`). */
  fallback?: string;
  /** The text the router ranks (default: the text of the last user message). */
  query?: (prompt: LanguageModelV4Prompt) => string;
  /** Called with each call's route, before the chosen model is called. */
  onRoute?: (route: Route) => void;
  /** Longest wait for `/rank` before falling back, in ms (default 2000). */
  timeoutMs?: number;
}

/** The text of the last user message: what a router should rank. */
export function lastUserText(prompt: LanguageModelV4Prompt): string {
  for (let i = prompt.length - 1; i >= 0; i--) {
    const message = prompt[i];
    if (message?.role !== "user") continue;
    return message.content
      .flatMap((part) => (part.type === "text" ? [part.text] : []))
      .join("\n")
      .trim();
  }
  return "";
}

/** A language model that asks the router which model answers each call. */
export interface RoutedModel extends LanguageModelV4 {
  /** The route the router gives `prompt` (what a call would use), without calling a model. */
  choose(prompt: LanguageModelV4Prompt, signal?: AbortSignal): Promise<Route>;
}

/** A language model that lets the router pick which of `models` answers each call. */
export function routedModel(options: RoutedModelOptions): RoutedModel {
  const names = Object.keys(options.models);
  const fallback = options.fallback ?? names[0];
  if (fallback === undefined || !(fallback in options.models)) {
    throw new Error("routedModel needs at least one model, and fallback must be one of them");
  }
  const query = options.query ?? lastUserText;

  /** Asks the router which model should answer `prompt`. */
  async function choose(prompt: LanguageModelV4Prompt, signal?: AbortSignal): Promise<Route> {
    const text = query(prompt);
    if (text === "") return { target: fallback as string, reason: "fallback" };
    const timeout = AbortSignal.timeout(options.timeoutMs ?? 2000);
    const abort = signal ? AbortSignal.any([signal, timeout]) : timeout;
    let targets = names;
    try {
      // A model no example scores yet is refused by name (UNKNOWN_TARGET, `targets.<i>`): ask
      // again without it, once.
      for (let attempt = 0; ; attempt++) {
        const body: RankRequest = {
          query: text,
          targets,
          ...(options.k !== undefined && { k: options.k }),
          ...(options.objective && { objective: options.objective }),
        };
        try {
          const result = await options.router.POST("/rank", { body, signal: abort });
          const ranking = unwrap(result);
          const requestId = result.response.headers.get("x-request-id") ?? undefined;
          return pick(ranking, requestId);
        } catch (err) {
          const unknown =
            err instanceof RouterError && err.code === "UNKNOWN_TARGET" ? refused(err, targets) : [];
          const rest = targets.filter((t) => !unknown.includes(t));
          if (attempt > 0 || unknown.length === 0) throw err;
          if (rest.length === 0) return { target: fallback as string, reason: "fallback" };
          targets = rest;
        }
      }
    } catch (error) {
      if (signal?.aborted) throw error;
      return { target: fallback as string, reason: "router-error", error };
    }
  }

  function pick(ranking: RankResponse, requestId: string | undefined): Route {
    const base = { ranking, ...(requestId && { requestId }) };
    // An objective's choice, or the router exploring (EXPLORATION_SHARE): follow its recommendation.
    if (
      (options.objective || ranking.exploration) &&
      ranking.recommended &&
      ranking.recommended in options.models
    ) {
      return { ...base, target: ranking.recommended, reason: "recommended" };
    }
    const best = ranking.scores.find((s) => s.target in options.models);
    if (ranking.fallback || !best || (options.objective && !ranking.recommended)) {
      return { ...base, target: fallback as string, reason: "fallback" };
    }
    return { ...base, target: best.target, reason: "ranked" };
  }

  async function route(call: LanguageModelV4CallOptions): Promise<{ model: LanguageModelV4; route: Route }> {
    const chosen = await choose(call.prompt, call.abortSignal);
    options.onRoute?.(chosen);
    return { model: options.models[chosen.target] as LanguageModelV4, route: chosen };
  }

  return {
    specificationVersion: "v4",
    provider: "knn-llm-router",
    modelId: `router(${names.join(",")})`,
    // Which model answers is known only per call: URLs are downloaded for every model alike.
    supportedUrls: {},
    choose,
    async doGenerate(call) {
      const { model, route: chosen } = await route(call);
      const result = await model.doGenerate(call);
      return { ...result, providerMetadata: withRoute(result.providerMetadata, chosen) };
    },
    async doStream(call) {
      const { model, route: chosen } = await route(call);
      const result = await model.doStream(call);
      const stream = result.stream.pipeThrough(
        new TransformStream<LanguageModelV4StreamPart, LanguageModelV4StreamPart>({
          transform(part, controller) {
            controller.enqueue(
              part.type === "finish"
                ? { ...part, providerMetadata: withRoute(part.providerMetadata, chosen) }
                : part,
            );
          },
        }),
      );
      return { ...result, stream };
    },
  };
}

/** The targets a refusal named (`details[].path` is `targets.<i>`). */
function refused(err: RouterError, targets: string[]): string[] {
  return (err.details ?? []).flatMap((d) => {
    const i = /^targets\.(\d+)$/.exec(d.path)?.[1];
    const name = i === undefined ? undefined : targets[Number(i)];
    return name === undefined ? [] : [name];
  });
}

/** What `providerMetadata.router` holds: the route, as JSON. */
export interface RouteMetadata {
  target: string;
  reason: Route["reason"];
  requestId?: string;
  /** The ranking's id: what an outcome names (`feedback(client, { ranking_id, ... })`). */
  rankingId?: string;
  scores?: Array<{ target: string; score: number; support: number }>;
  fallback?: boolean;
  error?: string;
}

/**
 * The route a routed call took, read from its result's `providerMetadata` (`generateText`'s,
 * `streamText`'s): undefined when there is none (the call did not go through `routedModel`).
 */
export function routeOf(metadata: SharedV4ProviderMetadata | undefined): RouteMetadata | undefined {
  const router = metadata?.router;
  if (!router || typeof router.target !== "string" || typeof router.reason !== "string") return undefined;
  return router as unknown as RouteMetadata;
}

/** The route as provider metadata (JSON only): `providerMetadata.router`. */
function withRoute(metadata: SharedV4ProviderMetadata | undefined, route: Route): SharedV4ProviderMetadata {
  const router: JSONObject = {
    target: route.target,
    reason: route.reason,
    ...(route.requestId && { requestId: route.requestId }),
    ...(route.ranking && { rankingId: route.ranking.ranking_id }),
    ...(route.ranking && {
      scores: route.ranking.scores.map((s) => ({ target: s.target, score: s.score, support: s.support })),
      fallback: route.ranking.fallback,
    }),
    ...(route.error !== undefined && { error: String(route.error) }),
  };
  return { ...metadata, router };
}
