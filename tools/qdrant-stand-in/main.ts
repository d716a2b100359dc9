/**
 * The Qdrant stand-in as a standalone server, so that a primary and replicas can be separate
 * processes talking to one "Qdrant":
 *
 *   npm run qdrant:stand-in -- [--port 6333] [--host 127.0.0.1]
 *
 * Prints one line when listening: {"url": ..., "port": ..., "contract": ...}. Requests or answers
 * that do not fit Qdrant's contract are logged to stderr as they happen. Stops on SIGTERM or SIGINT
 * (exit 1 if anything did not fit).
 */
import { parseArgs } from "node:util";
import { QdrantStandIn } from "./server.ts";

const { values } = parseArgs({
  options: { port: { type: "string", default: "0" }, host: { type: "string", default: "127.0.0.1" } },
});
const standIn = await new QdrantStandIn().start(Number(values.port), values.host);
const port = Number(new URL(standIn.url).port);
process.stdout.write(
  `${JSON.stringify({ url: standIn.url, port, contract: standIn.contract ? `Qdrant ${standIn.contract.version}` : null })}\n`,
);
let reported = 0;
const report = setInterval(() => {
  for (; reported < standIn.violations.length; reported++) {
    process.stderr.write(`contract violation: ${standIn.violations[reported]}\n`);
  }
}, 200);
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.once(signal, () => {
    clearInterval(report);
    // Exits 1 when anything did not fit Qdrant's contract (each was logged as it happened).
    void standIn.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}
