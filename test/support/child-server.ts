import { type ChildProcess, spawn } from "node:child_process";

/** The real server (`service/main.ts`) as a child process, for tests about the process itself. */
export class ChildServer {
  readonly lines: string[] = [];
  url = "";
  private exited: Promise<number | null>;

  private constructor(readonly child: ChildProcess) {
    this.exited = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
  }

  /** Starts it with `env` on a free loopback port; resolves once it logs that it listens. */
  static async start(env: Record<string, string>, timeoutMs = 30_000): Promise<ChildServer> {
    const child = spawn(process.execPath, ["--import", "tsx", "service/main.ts"], {
      env: { PATH: process.env.PATH ?? "", PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "info", ...env },
      stdio: ["ignore", "ignore", "pipe"],
    });
    const server = new ChildServer(child);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no "listening" within ${timeoutMs} ms:\n${server.lines.join("\n")}`)),
        timeoutMs,
      );
      let buffered = "";
      child.stderr?.on("data", (chunk: Buffer) => {
        buffered += chunk.toString("utf8");
        const parts = buffered.split("\n");
        buffered = parts.pop() ?? "";
        for (const line of parts) {
          server.lines.push(line);
          const m = /"message":"listening"/.test(line) ? /"port":(\d+)/.exec(line) : null;
          if (m) {
            server.url = `http://127.0.0.1:${m[1]}`;
            clearTimeout(timer);
            resolve();
          }
        }
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`exited with ${code} before listening:\n${server.lines.join("\n")}`));
      });
    });
    return server;
  }

  /** Resolves to the exit code (null when killed by a signal). */
  exit(): Promise<number | null> {
    return this.exited;
  }

  kill(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }
}
