import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { StartupError } from "../errors.ts";
import type { StateStore } from "../store/state-store.ts";

/** The `service_state` key of the claim. */
const WRITER_KEY = "writer";

/** Claims held by instances in this process (tests run several): a claim with this pid is alive only if listed. */
const OWNED_HERE = new Set<string>();

interface Claim {
  owner: string;
  pid: number;
  host: string;
  /** ms since the epoch */
  heartbeat: number;
}

/**
 * Keeps a second read-write instance off one SQLite file: each in-process index would miss the
 * other's writes. The instance that writes claims the file in `service_state` and renews the claim
 * every `intervalMs`; another start refuses while the claim is fresh and its process lives (a claim
 * left by a crash on this host is taken over at once: its pid is gone; from another host, once it
 * is three intervals old).
 */
export class WriterLock {
  private readonly claim: Claim = { owner: randomUUID(), pid: process.pid, host: hostname(), heartbeat: 0 };
  private timer: NodeJS.Timeout | undefined;
  private held: string | undefined;

  constructor(
    private readonly state: StateStore,
    private readonly databasePath: string,
    private readonly intervalMs = 5_000,
  ) {}

  /** Claims the file or throws a StartupError naming the instance that holds it. */
  acquire(): void {
    const current = this.state.get(WRITER_KEY);
    if (current !== undefined) {
      const other = JSON.parse(current) as Claim;
      if (this.alive(other)) {
        throw new StartupError(
          `another read-write instance (pid ${other.pid} on ${other.host}) uses DATABASE_PATH=${this.databasePath}: ` +
            "one instance writes a database: stop it first (replicas follow it through Qdrant, ROLE=replica)",
        );
      }
    }
    this.claim.heartbeat = Date.now();
    this.held = JSON.stringify(this.claim);
    if (current === undefined) this.state.set(WRITER_KEY, this.held);
    else if (!this.state.swap(WRITER_KEY, current, this.held)) {
      throw new StartupError(
        `another instance claimed DATABASE_PATH=${this.databasePath} at the same moment`,
      );
    }
    OWNED_HERE.add(this.claim.owner);
    this.timer = setInterval(() => this.renew(), this.intervalMs);
    this.timer.unref();
  }

  /**
   * Removes any claim from a copy of the database (a backup carries the claim of the instance it
   * was taken from, which may still run: the copy must start unclaimed).
   */
  static clearIn(state: StateStore): void {
    const current = state.get(WRITER_KEY);
    if (current !== undefined) state.delete(WRITER_KEY, current);
  }

  /** Gives the file up (clean stop). */
  release(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.held !== undefined) this.state.delete(WRITER_KEY, this.held);
    this.held = undefined;
    OWNED_HERE.delete(this.claim.owner);
  }

  private renew(): void {
    if (this.held === undefined) return;
    const next = JSON.stringify({ ...this.claim, heartbeat: Date.now() });
    if (this.state.swap(WRITER_KEY, this.held, next)) this.held = next;
  }

  private alive(other: Claim): boolean {
    if (other.host === hostname()) {
      if (other.pid === process.pid) return OWNED_HERE.has(other.owner);
      try {
        process.kill(other.pid, 0);
        return true;
      } catch (err) {
        // EPERM: the process exists (another user's); ESRCH: it is gone.
        return (err as NodeJS.ErrnoException).code === "EPERM";
      }
    }
    return Date.now() - other.heartbeat < 3 * this.intervalMs;
  }
}
