import { open, rename } from "node:fs/promises";
import { exactSearch, MetricKind } from "usearch";
import type { IndexJournal, JournalRecord } from "./index-journal.ts";
import { SignCodes } from "./sign-codes.ts";
import type { Neighbour, VectorIndex, VectorRecord } from "./vector-index.ts";

/** Below this many rows a scan takes well under a millisecond: not worth a second thread. */
const PARALLEL_FROM = 65_536;

/** How the scan runs; every field has a default. */
export interface ScanOptions {
  /** Candidates scanned per requested neighbour on the first int8 pass. Default 4. */
  oversample?: number;
  /** Smallest first-pass candidate count. Default 64. */
  minCandidates?: number;
  /**
   * Threads of one search over 65,536 rows or more: usearch's int8 scan, and a helper thread for the
   * sign-code scan. Default 1.
   */
  threads?: number;
  /**
   * From this many vectors on, a first pass over 1-bit sign codes picks `compactCandidates`
   * candidates and only those are scanned as int8 and scored exactly: an eighth of the bytes read,
   * no longer provably exact (recall measured in bench/compact-scan.ts). 0: never. Default 0.
   */
  compactFrom?: number;
  /** Candidates the sign-code pass keeps. Default 8192. */
  compactCandidates?: number;
}

/**
 * In-process k-nearest-neighbour index: an int8 scan to find candidates, exact float32 re-scoring,
 * and a proof that no vector outside the candidates can beat the k-th result. From `compactFrom`
 * vectors on, a scan over 1-bit sign codes (an eighth of the int8 bytes) picks the candidates
 * first, and the answer is the exact best among them: approximate, with its recall measured.
 *
 * Why this design (100k x 512 dims, one core, measured on these machines):
 * - a float32 brute-force scan is exact but costs ~9.4 ms (native SIMD) to ~52 ms (plain JS) a query,
 *   bound by reading 200 MB of vectors;
 * - HNSW answers in ~0.5 ms but misses ~0.1% of true neighbours, and we promise exact results;
 * - an int8 copy is a quarter of the bytes: usearch's native SIMD integer inner product over it
 *   takes ~1.7 ms (its int8 cosine, which normalises every row, ~2.5 ms).
 *
 * Every unit vector u is stored as float32 and as int8 codes c = round(u·S) under one shared scale
 * S = 127 / (largest |component| stored), so no component is ever clipped. With x̂ = c/S and the
 * query quantised on its own scale as q̂, |q·u − q̂·x̂| ≤ ε(u) + ε(q)·(1 + ε(u)), where ε(v) = |v − v̂|
 * is computed exactly. The scan ranks by the integer dot product (exact in float32 up to 2^24); we
 * walk the top C in approximate order, scoring each exactly, and stop at the first whose approximate
 * score + that bound (at max ε(u)) is below the k-th exact score so far: nothing after it, inside or
 * outside the candidates, can reach the top k. If the candidates run out first, C grows and we scan
 * again. The answer is always exact (recall 1.0); only its cost depends on the data.
 */
export class QuantizedScanIndex implements VectorIndex {
  readonly persistent = false;
  private readonly oversample: number;
  private readonly minCandidates: number;
  private readonly threads: number;
  private readonly compactFrom: number;
  private readonly compactCandidates: number;
  /** Sign codes of every stored vector, kept only when the compact first pass can be used. */
  private readonly signs: SignCodes | undefined;
  /** The candidates' int8 codes, gathered for the second pass (reused between searches). */
  private gathered = new Int8Array(0);
  private capacity = 0;
  private size = 0;
  private slotIds: string[] = [];
  private readonly slots = new Map<string, number>();
  private exact = new Float32Array(0);
  private codes = new Int8Array(0);
  private errors = new Float32Array(0);
  /** Largest |component| of any vector ever stored; the codes' scale is 127 / this. */
  private range = 0;
  /** Upper bound on every stored ε(u); only raised on insert, recomputed lazily after deletes. */
  private maxError = 0;
  private maxErrorStale = false;
  /** Where every write is appended once applied (`attachJournal`), if anywhere. */
  private journal: IndexJournal | undefined;

  constructor(
    readonly dimension: number,
    options: ScanOptions = {},
  ) {
    this.oversample = options.oversample ?? 4;
    this.minCandidates = options.minCandidates ?? 64;
    this.threads = options.threads ?? 1;
    this.compactFrom = options.compactFrom ?? 0;
    this.compactCandidates = options.compactCandidates ?? 8192;
    this.signs = this.compactFrom > 0 ? new SignCodes(dimension, this.threads) : undefined;
  }

