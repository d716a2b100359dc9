/**
 * Requests in flight, so that bulk work (an import written a chunk at a time) can let them go
 * first: `quiet()` resolves once no request other than the bulk work's own is in flight, or after
 * `maxWaitMs`, so bulk work under constant load still moves (a chunk every `maxWaitMs` at least).
 */
export class Traffic {
  private inFlight = 0;
  /** Bulk jobs running; each one's own request (if it came by HTTP) is in flight too. */
  private bulk = 0;
  private readonly waiting = new Set<() => void>();

  /** A request begins; call the returned function when it ends. */
  enter(): () => void {
    this.inFlight++;
    let left = false;
    return () => {
      if (left) return;
      left = true;
      this.inFlight--;
      // On the next turn: this request's response is written before bulk work takes the thread.
      if (this.isQuiet() && this.waiting.size > 0) {
        setImmediate(() => {
          if (this.isQuiet()) for (const wake of [...this.waiting]) wake();
        });
      }
    };
  }

  /** Runs `work` as bulk work: its own request does not count against `quiet`. */
  async asBulk<T>(work: () => Promise<T>): Promise<T> {
    this.bulk++;
    try {
      return await work();
    } finally {
      this.bulk--;
    }
  }

  /** Resolves when no other request is in flight, or after `maxWaitMs`. */
  quiet(maxWaitMs = 50): Promise<void> {
    if (this.isQuiet()) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.waiting.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, maxWaitMs);
      this.waiting.add(wake);
    });
  }

  private isQuiet(): boolean {
    return this.inFlight - this.bulk <= 0;
  }
}
