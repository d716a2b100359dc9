import { errorFields, type Logger } from "../logger.ts";
import { contentDigest, type DocumentContent, type RoutingDocument } from "./routing-document.ts";

/** Where the document lives (Qdrant, for replicas to read). */
export interface DocumentStore {
  read(): Promise<{ version: number; body: Record<string, unknown> } | undefined>;
  write(version: number, body: Record<string, unknown>): Promise<void>;
}

/**
 * The primary's side of the routing document: every `intervalMs` (and at once when kicked after a
 * write) it builds the document's content from what is in force and, when it differs from the last
 * one published, publishes it as the next version. A failed publish is retried on the next round.
 */
export class DocumentPublisher {
  private version = 0;
  private digest: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = true;
  private continued = false;

  constructor(
    private readonly store: DocumentStore,
    private readonly build: () => DocumentContent,
    private readonly logger: Logger,
    private readonly intervalMs = 500,
    private readonly onPublish?: (doc: RoutingDocument) => void,
  ) {}

  /** The last version published (0 before the first). */
  get published(): number {
    return this.version;
  }

  /** Reads the version published before (a restarted primary continues it), publishes, and keeps publishing. */
  async start(): Promise<void> {
    this.stopped = false;
    await this.publishNow();
    this.schedule();
  }

  /** Publishes soon (a write changed what the document holds). */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    // Cleared asynchronously, after it is set, however fast the round ends.
    this.running = this.round().finally(() => {
      this.running = undefined;
    });
  }

  /** Publishes now if the content changed; resolves once written (or once the attempt failed). */
  async publishNow(): Promise<void> {
    while (this.running) await this.running;
    this.kick();
    await this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    while (this.running) await this.running;
  }

  private schedule(): void {
    clearTimeout(this.timer);
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.kick();
      this.schedule();
    }, this.intervalMs);
    this.timer.unref();
  }

  private async round(): Promise<void> {
    try {
      // The version published before (a restarted primary continues it), read before the first
      // write: a store that does not answer yet is read again on the next round.
      if (!this.continued) {
        const previous = await this.store.read();
        if (previous) {
          this.version = previous.version;
          this.digest = contentDigest(withoutStamp(previous.body));
        }
        this.continued = true;
      }
      do {
        this.again = false;
        const content = this.build();
        const digest = contentDigest(content);
        if (digest === this.digest) continue;
        const doc: RoutingDocument = {
          version: this.version + 1,
          publishedAt: new Date().toISOString(),
          ...content,
        };
        await this.store.write(doc.version, doc as unknown as Record<string, unknown>);
        this.version = doc.version;
        this.digest = digest;
        this.onPublish?.(doc);
        this.logger.debug("routing document published", { version: doc.version });
      } while (this.again && !this.stopped);
    } catch (err) {
      this.logger.warn("could not publish the routing document; will retry", errorFields(err));
    }
  }
}

function withoutStamp(body: Record<string, unknown>): DocumentContent {
  const { version: _v, publishedAt: _p, ...content } = body as unknown as RoutingDocument;
  return content;
}