  async upsert(records: readonly VectorRecord[]): Promise<void> {
    this.write(records);
  }

  private write(records: readonly VectorRecord[]): void {
    for (const r of records) {
      if (r.vector.length !== this.dimension) {
        throw new RangeError(
          `vector for ${r.id} has ${r.vector.length} dimensions, index has ${this.dimension}`,
        );
      }
    }
    const units = records.map((r) => unit(r.vector));
    const range = units.reduce((m, u) => Math.max(m, maxAbs(u)), 0);
    this.widen(range);
    records.forEach((r, i) => {
      this.put(r.id, units[i] as Float32Array);
    });
    if (records.length > 0)
      this.journal?.upsert(
        records.map((r) => r.id),
        units,
        this.dimension,
        range,
      );
  }

  /**
   * Makes the codes' range at least `range` (the largest |component| of unit vectors to come). A
   * wider range needs a coarser scale for every stored code: at most once per batch, and the running
   * maximum of a stream rises only a few times; a replay widens it once for the whole journal.
   */
  widen(range: number): void {
    if (range <= this.range) return;
    this.range = range;
    this.requantizeAll();
  }

  async delete(ids: readonly string[]): Promise<void> {
    for (const id of ids) this.remove(id);
    if (ids.length > 0) this.journal?.delete(ids);
  }

  /**
   * From now on every write is appended to `journal` once applied (the previous journal, if any, is
   * closed); undefined: none.
   */
  attachJournal(journal: IndexJournal | undefined): void {
    if (journal !== this.journal) this.journal?.close();
    this.journal = journal;
  }

  /** The journal writes go to, if any. */
  get journaled(): IndexJournal | undefined {
    return this.journal;
  }

  /** Applies a journaled write (not journaled again). */
  replay(record: JournalRecord): void {
    const journal = this.journal;
    this.journal = undefined;
    try {
      if (record.kind === "delete") {
        for (const id of record.ids) this.remove(id);
        return;
      }
      const dim = this.dimension;
      this.write(
        record.ids.map((id, i) => ({ id, vector: record.vectors.subarray(i * dim, (i + 1) * dim) })),
      );
    } finally {
      this.journal = journal;
    }
  }

  /** Empties the index (its journal stays attached). */
  clear(): void {
    this.slotIds = [];
    this.slots.clear();
    this.size = 0;
    this.range = 0;
    this.maxError = 0;
    this.maxErrorStale = false;
  }

  /** About what `saveImage` writes now, in bytes. */
  get imageBytes(): number {
    return this.size * (this.dimension * 5 + 4 + 40);
  }

  async count(): Promise<number> {
    return this.size;
  }

  async *ids(): AsyncGenerator<string> {
    yield* this.slotIds.slice(0, this.size);
  }

  async health(): Promise<void> {}

