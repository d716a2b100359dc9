import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createApp } from "../service/app.ts";
import {
  type Embedder,
  type EmbedPriority,
  prepareText,
  WrappedEmbedder,
} from "../service/embedding/embedder.ts";
import { HashEmbedder } from "../service/embedding/hash.ts";
import type { ReplicaRunning } from "../service/replica.ts";
import { openDatabase } from "../service/store/database.ts";
import { IndexLedger } from "../service/store/index-ledger.ts";
import { StagingStore } from "../service/store/staging-store.ts";
import { StateStore } from "../service/store/state-store.ts";
import { TEMPLATES_KEY } from "../service/templates/state.ts";
import {
  RecordingLogger,
  ranked,
  startReplica,
  startService,
  type TestService,
  tempDir,
} from "./support/harness.ts";
import { TestQdrant } from "./support/qdrant.ts";

/** A few-shot block and an instruction every prompt carries: longer together than the input limit. */
const PREFIX =
  "You are an expert assistant. Read each example carefully before answering. Example one: the " +
  "capital of France is Paris. Example two: water boils at one hundred degrees. Example three: " +
  "seven times six is forty two. Now the question follows.\nQuestion: ";
const SUFFIX =
  "\nThink step by step, state every assumption, check the result twice, and end with the line " +
  "'The answer is' followed by the answer alone, with no other words after it.";
/** 32 tokens: the model would see the head of PREFIX and the tail of SUFFIX, never the question. */
const LIMIT = { EMBED_MAX_TOKENS: "32" };

const TOPICS = ["python code", "french poetry", "tax law", "baking bread", "chess openings", "jazz piano"];
const TARGETS = ["big", "mid", "small"];

/** Templated prompts on separate topics; on each topic one target does well. */
function templated(n: number, offset = 0) {
  return Array.from({ length: n }, (_, j) => {
    const i = j + offset;
    const t = i % TOPICS.length;
    const topic = TOPICS[t] as string;
    const good = TARGETS[t % TARGETS.length] as string;
    const scores = Object.fromEntries(TARGETS.map((x) => [x, x === good ? 0.9 : 0.2 + ((i * 7) % 10) / 50]));
    return { text: `${PREFIX}a question about ${topic}, ${topic} case ${i % 5}${SUFFIX}`, scores };
  });
}

const FAST = { TUNE_DELAY_MS: "0", TUNE_MIN_INTERVAL_MS: "0", TUNE_CHANGE_COUNT: "10", ...LIMIT };

interface Status {
  source: string;
  tuning: string;
  templates: { prefixes: string[]; suffixes: string[] };
  evaluation: {
    value: number;
    templates?: { tried: boolean; switched?: boolean; value?: number; embedded?: number; note?: string };
  } | null;
  last_run: { outcome: string | null } | null;
}

const status = async (svc: TestService) =>
  (await (await svc.request("GET", "/admin/settings", undefined, { admin: true })).json()) as Status;

