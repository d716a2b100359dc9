import type { Server } from "node:http";
import { Server as NetServer } from "node:net";
import { serve } from "@hono/node-server";
import { createApp } from "./app.ts";
import { ConfigError, loadConfig, withDotEnv } from "./config.ts";
import { buildDeps } from "./deps.ts";
import { AppError, StartupError } from "./errors.ts";
import type { Deps } from "./http/context.ts";
import { startingApp } from "./http/starting.ts";
import { createLogger, errorFields, type Logger } from "./logger.ts";

/** What the process serves with: a primary's or a replica's dependencies. */
type Running = Deps & { close(): Promise<void> };

/** ROLE=replica: stateless, from Qdrant; otherwise the primary (its database, tuning, admin API). */
async function build(config: ReturnType<typeof loadConfig>, logger: Logger): Promise<Running> {
  if (config.replica.role === "replica") {
    const { buildReplica } = await import("./replica.ts");
    return buildReplica(config, logger);
  }
  return buildDeps(config, logger);
}

/** Longest wait between two start-up attempts while a backend does not answer. */
const MAX_RETRY_MS = 30_000;

/** A start-up failure that a later attempt can get past: a backend that does not answer yet. */
function retriable(err: unknown): err is AppError {
  return err instanceof AppError && err.retryAfterSeconds !== undefined;
}

type Fetch = (req: Request) => Response | Promise<Response>;

/**
 * Builds the dependencies; when a backend does not answer yet, serves `startingApp` meanwhile and
 * tries again in the background (doubling the wait up to MAX_RETRY_MS) instead of exiting, so a
 * compose stack or Kubernetes sees a live, not-ready process rather than a crash loop.
 */
async function start(
  config: ReturnType<typeof loadConfig>,
  logger: Logger,
  serveWith: (fetch: Fetch) => void,
  stopped: () => boolean,
): Promise<Running | undefined> {
  try {
    return await build(config, logger);
  } catch (err) {
    if (!retriable(err)) throw err;
    let reason: AppError = err;
    serveWith(startingApp(logger, () => reason).fetch);
    let waitMs = Math.max(1_000, (err.retryAfterSeconds ?? 1) * 1_000);
    for (let attempt = 1; !stopped(); attempt++) {
      logger.warn("a backend does not answer at start; not ready, trying again", {
        reason: reason.message,
        attempt,
        retryInMs: waitMs,
      });
      await new Promise((r) => setTimeout(r, waitMs).unref());
      if (stopped()) return undefined;
      try {
        return await build(config, logger);
      } catch (again) {
        if (!retriable(again)) throw again;
        reason = again;
        waitMs = Math.min(waitMs * 2, MAX_RETRY_MS);
      }
    }
    return undefined;
  }
}

async function main(): Promise<void> {
  const config = loadConfig(withDotEnv());
  const logger = createLogger(config.server.logLevel);
  if (config.replica.role === "replica")
    logger.info("replica: ranking by the primary's routing document in Qdrant");
  else if (!config.admin.token)
    logger.warn("ADMIN_TOKEN is not set: the admin API answers 503 ADMIN_DISABLED");
  let stopping = false;
  let server: Server | undefined;
  let deps: Running | undefined;
  let fetch: Fetch = () => new Response(null, { status: 503 });
  // An HTTP/1.1 server (serve's default): closeIdleConnections and closeAllConnections exist.
  const listen = () => {
    server = serve(
      { fetch: (req) => fetch(req), port: config.server.port, hostname: config.server.host },
      (info) =>
        logger.info("listening", {
          address: info.address,
          port: info.port,
          embedder: deps?.embedder.id,
          ready: deps !== undefined,
        }),
    ) as Server;
  };

  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info("shutting down: draining", { signal, graceMs: config.server.shutdownGraceMs });
    // Once, whichever of the drain's end and the grace period's comes first.
    let closing: Promise<void> | undefined;
    const closeDeps = () => {
      closing ??= deps?.close() ?? Promise.resolve();
      return closing;
    };
    let cut = false;
    if (!server) {
      closeDeps().then(
        () => process.exit(0),
        () => process.exit(1),
      );
      return;
    }
    const listening = server;
    // Drain: the listener closes at once (new connections are refused, never accepted and cut);
    // on the connections already open, new requests answer 503 and every response closes its
    // connection. Idle keep-alive connections are closed only after a short linger: closed at
    // once, one a client is writing a request onto at that moment would be reset, while a client
    // that sends within the linger gets a clean answer and a closed connection. The process
    // exits once the last connection is closed.
    if (deps) deps.lifecycle.draining = true;
    const forced = setTimeout(() => {
      cut = true;
      logger.warn("grace period over: closing the connections still open");
      listening.closeAllConnections();
      closeDeps().finally(() => process.exit(1));
    }, config.server.shutdownGraceMs);
    forced.unref();
    // net.Server's close stops listening and waits for the connections; http.Server's would also
    // close the idle keep-alive ones at once (Node >= 19), racing clients that are sending.
    NetServer.prototype.close.call(listening, () => {
      clearTimeout(forced);
      // Closing every connection at the grace period's end also ends the drain: still a cut.
      closeDeps().then(
        () => process.exit(cut ? 1 : 0),
        () => process.exit(1),
      );
    });
    const linger = Math.min(1_000, config.server.shutdownGraceMs / 4);
    setTimeout(() => listening.closeIdleConnections(), linger).unref();
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));

  const started = await start(
    config,
    logger,
    (starting) => {
      fetch = starting;
      listen();
    },
    () => stopping,
  );
  if (!started) return;
  if (stopping) {
    // Stopped while the last attempt was starting: nothing was served from it.
    await started.close();
    return;
  }
  deps = started;
  fetch = createApp(deps).fetch;
  if (server) logger.info("started: serving the API", { embedder: deps.embedder.id });
  else listen();
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError || err instanceof StartupError) {
    process.stderr.write(`${err.message}\n`);
  } else {
    process.stderr.write(
      `${JSON.stringify({ level: "error", message: "start-up failed", ...errorFields(err) })}\n`,
    );
  }
  process.exit(1);
});