  /**
   * Writes the whole index to `path` (through a temporary file and a rename, so a crash leaves
   * either the old file or the new one), with `stamp` saying what it was taken from. Restoring it
   * skips re-reading and re-quantising every vector: the fast path of a restart.
   */
  async saveImage(path: string, stamp: ImageStamp): Promise<void> {
    const n = this.size;
    const dim = this.dimension;
    const ids = Buffer.from(this.slotIds.slice(0, n).join("\n"), "utf8");
    const header = Buffer.from(
      JSON.stringify({ stamp, dimension: dim, size: n, range: this.range, idsBytes: ids.length }),
      "utf8",
    );
    const lengths = Buffer.alloc(8);
    lengths.writeUInt32LE(header.length, 0);
    const parts = [
      Buffer.from(IMAGE_MAGIC, "latin1"),
      lengths,
      header,
      ids,
      Buffer.alloc(pad(IMAGE_MAGIC.length + 8 + header.length + ids.length)),
      bytes(this.exact, n * dim),
      bytes(this.codes, n * dim),
      Buffer.alloc(pad(n * dim)),
      bytes(this.errors, n),
    ];
    const tmp = `${path}.tmp`;
    const file = await open(tmp, "w");
    try {
      for (const part of parts) for (const piece of chunks(part)) await file.write(piece);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(tmp, path);
  }

  /**
   * Replaces the contents with the image at `path` when there is one and `accept` takes its stamp;
   * false otherwise (no file, another format or dimension, or a stamp that no longer matches).
   */
  async restoreImage(
    path: string,
    accept: (stamp: ImageStamp) => boolean,
    /** Vectors about to be added (a journal's): room made for them now, not by doubling later. */
    more = 0,
  ): Promise<boolean> {
    let file: Awaited<ReturnType<typeof open>>;
    try {
      file = await open(path, "r");
    } catch {
      return false;
    }
    try {
      const head = Buffer.alloc(IMAGE_MAGIC.length + 8);
      await readFully(file, head, 0);
      if (head.toString("latin1", 0, IMAGE_MAGIC.length) !== IMAGE_MAGIC) return false;
      const headerBytes = head.readUInt32LE(IMAGE_MAGIC.length);
      const header = Buffer.alloc(headerBytes);
      await readFully(file, header, head.length);
      const meta = JSON.parse(header.toString("utf8")) as ImageHeader;
      if (meta.dimension !== this.dimension || !accept(meta.stamp)) return false;
      const n = meta.size;
      const dim = this.dimension;
      let at = head.length + headerBytes;
      const ids = Buffer.alloc(meta.idsBytes);
      await readFully(file, ids, at);
      at += meta.idsBytes + pad(at + meta.idsBytes);
      // The capacity the index would have grown to holding n: a first write after a restore does
      // not double it at once.
      let capacity = 1024;
      while (capacity < n) capacity *= 2;
      capacity = Math.max(capacity, n + more);
      const exact = new Float32Array(capacity * dim);
      at = await readInto(file, exact, n * dim, at);
      const codes = new Int8Array(capacity * dim);
      at = await readInto(file, codes, n * dim, at);
      at += pad(n * dim);
      const errors = new Float32Array(capacity);
      await readInto(file, errors, n, at);
      const slotIds = n === 0 ? [] : ids.toString("utf8").split("\n");
      if (slotIds.length !== n) return false;
      this.exact = exact;
      this.codes = codes;
      this.errors = errors;
      this.capacity = capacity;
      this.size = n;
      this.slotIds = slotIds;
      this.slots.clear();
      slotIds.forEach((id, slot) => {
        this.slots.set(id, slot);
      });
      this.range = meta.range;
      this.maxErrorStale = true;
      if (this.signs) {
        this.signs.reserve(capacity);
        for (let slot = 0; slot < n; slot++)
          this.signs.set(slot, exact.subarray(slot * dim, (slot + 1) * dim));
      }
      return true;
    } finally {
      await file.close();
    }
  }

  async close(): Promise<void> {
    this.attachJournal(undefined);
    this.signs?.close();
    this.slotIds = [];
    this.slots.clear();
    this.size = this.capacity = 0;
    this.exact = new Float32Array(0);
    this.codes = new Int8Array(0);
    this.errors = new Float32Array(0);
  }

  async search(vector: Float32Array, k: number): Promise<Neighbour[]> {
    if (vector.length !== this.dimension) {
      throw new RangeError(`query has ${vector.length} dimensions, index has ${this.dimension}`);
    }
    const n = this.size;
    const want = Math.min(k, n);
    if (want <= 0) return [];
    const q = unit(vector);
    const dim = this.dimension;
    if (this.signs && n >= this.compactFrom) {
      const slots = this.signs.nearest(q, n, Math.max(this.compactCandidates, want * this.oversample));
      return this.neighbours(this.refine(q, want, this.gather(slots), slots, false));
    }
    return this.neighbours(this.refine(q, want, this.codes.subarray(0, n * dim)));
  }

  /**
   * The best `want` of the int8 codes in `dataset` (row i is slot `slots[i]`, or slot i without
   * `slots`), by exact score: an int8 scan for candidates, each scored exactly in approximate order
   * until the bound proves no other row can reach the top (growing the candidates when needed).
   * Without `prove` (the candidates are already a sample), only the first int8 pass's candidates
   * are scored: among near-ties the proof would score thousands of rows for what a sample cannot
   * promise anyway.
   */
  private refine(
    q: Float32Array,
    want: number,
    dataset: Int8Array,
    slots?: Int32Array,
    prove = true,
  ): Array<{ slot: number; similarity: number }> {
    const dim = this.dimension;
    const rows = dataset.length / dim;
    const qCodes = new Int8Array(dim);
    const qScale = maxAbs(q) === 0 ? 1 : 127 / maxAbs(q);
    const qError = quantize(q, qScale, qCodes);
    const maxError = this.currentMaxError();
    const bound = maxError + qError * (1 + maxError) + 1e-6;
    const toScore = 1 / (qScale * (127 / this.range));

    // Best `want` exact scores so far, best first; exact scores are cached across passes.
    const top: Array<{ slot: number; similarity: number }> = [];
    const scoredSlots = new Set<number>();
    let candidates = Math.min(rows, Math.max(want * this.oversample, this.minCandidates));
    for (;;) {
      const threads = rows >= PARALLEL_FROM ? this.threads : 1;
      const found = exactSearch(dataset, qCodes, dim, candidates, MetricKind.IP, threads);
      const keys = found.keys as BigUint64Array;
      const distances = found.distances as Float32Array;
      // Candidates arrive best approximate score first; usearch's int8 "ip distance" is 1 − c_q·c_x.
      for (let i = 0; i < keys.length; i++) {
        const approx = (1 - (distances[i] as number)) * toScore;
        if (top.length === want && approx + bound < (top[want - 1] as { similarity: number }).similarity) {
          // Every row not yet scored, in or out of the candidates, has approx ≤ this one: done.
          return top;
        }
        const row = Number(keys[i]);
        const slot = slots ? (slots[row] as number) : row;
        if (scoredSlots.has(slot)) continue;
        scoredSlots.add(slot);
        insertTop(top, want, { slot, similarity: this.dot(q, slot) });
      }
      // keys.length < candidates happens when usearch skips NaN rows; then everything was scanned.
      if (!prove || candidates >= rows || keys.length < candidates) return top;
      candidates = Math.min(rows, candidates * 4);
    }
  }

  /** The int8 codes of `slots`, one after another. */
  private gather(slots: Int32Array): Int8Array {
    const dim = this.dimension;
    if (this.gathered.length < slots.length * dim) this.gathered = new Int8Array(slots.length * dim * 2);
    const out = this.gathered;
    const codes = this.codes;
    for (let i = 0; i < slots.length; i++) {
      const from = (slots[i] as number) * dim;
      out.set(codes.subarray(from, from + dim), i * dim);
    }
    return out.subarray(0, slots.length * dim);
  }

  private neighbours(top: ReadonlyArray<{ slot: number; similarity: number }>): Neighbour[] {
    return top.map((s) => ({ id: this.slotIds[s.slot] as string, similarity: s.similarity }));
  }

  private dot(q: Float32Array, slot: number): number {
    const base = slot * this.dimension;
    const x = this.exact;
    let s = 0;
    for (let j = 0; j < q.length; j++) s += (q[j] as number) * (x[base + j] as number);
    return s;
  }

  private put(id: string, u: Float32Array): void {
    let slot = this.slots.get(id);
    if (slot === undefined) {
      if (this.size === this.capacity) this.grow();
      slot = this.size++;
      this.slots.set(id, slot);
      this.slotIds[slot] = id;
    } else if (this.errors[slot] === this.maxError) {
      this.maxErrorStale = true;
    }
    this.exact.set(u, slot * this.dimension);
    this.encode(slot);
    this.signs?.set(slot, u);
  }

  private encode(slot: number): void {
    const dim = this.dimension;
    const scale = this.range === 0 ? 1 : 127 / this.range;
    const err = quantize(
      this.exact.subarray(slot * dim, (slot + 1) * dim),
      scale,
      this.codes.subarray(slot * dim, (slot + 1) * dim),
    );
    this.errors[slot] = err;
    if (err > this.maxError) this.maxError = err;
  }

  private requantizeAll(): void {
    this.maxError = 0;
    this.maxErrorStale = false;
    for (let slot = 0; slot < this.size; slot++) this.encode(slot);
  }

  private remove(id: string): void {
    const slot = this.slots.get(id);
    if (slot === undefined) return;
    const last = this.size - 1;
    const dim = this.dimension;
    if (this.errors[slot] === this.maxError) this.maxErrorStale = true;
    if (slot !== last) {
      const moved = this.slotIds[last] as string;
      this.exact.copyWithin(slot * dim, last * dim, (last + 1) * dim);
      this.codes.copyWithin(slot * dim, last * dim, (last + 1) * dim);
      this.signs?.move(last, slot);
      this.errors[slot] = this.errors[last] as number;
      this.slotIds[slot] = moved;
      this.slots.set(moved, slot);
    }
    this.slotIds.length = last;
    this.slots.delete(id);
    this.size = last;
  }

  private currentMaxError(): number {
    if (this.maxErrorStale) {
      let m = 0;
      for (let i = 0; i < this.size; i++) m = Math.max(m, this.errors[i] as number);
      this.maxError = m;
      this.maxErrorStale = false;
    }
    return this.maxError;
  }

  private grow(): void {
    const capacity = Math.max(1024, this.capacity * 2);
    const dim = this.dimension;
    const exact = new Float32Array(capacity * dim);
    exact.set(this.exact.subarray(0, this.size * dim));
    const codes = new Int8Array(capacity * dim);
    codes.set(this.codes.subarray(0, this.size * dim));
    const errors = new Float32Array(capacity);
    errors.set(this.errors.subarray(0, this.size));
    this.exact = exact;
    this.codes = codes;
    this.errors = errors;
    this.capacity = capacity;
    this.signs?.reserve(capacity);
  }
}

/** What an index image was taken from; restoring checks it against the database. */
export interface ImageStamp {
  /** The id of the database it was taken from (images of older releases have none). */
  database?: string;
  embedderId: string;
  /** The database's example-write counter when the image was taken. */
  dataVersion: number;
  /** Stored vectors of that embedder then. */
  vectors: number;
  /** Names this image, so that a journal can say it continues it. */
  snapshot?: string;
}

interface ImageHeader {
  stamp: ImageStamp;
  dimension: number;
  size: number;
  range: number;
  idsBytes: number;
}

const IMAGE_MAGIC = "KNNIDX01";
/** Largest piece read or written at once (a single call takes at most 2 GiB). */
const IO_CHUNK = 1 << 28;

/** Bytes to the next multiple of 4, so the float32 sections stay aligned. */
function pad(offset: number): number {
  return (4 - (offset % 4)) % 4;
}

function bytes(a: Float32Array | Int8Array, elements: number): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, elements * a.BYTES_PER_ELEMENT);
}

