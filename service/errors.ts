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
