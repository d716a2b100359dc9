/** The closed set of error codes the API answers with, and the HTTP status of each. */
export const ERROR_STATUS = {
  INVALID_JSON: 400,
  VALIDATION_FAILED: 400,
  UNKNOWN_TARGET: 400,
  UNAUTHORIZED: 401,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  ADMIN_DISABLED: 503,
  FEEDBACK_DISABLED: 503,
  NOT_READY: 503,
  EMBEDDER_UNAVAILABLE: 503,
  VECTOR_STORE_UNAVAILABLE: 503,
  INTERNAL: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

/**
 * When each code is answered: docs/api.md's error table is generated from this and ERROR_STATUS
 * (`npm run docs:errors`), and a test fails when the two differ.
 */
export const ERROR_MEANING: Record<ErrorCode, string> = {
  INVALID_JSON: "the body is empty, not JSON, or not UTF-8",
  VALIDATION_FAILED: "a field is missing, of the wrong type, out of range, or unknown; `details` names each",
  UNKNOWN_TARGET: "`targets` names a target no example scores",
  UNAUTHORIZED:
    "a call without the token its route needs (`Authorization: Bearer <ADMIN_TOKEN>`, or the feedback or replica token where those are taken)",
  NOT_FOUND: "no such route, example, target or ranking",
  METHOD_NOT_ALLOWED: "the route exists, not with this method; `Allow` lists those it takes",
  CONFLICT:
    "the write clashes with what is stored: an id that exists (`POST /admin/examples`: use `PUT`), a backup name taken, settings pinned, a target scored again while being deleted",
  PAYLOAD_TOO_LARGE: "body over `RANK_BODY_LIMIT_BYTES` / `ADMIN_BODY_LIMIT_BYTES`",
  UNSUPPORTED_MEDIA_TYPE:
    "a body of a content type the route does not read (`/admin/import`, `POST /admin/backup`)",
  ADMIN_DISABLED: "admin call while `ADMIN_TOKEN` is unset, or on a replica",
  FEEDBACK_DISABLED: "an outcome or a hand-off while `FEEDBACK_TOKEN` is unset",
  NOT_READY:
    "the service is starting (a first start waiting for its embedder) or shutting down; `Retry-After` is set",
  EMBEDDER_UNAVAILABLE: "the embedding backend failed; `Retry-After` is set when a retry can help",
  VECTOR_STORE_UNAVAILABLE: "the vector store timed out, rate-limited or failed; `Retry-After` is set",
  INTERNAL: "anything else; logged with its stack, never echoed",
};

/** The error table of docs/api.md, from ERROR_STATUS and ERROR_MEANING. */
export function errorTable(): string {
  const rows = (Object.keys(ERROR_STATUS) as ErrorCode[]).map(
    (code) => `| \`${code}\` | ${ERROR_STATUS[code]} | ${ERROR_MEANING[code]} |`,
  );
  return ["| code | status | when |", "|---|---|---|", ...rows].join("\n");
}

/** One problem with one field of a request, as `path` (dotted) and what is wrong with it. */
export interface FieldIssue {
  path: string;
  message: string;
}

/**
 * The only error type the service raises on purpose. Adapters translate vendor failures into it,
 * keeping the original as `cause`, and say whether retrying can help (`retryAfterSeconds`).
 */
export class AppError extends Error {
  override readonly name = "AppError";

  constructor(
    readonly code: ErrorCode,
    message: string,
    options: { cause?: unknown; details?: FieldIssue[]; retryAfterSeconds?: number } = {},
  ) {
    super(message, { cause: options.cause });
    this.details = options.details;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }

  /** Field-level problems behind a VALIDATION_FAILED, in request order. */
  readonly details: FieldIssue[] | undefined;
  /** Set when the failure is transient: the client may retry after this many seconds. */
  readonly retryAfterSeconds: number | undefined;

  get status(): (typeof ERROR_STATUS)[ErrorCode] {
    return ERROR_STATUS[this.code];
  }
}

/** A start-up failure the operator must fix; its message says how. */
export class StartupError extends Error {
  override readonly name = "StartupError";
}
