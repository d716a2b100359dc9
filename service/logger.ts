import { AsyncLocalStorage } from "node:async_hooks";
import { pino } from "pino";

/** Structured logging: one JSON object a line (pino), so any log shipper can read it. */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  /** A logger whose every line carries `bindings` (a request's id, say). */
  child(bindings: Record<string, unknown>): Logger;
}

export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";

/** Paths whose values never reach a log line: bearer tokens wherever a header object is logged. */
const REDACT = [
  "authorization",
  "headers.authorization",
  "*.authorization",
  "*.headers.authorization",
  "req.headers.authorization",
  "token",
  "*.token",
];

/** The logger of the request being served, for code that logs through the root logger meanwhile. */
const requestScope = new AsyncLocalStorage<pino.Logger>();

class PinoLogger implements Logger {
  constructor(
    private readonly base: pino.Logger,
    /** The root logger writes through the current request's child, so its lines carry the request id. */
    private readonly followsRequest: boolean,
  ) {}

  private get target(): pino.Logger {
    return (this.followsRequest && requestScope.getStore()) || this.base;
  }

  debug(message: string, fields?: Record<string, unknown>): void {
    this.target.debug(fields ?? {}, message);
  }
  info(message: string, fields?: Record<string, unknown>): void {
    this.target.info(fields ?? {}, message);
  }
  warn(message: string, fields?: Record<string, unknown>): void {
    this.target.warn(fields ?? {}, message);
  }
  error(message: string, fields?: Record<string, unknown>): void {
    this.target.error(fields ?? {}, message);
  }

  child(bindings: Record<string, unknown>): PinoLogger {
    return new PinoLogger(this.target.child(bindings), false);
  }

  /** Runs `fn` with `child` as the logger every root-logger line goes through. */
  scope<T>(child: PinoLogger, fn: () => T): T {
    return requestScope.run(child.base, fn);
  }
}

/**
 * The service's logger at `level`, writing JSON lines to stderr (or to `write`, for tests):
 * `{"level":"info","time":"…","message":"…",…}`. `Authorization` headers and tokens are redacted.
 */
export function createLogger(level: LogLevel, write?: (line: string) => void): Logger {
  const base = pino(
    {
      level,
      base: undefined,
      messageKey: "message",
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACT, censor: "[redacted]" },
    },
    write ? { write } : pino.destination({ fd: 2, sync: true }),
  );
  return new PinoLogger(base, true);
}

/**
 * Runs `fn` (serving one request) so that lines written through `root` meanwhile, by any code,
 * go through `child` and carry its bindings. Loggers not made by `createLogger` just run `fn`.
 */
export function inLogScope<T>(root: Logger, child: Logger, fn: () => T): T {
  return root instanceof PinoLogger && child instanceof PinoLogger ? root.scope(child, fn) : fn();
}

/** Error fields for a log line: message and stack, never the request body. */
export function errorFields(err: unknown): Record<string, unknown> {
  if (err instanceof Error) return { error: err.message, stack: err.stack, cause: causeMessage(err.cause) };
  return { error: String(err) };
}

function causeMessage(cause: unknown): string | undefined {
  if (cause === undefined) return undefined;
  return cause instanceof Error ? cause.message : String(cause);
}
