import type { Server } from "node:http";
import type { AddressInfo } from "node:net";

/** Starts `server` on a loopback port (`port`, or a free one); resolves to its base URL. */
export async function listenLocal(server: Server, port = 0): Promise<string> {
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Stops `server`, dropping kept-alive connections so the close does not wait on them. */
export async function closeLocal(server: Server | undefined): Promise<void> {
  if (!server) return;
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
}

/** A loopback port nothing listens on now (taken and given back). */
export async function freePort(): Promise<number> {
  const { createServer } = await import("node:net");
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
  const { port } = probe.address() as AddressInfo;
  await new Promise((r) => probe.close(r));
  return port;
}
