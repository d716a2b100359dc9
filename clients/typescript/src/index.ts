/**
 * A typed client of knn-llm-router, generated from the service's OpenAPI document (`schema.ts`,
 * by openapi-typescript) and calling it through openapi-fetch: every path, body and answer is
 * typed as the service declares it.
 *
 *   const router = createRouterClient({ baseUrl: "http://localhost:8888" });
 *   const { scores } = await rank(router, { query: "write a haiku about rain", k: 3 });
 */
import createClient, { type Client, type ClientOptions } from "openapi-fetch";
import type { components, operations, paths } from "./schema.ts";

export type { components, operations, paths };
export type RankRequest = components["schemas"]["RankRequest"];
export type RankResponse = components["schemas"]["RankResponse"];
export type ErrorBody = components["schemas"]["Error"];
export type ErrorCode = ErrorBody["error"]["code"];
export type Example = components["schemas"]["Example"];
export type Target = components["schemas"]["Target"];
export type RouterClient = Client<paths>;

export interface RouterClientOptions extends ClientOptions {
  /** The service's address, e.g. `http://localhost:8888`. */
  baseUrl: string;
  /** ADMIN_TOKEN, sent as a bearer token on every call (needed for `/admin/*`). */
  adminToken?: string;
}

/** A client of every route, typed from the service's contract. */
export function createRouterClient({ adminToken, ...options }: RouterClientOptions): RouterClient {
  const client = createClient<paths>(options);
  if (adminToken) {
    client.use({
      onRequest({ request }) {
        request.headers.set("Authorization", `Bearer ${adminToken}`);
        return request;
      },
    });
  }
  return client;
}

/** An answer of the service that is not a success: its status and its error envelope. */
export class RouterError extends Error {
  override readonly name = "RouterError";
  readonly code: ErrorCode | undefined;
  readonly requestId: string | undefined;
  readonly details: ErrorBody["error"]["details"];

  constructor(
    readonly status: number,
    readonly body: ErrorBody | undefined,
    /** Seconds after which a retry can help (`Retry-After`), when the service said so. */
    readonly retryAfterSeconds?: number,
  ) {
    super(body ? `${status} ${body.error.code}: ${body.error.message}` : `HTTP ${status}`);
    this.code = body?.error.code;
    this.requestId = body?.error.requestId;
    this.details = body?.error.details;
  }
}

/** The data of an openapi-fetch result, or a RouterError carrying the service's error. */
export function unwrap<T>(result: { data?: T; error?: unknown; response: Response }): T {
  if (result.response.ok && result.data !== undefined) return result.data;
  const retryAfter = Number(result.response.headers.get("retry-after"));
  throw new RouterError(
    result.response.status,
    isErrorBody(result.error) ? result.error : undefined,
    Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined,
  );
}

function isErrorBody(value: unknown): value is ErrorBody {
  return typeof value === "object" && value !== null && "error" in value;
}

export type FeedbackRequest = components["schemas"]["FeedbackRequest"];
export type FeedbackRecorded = components["schemas"]["FeedbackRecorded"];

/**
 * POST /feedback: how `target` did on the prompt of ranking `ranking_id` (a score in [0, 1]); the
 * client needs FEEDBACK_TOKEN (or the admin token) as `adminToken`. Throws RouterError on a refusal.
 */
export async function feedback(client: RouterClient, body: FeedbackRequest): Promise<FeedbackRecorded> {
  return unwrap(await client.POST("/feedback", { body }));
}

/** POST /rank: the targets ranked for a prompt; throws RouterError on a refusal. */
export async function rank(
  client: RouterClient,
  body: RankRequest,
  signal?: AbortSignal,
): Promise<RankResponse> {
  return unwrap(await client.POST("/rank", { body, ...(signal && { signal }) }));
}
