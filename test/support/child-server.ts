import { type ChildProcess, spawn } from "node:child_process";

/** The real server (`service/main.ts`, or another script) as a child process, for tests about the process itself. */
export class ChildServer {
  readonly lines: string[] = [];
  url = "";
  private readonly exited: Promise<number | null>;
  private readonly waiting: Array<() => void> = [];

  private constructor(readonly child: ChildProcess) {
    this.exited = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
    let buffered = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      buffered += chunk.toString("utf8");
      const parts = buffered.split("\n");
      buffered = parts.pop() ?? "";
      for (const line of parts) {
        this.lines.push(line);
        const m = /"message":"listening"/.test(line) ? /"port":(\d+)/.exec(line) : null;
        if (m) {
          this.url = `http://127.0.0.1:${m[1]}`;
          for (const wake of this.waiting.splice(0)) wake();
        }
      }
    });
  }

  /** Starts it with `env` on a free loopback port; resolves once it logs that it listens. */
  static async start(
    env: Record<string, string>,
    timeoutMs = 30_000,
    nodeArgs: readonly string[] = [],
  ): Promise<ChildServer> {
    const server = ChildServer.spawn(env, "service/main.ts", nodeArgs);
    await server.listening(timeoutMs);
    return server;
  }

  /** Starts `script` (the server by default; `nodeArgs` before it, e.g. --cpu-prof) without waiting: to kill it while it starts or works. */
  static spawn(
    env: Record<string, string>,
    script = "service/main.ts",
    nodeArgs: readonly string[] = [],
  ): ChildServer {
    return ChildServer.command(process.execPath, [...nodeArgs, "--import", "tsx", script], env);
  }

  /** Starts the server through any command (`npm start`, a build's `node dist/main.js`) without waiting. */
  static command(
    command: string,
    args: readonly string[],
    env: Record<string, string>,
    cwd?: string,
  ): ChildServer {
    const child = spawn(command, args, {
      ...(cwd && { cwd }),
      env: { PATH: process.env.PATH ?? "", PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "info", ...env },
      stdio: ["ignore", "ignore", "pipe"],
    });
    return new ChildServer(child);
  }

  /** Resolves once the server logs that it listens (its URL is then set); rejects if it exits first. */
  listening(timeoutMs = 30_000): Promise<void> {
    if (this.url) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no "listening" within ${timeoutMs} ms:\n${this.lines.join("\n")}`)),
        timeoutMs,
      );
      this.waiting.push(() => {
        clearTimeout(timer);
        resolve();
      });
      this.exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`exited with ${code} before listening:\n${this.lines.join("\n")}`));
      });
    });
  }

  /** Resolves to the exit code (null when killed by a signal). */
  exit(): Promise<number | null> {
    return this.exited;
  }

  kill(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }
}
