import {
  closeSync,
  existsSync,
  fstatSync,
  ftruncateSync,
  openSync,
  readSync,
  rmSync,
  writeSync,
} from "node:fs";
import { crc32 } from "node:zlib";

/**
 * What a journal continues: the image it was started beside, the machine boot it was written in,
 * and the vectors it holds.
 */
export interface JournalHeader {
  /** The snapshot id of the index image the journal's records apply on top of. */
  base: string;
  /** The id of the database whose writes it records. */
  database: string;
  /** The kernel's boot id when the journal was started (empty where the system has none). */
  bootId: string;
  embedderId: string;
  dimension: number;
}

/** One journaled write, as replay hands it back. */
export type JournalRecord =
  | { kind: "upsert"; dataVersion: number; ids: string[]; vectors: Float32Array; range: number }
  | { kind: "delete"; dataVersion: number; ids: string[] };

const MAGIC = "KNNLOG02";
const UPSERT = 1;
const DELETE = 2;
/** A record's frame: payload length and its CRC-32. */
const FRAME = 8;
/**
 * The payload's fixed head: kind, the database's write counter, how many ids, and the largest
 * |component| of the record's vectors (0 for a deletion), so that a replay can set the index's
 * quantisation range once, before any record, instead of re-encoding every code as it widens.
 */
const HEAD = 1 + 8 + 4 + 4;

/**
 * The embedded index's append-only journal (`DATABASE_PATH.vectors.log`): every write the index
 * takes after its image was saved, appended before the write is confirmed to SQLite. Appends are
 * plain `write` calls, in the kernel's page cache when they return, so a process killed at any
 * point (kill -9, out of memory) leaves every confirmed write in the file; a crash of the machine
 * may not, which is why a journal from another boot is never replayed (`bootId`).
 *
 * Records are framed with their length and CRC-32; a record cut short by a kill ends the replay.
 * An append that fails (a full disk) deletes the file rather than leave a journal that misses a
 * write: `failed` says so, the index's write itself stands, and the next start reads SQLite.
 */
export class IndexJournal {
  private bytes: number;
  private closed = false;
  /** Why an append failed, once one has (the file is gone then, and nothing more is appended). */
  failed: unknown;

  private constructor(
    private readonly path: string,
    private readonly fd: number,
    readonly header: JournalHeader,
    bytes: number,
    /** The database's example-write counter, recorded with each write. */
    private readonly dataVersion: () => number,
  ) {
    this.bytes = bytes;
  }

