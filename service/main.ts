import type { Server } from "node:http";
import { Server as NetServer } from "node:net";
import { serve } from "@hono/node-server";
import { createApp } from "./app.ts";
import { ConfigError, loadConfig } from "./config.ts";
import { buildDeps } from "./deps.ts";
import { StartupError } from "./errors.ts";
import { createLogger, errorFields } from "./logger.ts";

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.server.logLevel);
  if (!config.admin.token) logger.warn("ADMIN_TOKEN is not set: the admin API answers 503 ADMIN_DISABLED");
  const deps = await buildDeps(config, logger);
  const app = createApp(deps);
  // An HTTP/1.1 server (serve's default): closeIdleConnections and closeAllConnections exist.
  const server = serve(
    { fetch: app.fetch, port: config.server.port, hostname: config.server.host },
    (info) => {
      logger.info("listening", { address: info.address, port: info.port, embedder: deps.embedder.id });
    },
  ) as Server;

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    // Drain: the listener closes at once (new connections are refused, never accepted and cut);
    // on the connections already open, new requests answer 503 and every response closes its
    // connection. Idle keep-alive connections are closed only after a short linger: closed at
    // once, one a client is writing a request onto at that moment would be reset, while a client
    // that sends within the linger gets a clean answer and a closed connection. The process
    // exits once the last connection is closed.
    deps.lifecycle.draining = true;
    logger.info("shutting down: draining", { signal, graceMs: config.server.shutdownGraceMs });
    const forced = setTimeout(() => {
      logger.warn("grace period over: closing the connections still open");
      server.closeAllConnections();
      deps.close().finally(() => process.exit(1));
    }, config.server.shutdownGraceMs);
    forced.unref();
    // net.Server's close stops listening and waits for the connections; http.Server's would also
    // close the idle keep-alive ones at once (Node >= 19), racing clients that are sending.
    NetServer.prototype.close.call(server, () => {
      clearTimeout(forced);
      deps.close().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    });
    const linger = Math.min(1_000, config.server.shutdownGraceMs / 4);
    setTimeout(() => server.closeIdleConnections(), linger).unref();
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
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
