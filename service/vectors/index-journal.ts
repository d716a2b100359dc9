import { closeSync, existsSync, fstatSync, ftruncateSync, openSync, readSync, writeSync } from "node:fs";
import { crc32 } from "node:zlib";

/**
 * What a journal continues: the image it was started beside, the machine boot it was written in,
 * and the vectors it holds.
 */
export interface JournalHeader {
  /** The snapshot id of the index image the journal's records apply on top of. */
  base: string;
  /** The kernel's boot id when the journal was started (empty where the system has none). */
  bootId: string;
  embedderId: string;
  dimension: number;
}

/** One journaled write, as replay hands it back. */
export type JournalRecord =
  | { kind: "upsert"; dataVersion: number; ids: string[]; vectors: Float32Array }
  | { kind: "delete"; dataVersion: number; ids: string[] };

const MAGIC = "KNNLOG01";
const UPSERT = 1;
const DELETE = 2;
/** A record's frame: payload length and its CRC-32. */
const FRAME = 8;
/** The payload's fixed head: kind, the database's write counter, how many ids. */
const HEAD = 1 + 8 + 4;

/**
 * The embedded index's append-only journal (`DATABASE_PATH.vectors.log`): every write the index
 * takes after its image was saved, appended before the write is confirmed to SQLite. Appends are
 * plain `write` calls, in the kernel's page cache when they return, so a process killed at any
 * point (kill -9, out of memory) leaves every confirmed write in the file; a crash of the machine
 * may not, which is why a journal from another boot is never replayed (`bootId`).
 *
 * Records are framed with their length and CRC-32; a record cut short by a kill ends the replay.
 */
export class IndexJournal {
  private bytes: number;

  private constructor(
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
      return new IndexJournal(fd, header, head.length + json.length, dataVersion);
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
    return new IndexJournal(fd, header, validBytes, dataVersion);
  }

  /** The journal's size in bytes. */
  get size(): number {
    return this.bytes;
  }

  /** Appends an upsert of unit vectors (`vectors` row i is `ids[i]`'s). */
  upsert(ids: readonly string[], vectors: readonly Float32Array[], dimension: number): void {
    const names = ids.map((id) => Buffer.from(id, "utf8"));
    const idBytes = names.reduce((s, b) => s + 2 + b.length, 0);
    const payload = Buffer.alloc(HEAD + ids.length * dimension * 4 + idBytes);
    let at = writeHead(payload, UPSERT, this.dataVersion(), ids.length);
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
    writeIds(payload, writeHead(payload, DELETE, this.dataVersion(), ids.length), names);
    this.append(payload);
  }

  close(): void {
    closeSync(this.fd);
  }

  private append(payload: Buffer): void {
    const frame = Buffer.alloc(FRAME);
    frame.writeUInt32LE(payload.length, 0);
    frame.writeUInt32LE(crc32(payload), 4);
    writeAll(this.fd, Buffer.concat([frame, payload]));
    this.bytes += FRAME + payload.length;
  }
}

/** What `readJournal` found: the header, the largest write counter recorded, the bytes that hold whole records. */
export interface JournalScan {
  header: JournalHeader;
  maxDataVersion: number;
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
    const head = Buffer.alloc(MAGIC.length + 4);
    if (readSync(fd, head, 0, head.length, 0) < head.length) return undefined;
    if (head.toString("latin1", 0, MAGIC.length) !== MAGIC) return undefined;
    const json = Buffer.alloc(head.readUInt32LE(MAGIC.length));
    if (readSync(fd, json, 0, json.length, head.length) < json.length) return undefined;
    const header = JSON.parse(json.toString("utf8")) as JournalHeader;
    let at = head.length + json.length;
    let maxDataVersion = 0;
    let records = 0;
    const frame = Buffer.alloc(FRAME + HEAD);
    for (;;) {
      if (at + FRAME + HEAD > total || readSync(fd, frame, 0, frame.length, at) < frame.length) break;
      const length = frame.readUInt32LE(0);
      if (length < HEAD || at + FRAME + length > total) break;
      const dataVersion = frame.readDoubleLE(FRAME + 1);
      if (onRecord) {
        const payload = Buffer.alloc(length);
        if (readSync(fd, payload, 0, length, at + FRAME) < length) break;
        if (crc32(payload) !== frame.readUInt32LE(4)) break;
        onRecord(decode(payload, header.dimension));
      }
      maxDataVersion = Math.max(maxDataVersion, dataVersion);
      records++;
      at += FRAME + length;
    }
    return { header, maxDataVersion, validBytes: at, records };
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

function decode(payload: Buffer, dimension: number): JournalRecord {
  const kind = payload.readUInt8(0);
  const dataVersion = payload.readDoubleLE(1);
  const count = payload.readUInt32LE(9);
  if (kind === DELETE) return { kind: "delete", dataVersion, ids: readIds(payload, HEAD, count) };
  const from = HEAD;
  const vectors = new Float32Array(count * dimension);
  new Uint8Array(vectors.buffer).set(payload.subarray(from, from + vectors.byteLength));
  return { kind: "upsert", dataVersion, ids: readIds(payload, from + vectors.byteLength, count), vectors };
}

function writeHead(payload: Buffer, kind: number, dataVersion: number, count: number): number {
  payload.writeUInt8(kind, 0);
  payload.writeDoubleLE(dataVersion, 1);
  payload.writeUInt32LE(count, 9);
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