  /** Starts a new journal at `path` (replacing any file there). */
  static create(path: string, header: JournalHeader, dataVersion: () => number): IndexJournal {
    const fd = openSync(path, "w");
    try {
      const json = Buffer.from(JSON.stringify(header), "utf8");
      const head = Buffer.alloc(MAGIC.length + 4);
      head.write(MAGIC, 0, "latin1");
      head.writeUInt32LE(json.length, MAGIC.length);
      writeAll(fd, Buffer.concat([head, json]));
      return new IndexJournal(path, fd, header, head.length + json.length, dataVersion);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  /** Continues the journal at `path` after `replay` read `validBytes` of it (a torn tail is cut off). */
  static resume(
    path: string,
    header: JournalHeader,
    validBytes: number,
    dataVersion: () => number,
  ): IndexJournal {
    const fd = openSync(path, "a");
    ftruncateSync(fd, validBytes);
    return new IndexJournal(path, fd, header, validBytes, dataVersion);
  }

  /** The journal's size in bytes. */
  get size(): number {
    return this.bytes;
  }

  /** Appends an upsert of unit vectors (`vectors` row i is `ids[i]`'s; `range`: their largest |component|). */
  upsert(ids: readonly string[], vectors: readonly Float32Array[], dimension: number, range: number): void {
    const names = ids.map((id) => Buffer.from(id, "utf8"));
    const idBytes = names.reduce((s, b) => s + 2 + b.length, 0);
    const payload = Buffer.alloc(HEAD + ids.length * dimension * 4 + idBytes);
    let at = writeHead(payload, UPSERT, this.dataVersion(), ids.length, range);
    for (const v of vectors) {
      Buffer.from(v.buffer, v.byteOffset, dimension * 4).copy(payload, at);
      at += dimension * 4;
    }
    writeIds(payload, at, names);
    this.append(payload);
  }

  /** Appends a deletion. */
  delete(ids: readonly string[]): void {
    const names = ids.map((id) => Buffer.from(id, "utf8"));
    const payload = Buffer.alloc(HEAD + names.reduce((s, b) => s + 2 + b.length, 0));
    writeIds(payload, writeHead(payload, DELETE, this.dataVersion(), ids.length, 0), names);
    this.append(payload);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }

  private append(payload: Buffer): void {
    if (this.failed !== undefined) return;
    const frame = Buffer.alloc(FRAME);
    frame.writeUInt32LE(payload.length, 0);
    frame.writeUInt32LE(crc32(payload), 4);
    try {
      writeAll(this.fd, Buffer.concat([frame, payload]));
    } catch (err) {
      this.failed = err;
      this.closed = true;
      try {
        closeSync(this.fd);
      } catch {
        // A descriptor that failed may fail to close too: the file goes either way.
      }
      rmSync(this.path, { force: true });
      return;
    }
    this.bytes += FRAME + payload.length;
  }
}

/**
 * What `readJournal` found: the header, the largest write counter and |component| recorded, the
 * bytes that hold whole records.
 */
export interface JournalScan {
  header: JournalHeader;
  maxDataVersion: number;
  maxRange: number;
  /** Vectors its upserts hold, new or not: room a replay may need. */
  upserted: number;
  validBytes: number;
  records: number;
}

/**
 * Reads the journal at `path`: its header, then each whole record in order, handed to `onRecord`
 * when given (without it, only the scan's totals: a cheap first pass). Undefined when there is no
 * journal or it is not one. A record cut short, or whose CRC does not match, ends the journal.
 */
export function readJournal(path: string, onRecord?: (r: JournalRecord) => void): JournalScan | undefined {
  if (!existsSync(path)) return undefined;
  const fd = openSync(path, "r");
  try {
    const total = fstatSync(fd).size;
    const header = readHeader(fd);
    if (header === undefined) return undefined;
    let at = header.bytes;
    let maxDataVersion = 0;
    let maxRange = 0;
    let upserted = 0;
    let records = 0;
    const frame = Buffer.alloc(FRAME + HEAD);
    for (;;) {
      if (at + FRAME + HEAD > total || readSync(fd, frame, 0, frame.length, at) < frame.length) break;
      const length = frame.readUInt32LE(0);
      if (length < HEAD || at + FRAME + length > total) break;
      if (onRecord) {
        const payload = Buffer.alloc(length);
        if (readSync(fd, payload, 0, length, at + FRAME) < length) break;
        if (crc32(payload) !== frame.readUInt32LE(4)) break;
        // What the record's writer throws (a replay that fails) is the caller's to see.
        onRecord(decode(payload, header.header.dimension));
      }
      maxDataVersion = Math.max(maxDataVersion, frame.readDoubleLE(FRAME + 1));
      maxRange = Math.max(maxRange, frame.readFloatLE(FRAME + 13));
      if (frame.readUInt8(FRAME) === UPSERT) upserted += frame.readUInt32LE(FRAME + 9);
      records++;
      at += FRAME + length;
    }
    return { header: header.header, maxDataVersion, maxRange, upserted, validBytes: at, records };
  } finally {
    closeSync(fd);
  }
}

/** The journal's header and where its records begin; undefined when the file is not a journal. */
function readHeader(fd: number): { header: JournalHeader; bytes: number } | undefined {
  const head = Buffer.alloc(MAGIC.length + 4);
  if (readSync(fd, head, 0, head.length, 0) < head.length) return undefined;
  if (head.toString("latin1", 0, MAGIC.length) !== MAGIC) return undefined;
  const length = head.readUInt32LE(MAGIC.length);
  if (length > 1 << 16) return undefined;
  const json = Buffer.alloc(length);
  if (readSync(fd, json, 0, json.length, head.length) < json.length) return undefined;
  try {
    return { header: JSON.parse(json.toString("utf8")) as JournalHeader, bytes: head.length + json.length };
  } catch {
    return undefined;
  }
}

function decode(payload: Buffer, dimension: number): JournalRecord {
  const kind = payload.readUInt8(0);
  const dataVersion = payload.readDoubleLE(1);
  const count = payload.readUInt32LE(9);
  const range = payload.readFloatLE(13);
  if (kind === DELETE) return { kind: "delete", dataVersion, ids: readIds(payload, HEAD, count) };
  const from = HEAD;
  const vectors = new Float32Array(count * dimension);
  new Uint8Array(vectors.buffer).set(payload.subarray(from, from + vectors.byteLength));
  return {
    kind: "upsert",
    dataVersion,
    ids: readIds(payload, from + vectors.byteLength, count),
    vectors,
    range,
  };
}

function writeHead(payload: Buffer, kind: number, dataVersion: number, count: number, range: number): number {
  payload.writeUInt8(kind, 0);
  payload.writeDoubleLE(dataVersion, 1);
  payload.writeUInt32LE(count, 9);
  payload.writeFloatLE(range, 13);
  return HEAD;
}

function writeIds(payload: Buffer, from: number, names: readonly Buffer[]): void {
  let at = from;
  for (const b of names) {
    payload.writeUInt16LE(b.length, at);
    b.copy(payload, at + 2);
    at += 2 + b.length;
  }
}

function readIds(payload: Buffer, from: number, count: number): string[] {
  const ids: string[] = new Array(count);
  let at = from;
  for (let i = 0; i < count; i++) {
    const length = payload.readUInt16LE(at);
    ids[i] = payload.toString("utf8", at + 2, at + 2 + length);
    at += 2 + length;
  }
  return ids;
}

function writeAll(fd: number, b: Buffer): void {
  let done = 0;
  while (done < b.length) done += writeSync(fd, b, done, b.length - done);
}