function* chunks(b: Buffer): Generator<Buffer> {
  for (let i = 0; i < b.length; i += IO_CHUNK) yield b.subarray(i, Math.min(b.length, i + IO_CHUNK));
}

async function readFully(
  file: Awaited<ReturnType<typeof open>>,
  into: Uint8Array,
  position: number,
): Promise<void> {
  let done = 0;
  while (done < into.length) {
    const { bytesRead } = await file.read(
      into,
      done,
      Math.min(IO_CHUNK, into.length - done),
      position + done,
    );
    if (bytesRead === 0) throw new Error("index image is truncated");
    done += bytesRead;
  }
}

/** Reads `elements` of `a` from `position`; returns the position after them. */
async function readInto(
  file: Awaited<ReturnType<typeof open>>,
  a: Float32Array | Int8Array,
  elements: number,
  position: number,
): Promise<number> {
  const length = elements * a.BYTES_PER_ELEMENT;
  await readFully(file, new Uint8Array(a.buffer, a.byteOffset, length), position);
  return position + length;
}

/** Inserts `entry` into `top` (sorted best first), keeping at most `size` entries. */
function insertTop(
  top: Array<{ slot: number; similarity: number }>,
  size: number,
  entry: { slot: number; similarity: number },
) {
  if (top.length === size && entry.similarity <= (top[size - 1] as { similarity: number }).similarity) return;
  let i = top.length;
  while (i > 0 && (top[i - 1] as { similarity: number }).similarity < entry.similarity) i--;
  top.splice(i, 0, entry);
  if (top.length > size) top.pop();
}

/** A unit-length float32 copy of `v` (zero stays zero). */
function unit(v: Float32Array): Float32Array {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += (v[i] as number) * (v[i] as number);
  const out = new Float32Array(v.length);
  if (s === 0) return out;
  const inv = 1 / Math.sqrt(s);
  for (let i = 0; i < v.length; i++) out[i] = (v[i] as number) * inv;
  return out;
}

function maxAbs(v: Float32Array): number {
  let m = 0;
  for (let i = 0; i < v.length; i++) m = Math.max(m, Math.abs(v[i] as number));
  return m;
}

/**
 * Writes codes = round(u·scale), clamped to ±127, and returns ε = |u − codes/scale|: how far the
 * vector the codes stand for is from u.
 */
function quantize(u: Float32Array, scale: number, codes: Int8Array): number {
  let err = 0;
  for (let i = 0; i < u.length; i++) {
    const c = Math.max(-127, Math.min(127, Math.round((u[i] as number) * scale)));
    codes[i] = c;
    const d = (u[i] as number) - c / scale;
    err += d * d;
  }
  return Math.sqrt(err);
}