async function settled(svc: TestService): Promise<Status> {
  for (let i = 0; i < 400; i++) {
    const s = await status(svc);
    if (s.tuning === "idle" && s.last_run?.outcome) return s;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("tuning did not finish in 20 s");
}

/** Every stored example, as its vectors, texts and index membership say. */
async function agreement(svc: TestService) {
  const { stores, embedder, index } = svc.deps;
  const store = stores.ledger;
  const held = new Set<string>();
  for await (const id of index.ids()) held.add(id);
  const ids = [...store.allIds()];
  const mismatched: string[] = [];
  for (const id of ids) {
    const row = stores.examples.embeddingOf(id);
    if (!row || row.embedderId !== embedder.id) {
      mismatched.push(id);
      continue;
    }
    const { text } = await prepareText(embedder, row.text);
    const [want] = await embedder.embed([text]);
    if (!want?.every((v, i) => Math.abs(v - (row.embedding[i] as number)) < 1e-6)) mismatched.push(id);
  }
  return { ids, held, mismatched };
}

/** The boilerplate learning finds: PREFIX and the words every question opens with. */
const LEARNED_PREFIX = `${PREFIX}a question about `;

describe("learned templates in self-tuning", () => {
  let svc: TestService | undefined;
  const dirs = {
    removers: [] as Array<() => void>,
    make(): string {
      const { dir, remove } = tempDir();
      this.removers.push(remove);
      return dir;
    },
  };
  afterEach(async () => {
    vi.useRealTimers();
    await svc?.close();
    svc = undefined;
    for (const remove of dirs.removers.splice(0)) remove();
  });

  it("learns shared boilerplate while tuning, re-embeds without it, and switches when it ranks better", async () => {
    svc = await startService(FAST, { selfTuning: true });
    expect((await svc.addExamples(templated(120))).status).toBe(201);
    const before = await svc.rank({ query: templated(1, 1)[0]?.text });
    expect((before.body as { embedder?: string }).embedder).not.toMatch(/\+templates:/);

    const tuned = await settled(svc);
    expect(tuned.templates.prefixes).toEqual([LEARNED_PREFIX]);
    expect(tuned.templates.suffixes).toEqual([SUFFIX]);
    expect(tuned.evaluation?.templates).toMatchObject({ tried: true, switched: true, embedded: 120 });
    // The switch beat what the vectors with the boilerplate could do.
    expect(tuned.evaluation?.value).toBe(tuned.evaluation?.templates?.value);

    // Queries are stripped the same way: a poetry prompt finds poetry and goes to its good target.
    const ranked = await svc.rank({
      query: `${PREFIX}a question about french poetry, french poetry case 2${SUFFIX}`,
    });
    expect((ranked.body as { embedder?: string }).embedder).toMatch(/\+templates:[0-9a-f]{12}$/);
    expect(ranked.body.scores[0]?.target).toBe("mid");
    expect(
      ranked.body.hits.every((h: { id: string }) =>
        svc?.deps.stores.examples.get(h.id)?.text.includes("poetry"),
      ),
    ).toBe(true);
    const { ids, held, mismatched } = await agreement(svc);
    expect(mismatched).toEqual([]);
    expect(held).toEqual(new Set(ids));
    expect(svc.deps.stores.ledger.otherEmbedders(svc.deps.embedder.id)).toEqual([]);
  });

  it("keeps the vectors in force when the stripped prompts rank worse, and does not try those templates again", async () => {
    svc = await startService(FAST, { selfTuning: true });
    // Whether a prompt carries the boilerplate is the signal: stripped, both halves look alike.
    const examples = Array.from({ length: 120 }, (_, i) => {
      const withTemplate = i % 2 === 0;
      const body = `a question about ${TOPICS[i % TOPICS.length]} number ${i % 7}`;
      return {
        text: withTemplate ? `${PREFIX}${body}` : body,
        scores: { big: withTemplate ? 0.9 : 0.1, small: withTemplate ? 0.1 : 0.9 },
      };
    });
    expect((await svc.addExamples(examples)).status).toBe(201);
    const first = await settled(svc);
    expect(first.templates).toEqual({ prefixes: [], suffixes: [] });
    expect(first.evaluation?.templates).toMatchObject({ tried: true, switched: false });
    expect(first.evaluation?.templates?.value).toBeLessThan(first.evaluation?.value as number);
    expect(((await svc.rank({ query: "x" })).body as { embedder?: string }).embedder).not.toMatch(
      /\+templates:/,
    );

    const tune = await svc.request("POST", "/admin/settings/tune", undefined, { admin: true });
    expect(tune.status).toBe(202);
    const second = await settled(svc);
    expect(second.evaluation?.templates).toMatchObject({
      tried: false,
      note: "these templates lost on 120 examples: tried again at 240",
    });
    const staged = svc.deps.stores.examples.countExamples();
    expect(staged).toBe(120);
  });

  it("does not try templates when an example has no text to embed again, and still tunes", async () => {
    svc = await startService({ ...FAST, TUNING: "off" }, { selfTuning: true });
    await svc.deps.examples.add(templated(120), "insert");
    const bare = await svc.deps.embedder.embed(["a bare imported point"]);
    await svc.deps.examples.add([{ text: "", scores: { big: 1 }, vector: bare[0] }], "insert");
    expect((await svc.request("POST", "/admin/settings/tune", undefined, { admin: true })).status).toBe(202);
    const tuned = await settled(svc);
    // Tuned on the vectors in force (all alike with the boilerplate): the safe settings stay.
    expect(tuned.last_run?.outcome).toBe("kept");
    expect(tuned.source).toBe("tuned");
    expect(tuned.templates).toEqual({ prefixes: [], suffixes: [] });
    expect(tuned.evaluation?.templates).toMatchObject({
      tried: false,
      note: "not tried: 1 examples have no text (imported as bare vectors) to embed again",
    });
  });

  it("catches up with writes made during the trial, and re-embeds a write that raced the switch", async () => {
    const gated = new GatedEmbedder(new HashEmbedder(256, 32));
    svc = await startService({ TUNING: "off", ...LIMIT }, { selfTuning: true, embedder: gated });
    const { examples } = svc.deps;
    const added = await examples.add(templated(60), "insert");
    const switcher = svc.deps.templates;
    const learned = await switcher.learn();
    const candidate = switcher.embedderFor(learned);
    expect(await switcher.stage(candidate)).toBe(60);
    expect(await switcher.stage(candidate)).toBe(0);

    // Written after staging, with the vectors in force: an update, a delete, an insert.
    const [changed, deleted] = added.ids as [string, string];
    await examples.put(changed, {
      text: `${PREFIX}a question about tax law, tax law case 9${SUFFIX}`,
      scores: { big: 1 },
    });
    expect(await examples.delete(deleted)).toBe(true);
    const inserted = await examples.add(templated(1, 200), "insert");
    // One write embeds with the old embedder and is held until the switch is done.
    gated.hold("RACE");
    const racing = examples.add(
      [{ text: `${PREFIX}a question about jazz piano${SUFFIX} RACE`, scores: { mid: 1 } }],
      "insert",
    );
    await gated.reached;

    await switcher.switchTo(candidate, learned, () => undefined);
    gated.release();
    const raced = await racing;

    expect(svc.deps.embedder.id).toBe(candidate.id);
    const { ids, held, mismatched } = await agreement(svc);
    expect(mismatched).toEqual([]);
    expect(held).toEqual(new Set(ids));
    expect(ids).toHaveLength(61);
    expect(ids).toContain(inserted.ids[0]);
    expect(ids).toContain(raced.ids[0]);
    expect(ids).not.toContain(deleted);
  });

  it("survives a restart: the next start embeds with the learned templates and fills the index from their vectors", async () => {
    const db = join(dirs.make(), "router.db");
    svc = await startService({ ...FAST, DATABASE_PATH: db }, { selfTuning: true });
    await svc.addExamples(templated(90));
    const tuned = await settled(svc);
    expect(tuned.templates.prefixes).toEqual([LEARNED_PREFIX]);
    const id = svc.deps.embedder.id;
    await svc.close();

    svc = await startService({ ...FAST, DATABASE_PATH: db, TUNING: "off" }, { selfTuning: true });
    expect(svc.deps.embedder.id).toBe(id);
    expect(await svc.deps.index.count()).toBe(90);
    expect((await status(svc)).templates.prefixes).toEqual([LEARNED_PREFIX]);
    const ranked = await svc.rank({ query: `${PREFIX}a question about baking bread${SUFFIX}` });
    expect(ranked.body.scores[0]?.target).toBe("big");
  });

  it("a start finishes storing the new vectors when a switch stopped after it was committed", async () => {
    const db = join(dirs.make(), "router.db");
    svc = await startService({ ...LIMIT, DATABASE_PATH: db, TUNING: "off" }, { selfTuning: true });
    await svc.addExamples(templated(90));
    const learned = await svc.deps.templates.learn();
    const candidate = svc.deps.templates.embedderFor(learned);
    await svc.deps.templates.stage(candidate);
    await svc.close();
    svc = undefined;
    // What a kill right after the commit leaves: the templates in force, the old vectors stored.
    const opened = openDatabase(db);
    new StagingStore(opened.db).commit(() =>
      new StateStore(opened.db).set(TEMPLATES_KEY, JSON.stringify(learned)),
    );
    expect(new IndexLedger(opened.db).countVectors(candidate.id)).toBe(0);
    opened.sqlite.close();

    // TUNE_TEMPLATES=false learns no more templates, but those in force stay, and are shown.
    svc = await startService(
      { ...LIMIT, DATABASE_PATH: db, TUNING: "off", TUNE_TEMPLATES: "false" },
      { selfTuning: true },
    );
    expect(svc.deps.embedder.id).toBe(candidate.id);
    expect((await status(svc)).templates).toEqual(learned);
    const { ids, held, mismatched } = await agreement(svc);
    expect(ids).toHaveLength(90);
    expect(mismatched).toEqual([]);
    expect(held).toEqual(new Set(ids));
    const reader = openDatabase(db, { readOnly: true });
    expect(new StagingStore(reader.db).count(candidate.id)).toBe(0);
    reader.sqlite.close();
  });

  it("with Qdrant, switches while two replicas serve continuous /rank: no non-2xx, and they follow", async () => {
    const qdrant = await TestQdrant.start();
    const db = join(dirs.make(), "router.db");
    const shared = {
      QDRANT_URL: qdrant.url,
      VECTOR_STORE: "qdrant",
      QDRANT_COLLECTION: qdrant.name("switching"),
      ...LIMIT,
    };
    const replicas: ReplicaRunning[] = [];
    try {
      svc = await startService(
        { ...FAST, ...shared, DATABASE_PATH: db, TUNING: "off" },
        { selfTuning: true },
      );
      await svc.addExamples(templated(90));
      await svc.deps.publisher?.publishNow();
      for (let i = 0; i < 2; i++) {
        replicas.push(await startReplica(shared));
      }
      const apps = replicas.map((r) => createApp(r));
      const before = replicas[0]?.follower.document().embedder.id as string;
      expect(before).not.toMatch(/\+templates:/);

      // Four clients per replica rank continuously through the tuning run and the switch.
      let running = true;
      const statuses = new Map<number, number>();
      let sent = 0;
      const clients = apps.flatMap((app) =>
        Array.from({ length: 4 }, async (_, c) => {
          for (let i = 0; running; i++) {
            const res = await app.request("/rank", {
              method: "POST",
              headers: { "content-type": "application/json" },
              body: JSON.stringify({
                query: `${PREFIX}a question about ${TOPICS[(i + c) % TOPICS.length]}${SUFFIX}`,
              }),
            });
            await res.arrayBuffer();
            statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
            sent++;
          }
        }),
      );
      const tune = await svc.request("POST", "/admin/settings/tune", undefined, { admin: true });
      expect(tune.status).toBe(202);
      const switched = await settled(svc);
      expect(switched.evaluation?.templates?.switched).toBe(true);
      await svc.deps.publisher?.publishNow();
      for (const r of replicas) {
        for (let i = 0; i < 100 && !/\+templates:/.test(r.follower.document().embedder.id); i++) {
          await new Promise((res) => setTimeout(res, 50));
        }
      }
      // Some more traffic on the new collection, then stop.
      const after = sent;
      while (sent < after + 40) await new Promise((res) => setTimeout(res, 10));
      running = false;
      await Promise.all(clients);

      expect([...statuses.keys()]).toEqual([200]);
      expect(sent).toBeGreaterThan(100);
      for (const r of replicas) {
        const doc = r.follower.document();
        expect(doc.embedder.id).toBe(svc.deps.embedder.id);
        expect(doc.collection).toMatch(new RegExp(`^${shared.QDRANT_COLLECTION}-templates-[0-9a-f]{12}$`));
      }
      // The replicas answer as the primary on the new vectors.
      const query = { query: `${PREFIX}a question about chess openings${SUFFIX}`, k: 5 };
      const onPrimary = await svc.rank(query);
      const onReplica = await (
        await apps[0]?.request("/rank", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(query),
        })
      )?.json();
      expect(ranked(onReplica)).toEqual(ranked(onPrimary.body));
    } finally {
      for (const r of replicas) await r.close();
      await qdrant.stop();
    }
  });

  it("with Qdrant, fills a collection of its own for the new vectors, and the next start opens it", async () => {
    const qdrant = await TestQdrant.start();
    const db = join(dirs.make(), "router.db");
    const examples = qdrant.name("examples");
    const env = {
      ...FAST,
      DATABASE_PATH: db,
      VECTOR_STORE: "qdrant",
      QDRANT_URL: qdrant.url,
      QDRANT_COLLECTION: examples,
      TUNING: "off",
      // Applied to every collection the service creates, the switch's too.
      QDRANT_SHARDS: "3",
      QDRANT_REPLICATION_FACTOR: "2",
      QDRANT_ON_DISK_PAYLOAD: "true",
      QDRANT_PAYLOAD_INDEXES: "category:keyword",
    };
    try {
      const logger = new RecordingLogger();
      svc = await startService(env, { selfTuning: true, logger });
      await svc.addExamples(templated(90));
      // Each name the service uses is an alias of a collection of its own.
      expect([...(await qdrant.aliases()).keys()]).toEqual([examples]);
      const vectors = async () => (await qdrant.collections()).filter((n) => n !== `${examples}-routing`);
      expect(await vectors()).toEqual([await qdrant.resolve(examples)]);
      const tune = await svc.request("POST", "/admin/settings/tune", undefined, { admin: true });
      expect(tune.status).toBe(202);
      await settled(svc);
      const names = [...(await qdrant.aliases()).keys()];
      const own = names.find((n) => new RegExp(`^${examples}-templates-[0-9a-f]{12}$`).test(n)) as string;
      expect(own).toBeDefined();
      expect(await qdrant.count(own)).toBe(90);
      for (const name of [examples, own]) {
        const info = await qdrant.info((await qdrant.resolve(name)) as string);
        expect(info.config.params).toMatchObject({
          shard_number: 3,
          replication_factor: 2,
          on_disk_payload: true,
        });
        expect(Object.keys(info.payload_schema ?? {})).toEqual(["category"]);
      }
      // The switch's copy carries each example's evidence too, as every write does.
      const payloads = await qdrant.payloads(own);
      expect(payloads).toHaveLength(90);
      for (const p of payloads) expect(Object.keys(p.scores as object).length).toBeGreaterThan(0);
      const ranked = await svc.rank({ query: `${PREFIX}a question about python code${SUFFIX}` });
      expect(ranked.body.scores[0]?.target).toBe("big");
      // The replaced collection is deleted 120 s after the switch (replicas move within 30 s); a
      // shutdown before then keeps it and says so.
      await svc.close();
      expect([...(await qdrant.aliases()).keys()].sort()).toEqual([examples, own].sort());
      expect(await vectors()).toHaveLength(2);
      expect(
        logger.find(
          "kept the replaced vector collection (a replica may still read it): delete it once none does",
        ),
      ).toEqual({
        collection: examples,
      });

      svc = await startService(env, { selfTuning: true });
      expect(svc.deps.embedder.id).toMatch(/\+templates:/);
      expect(await svc.deps.index.count()).toBe(90);
      const again = await svc.rank({ query: `${PREFIX}a question about python code${SUFFIX}` });
      expect(again.body.scores[0]?.target).toBe("big");
    } finally {
      await qdrant.stop();
    }
  });
});

/** Holds the embedding of texts that contain a marker (as truncation left them) until released. */
class GatedEmbedder extends WrappedEmbedder {
  private marker: string | undefined;
  private opened: Promise<void> = Promise.resolve();
  private open: () => void = () => undefined;
  reached: Promise<void> = Promise.resolve();
  private arrive: () => void = () => undefined;

  constructor(inner: Embedder) {
    super(inner);
  }

  hold(marker: string): void {
    this.marker = marker;
    this.opened = new Promise((r) => {
      this.open = r;
    });
    this.reached = new Promise((r) => {
      this.arrive = r;
    });
  }

  release(): void {
    this.marker = undefined;
    this.open();
  }

  async embed(texts: readonly string[], priority?: EmbedPriority): Promise<Float32Array[]> {
    const vectors = await this.inner.embed(texts, priority);
    if (this.marker && texts.some((t) => t.includes(this.marker as string))) {
      this.arrive();
      await this.opened;
    }
    return vectors;
  }
}
