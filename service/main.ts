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
  const server = serve(
    { fetch: app.fetch, port: config.server.port, hostname: config.server.host },
    (info) => {
      logger.info("listening", { address: info.address, port: info.port, embedder: deps.embedder.id });
    },
  );

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info("shutting down", { signal });
    server.close(() => {
      deps.close().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    });
    // Idle keep-alive connections would hold close() open; give in-flight requests 10 s.
    setTimeout(() => process.exit(0), 10_000).unref();
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
