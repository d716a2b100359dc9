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

/**
 * A loopback port nothing listens on now (taken and given back), for a server a test starts later
 * on it. It is chosen below the kernel's ephemeral range, from which every `listen(0)` and outgoing
 * connection takes its port: otherwise another server of the same run can be given it meanwhile.
 */
export async function freePort(): Promise<number> {
  const { createServer } = await import("node:net");
  const { readFileSync } = await import("node:fs");
  let low = 32768;
  try {
    low =
      Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]) || low;
  } catch {
    // Not Linux: the usual bound.
  }
  const from = Math.max(1024, low - 10_000);
  for (;;) {
    const port = from + Math.floor(Math.random() * (low - from));
    const probe = createServer();
    const bound = await new Promise<boolean>((resolve) => {
      probe.once("error", () => resolve(false));
      probe.listen(port, "127.0.0.1", () => resolve(true));
    });
    if (bound) {
      await new Promise((r) => probe.close(r));
      return port;
    }
  }
}
