import type { Embedding } from "../core/active-embedding.ts";
import { AppError } from "../errors.ts";
import { errorFields, type Logger } from "../logger.ts";
import type { DocumentStore } from "./publisher.ts";
import { parseRoutingDocument, type RoutingDocument } from "./routing-document.ts";

/** What a replica serves with: a document, and the embedder and index it names, swapped together. */
interface Followed {
  doc: RoutingDocument;
  embedding: Embedding;
}

/**
 * A replica's side of the routing document: it reads the document from Qdrant every `pollMs` and,
 * when its version changed, opens what the new one names (the embedder with its features, the
 * collection's alias) before putting document, embedder and index in force at once; a request takes
 * all three together. Until a first document is read the replica is not ready and says why; past
 * `maxStalenessSeconds` without a successful read it is not ready again (it keeps serving the last
 * document meanwhile).
 */
export class DocumentFollower {
  private followed: Followed | undefined;
  private readAt = 0;
  private problem = "no routing document read yet";
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;

  constructor(
    private readonly store: DocumentStore,
    /** Opens the embedder and index `doc` names (reusing `previous`'s when they are the same). */
    private readonly open: (doc: RoutingDocument, previous: Embedding | undefined) => Promise<Embedding>,
    private readonly logger: Logger,
    private readonly options: { pollMs: number; maxStalenessSeconds: number },
  ) {}

  /** Reads the document now, then every `pollMs`; never throws (a failure leaves it not ready). */
  async start(): Promise<void> {
    await this.pollNow();
    this.timer = setInterval(() => void this.pollNow(), this.options.pollMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.polling;
  }

  /** The document, embedder and index in force; NOT_READY before the first document. */
  current(): Embedding {
    return this.followedOrThrow().embedding;
  }

  document(): RoutingDocument {
    return this.followedOrThrow().doc;
  }

  /** The version in force and how long ago the document was last read. */
  state(): { version: number; ageSeconds: number } | undefined {
    if (!this.followed) return undefined;
    return { version: this.followed.doc.version, ageSeconds: (Date.now() - this.readAt) / 1000 };
  }

  /** Resolves when the replica can serve: a document read within the staleness bound. */
  async check(): Promise<void> {
    if (!this.followed) throw new AppError("NOT_READY", this.problem, { retryAfterSeconds: 2 });
    const age = (Date.now() - this.readAt) / 1000;
    if (age > this.options.maxStalenessSeconds) {
      throw new AppError(
        "NOT_READY",
        `routing document not read for ${Math.round(age)} s (REPLICA_MAX_STALENESS_S=${this.options.maxStalenessSeconds}): ${this.problem}`,
        { retryAfterSeconds: 2 },
      );
    }
  }

  /**
   * Reads the document (after a read in progress, which may have begun before what the caller
   * waits for was published) and puts a new version in force.
   */
  async pollNow(): Promise<void> {
    if (this.polling) await this.polling;
    this.polling ??= this.poll().finally(() => {
      this.polling = undefined;
    });
    return this.polling;
  }

  private async poll(): Promise<void> {
    try {
      const read = await this.store.read();
      if (!read) {
        this.problem =
          "no routing document yet: the primary has not published one (is it running with this Qdrant?)";
        if (this.followed) this.readAt = Date.now();
        return;
      }
      const doc = parseRoutingDocument(read.body);
      if (doc.version !== this.followed?.doc.version) {
        const embedding = await this.open(doc, this.followed?.embedding);
        const previous = this.followed;
        this.followed = { doc, embedding };
        if (previous) await retire(previous.embedding, embedding);
        this.logger.info("routing document in force", {
          version: doc.version,
          embedder: doc.embedder.id,
          collection: doc.collection,
        });
      }
      this.readAt = Date.now();
      this.problem = "";
    } catch (err) {
      this.problem = err instanceof Error ? err.message : String(err);
      this.logger.warn("could not follow the routing document", errorFields(err));
    }
  }

  private followedOrThrow(): Followed {
    if (!this.followed) throw new AppError("NOT_READY", this.problem, { retryAfterSeconds: 2 });
    return this.followed;
  }
}

/** Closes the previous index when the new embedding has another (embedders share one model: kept). */
async function retire(previous: Embedding, next: Embedding): Promise<void> {
  if (previous.index !== next.index) await previous.index.close().catch(() => undefined);
}
