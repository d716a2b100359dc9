/**
 * Sign codes: one bit a dimension (the sign of each component), 64 bytes for a 512-d vector. Two
 * vectors' Hamming distance over their sign codes estimates the angle between them (the fraction
 * of differing bits is the angle over π for random rotations, and tracks it on real embeddings), so
 * a scan over the codes reads an eighth of the int8 copy and finds the candidates the exact scores
 * then rank.
 *
 * The scan is a small WebAssembly kernel over the codes held in its own memory: eight 64-bit words
 * a code, XOR and POPCNT per word (one instruction each on x86-64 and ARM64), distances written as
 * 16-bit integers with their histogram beside them, so the `count` best are found by a cumulative
 * sum over at most `bits + 1` buckets instead of a sort. The module is assembled here, byte by byte
 * (about 200 bytes): no toolchain, no download.
 *
 * With `threads: 2` a helper thread shares the memory and scans the second half of the codes while
 * the caller scans the first: the scan is bound by reading memory, and two cores read about twice
 * as fast as one here. The caller waits for the helper (microseconds after its own half, since
 * both halves cost the same); should the helper ever fail to answer within a second, the caller
 * scans that half itself and goes on alone.
 */
import { Worker } from "node:worker_threads";

/** Bytes of one sign code for `dimension` dimensions (a whole number of 64-bit words). */
export function codeBytes(dimension: number): number {
  return Math.ceil(dimension / 64) * 8;
}

/** Writes the sign code of `v` (bit j set when v[j] > 0) into `out`, which is zeroed first. */
export function signCode(v: Float32Array, out: Uint8Array): void {
  out.fill(0);
  for (let j = 0; j < v.length; j++) {
    if ((v[j] as number) > 0) out[j >> 3] = (out[j >> 3] as number) | (1 << (j & 7));
  }
}

/**
 * The parts of the WebAssembly API used here. Node has it; the type definitions this project
 * compiles with (ES2023 and Node's, no DOM) do not declare it.
 */
interface WasmApi {
  Memory: new (descriptor: { initial: number; maximum: number; shared: boolean }) => Wasm.Memory;
  Module: new (bytes: Uint8Array<ArrayBuffer>) => unknown;
  Instance: new (module: unknown, imports: { env: { memory: Wasm.Memory } }) => { exports: unknown };
}
declare namespace Wasm {
  interface Memory {
    readonly buffer: SharedArrayBuffer;
    grow(pages: number): number;
  }
}
const Wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

const PAGE = 65_536;
/** 4 GiB: the most a 32-bit WebAssembly memory can address (reserved, not allocated). */
const MAX_PAGES = 65_536;
/** Below this many codes a scan takes well under a millisecond: not worth waking the helper. */
const SPLIT_FROM = 65_536;

/**
 * The helper thread: instantiates the same module on the shared memory and runs `hamming` each
 * time the job counter (control[0]) moves; -1 stops it. control[1..5] are the job's arguments;
 * control[6] is set to the job's number when it is done.
 */
const HELPER = `
const { workerData } = require("node:worker_threads");
const { module, memory, control } = workerData;
const kernel = new WebAssembly.Instance(module, { env: { memory } }).exports;
const c = new Int32Array(control);
let job = 0;
for (;;) {
  Atomics.wait(c, 0, job);
  job = Atomics.load(c, 0);
  if (job < 0) break;
  kernel.hamming(c[1], c[2], c[3], c[4], c[5]);
  Atomics.store(c, 6, job);
  Atomics.notify(c, 6);
}
`;

/**
 * Sign codes of up to `capacity` vectors in one WebAssembly memory, slot by slot, and the scan over
 * them. Slots are dense (0..size-1), mirrored by the caller's own slots.
 */
export class SignCodes {
  private readonly memory: Wasm.Memory;
  private readonly module: unknown;
  private readonly kernel: Kernel;
  private capacity = 0;
  readonly bytes: number;
  private readonly words: number;
  /** The helper thread and its control words, once a scan is large enough to share. */
  private helper: { worker: Worker; control: Int32Array; job: number } | undefined;
  private helperFailed = false;

  constructor(
    readonly dimension: number,
    /** 2: a helper thread scans half the codes (from SPLIT_FROM codes on). Default 1. */
    private readonly threads = 1,
  ) {
    this.bytes = codeBytes(dimension);
    this.words = this.bytes / 8;
    this.memory = new Wasm.Memory({ initial: 1, maximum: MAX_PAGES, shared: true });
    this.module = new Wasm.Module(assemble(this.words));
    this.kernel = new Wasm.Instance(this.module, { env: { memory: this.memory } })
      .exports as unknown as Kernel;
  }

  /** Stops the helper thread, if one runs. */
  close(): void {
    if (!this.helper) return;
    Atomics.store(this.helper.control, 0, -1);
    Atomics.notify(this.helper.control, 0);
    void this.helper.worker.terminate();
    this.helper = undefined;
  }

  /** Room for `capacity` codes (grows the memory; codes already written stay). */
  reserve(capacity: number): void {
    if (capacity <= this.capacity) return;
    this.ensure(capacity * this.bytes);
    this.capacity = capacity;
  }

  /** Writes the sign code of `v` at `slot`. */
  set(slot: number, v: Float32Array): void {
    signCode(v, new Uint8Array(this.memory.buffer, slot * this.bytes, this.bytes));
  }

  /** Copies the code at `from` over `to` (a delete moves the last slot into the hole). */
  move(from: number, to: number): void {
    new Uint8Array(this.memory.buffer).copyWithin(
      to * this.bytes,
      from * this.bytes,
      (from + 1) * this.bytes,
    );
  }

  /**
   * Slots of the `count` codes among the first `size` nearest `query` in Hamming distance (more when
   * several tie at the cut-off distance), in slot order.
   */
  nearest(query: Float32Array, size: number, count: number): Int32Array {
    const bits = this.words * 64;
    const distancesAt = this.capacity * this.bytes;
    const histogramAt = align(distancesAt + size * 2, 8);
    const queryAt = histogramAt + (bits + 1) * 4;
    const slotsAt = queryAt + this.bytes;
    const helperHistogramAt = slotsAt + size * 4;
    // The scratch after the codes, the helper's histogram last: one growth covers it all.
    this.ensure(helperHistogramAt + (bits + 1) * 4);
    const buffer = this.memory.buffer;
    const histogram = new Int32Array(buffer, histogramAt, bits + 1);
    histogram.fill(0);
    signCode(query, new Uint8Array(buffer, queryAt, this.bytes));
    const helper = size >= SPLIT_FROM ? this.startHelper() : undefined;
    if (!helper) {
      this.kernel.hamming(0, size, queryAt, distancesAt, histogramAt);
    } else {
      // The helper takes the second half; its histogram is added to ours after.
      const half = size >> 1;
      const theirs = new Int32Array(buffer, helperHistogramAt, bits + 1);
      theirs.fill(0);
      const c = helper.control;
      c.set([half * this.bytes, size - half, queryAt, distancesAt + half * 2, helperHistogramAt], 1);
      helper.job = (helper.job + 1) & 0x3fffffff;
      Atomics.store(c, 0, helper.job);
      Atomics.notify(c, 0);
      this.kernel.hamming(0, half, queryAt, distancesAt, histogramAt);
      if (this.awaitHelper(helper)) {
        for (let d = 0; d <= bits; d++) histogram[d] = (histogram[d] as number) + (theirs[d] as number);
      } else {
        // Its half scanned here, into our own histogram: should the helper still finish late, it
        // writes the same distances and a histogram no longer read.
        this.kernel.hamming(half * this.bytes, size - half, queryAt, distancesAt + half * 2, histogramAt);
      }
    }
    let cut = 0;
    for (let seen = 0; cut <= bits; cut++) {
      seen += histogram[cut] as number;
      if (seen >= count) break;
    }
    const found = this.kernel.collect(distancesAt, size, Math.min(cut, bits), slotsAt);
    return new Int32Array(buffer, slotsAt, found).slice();
  }

  /** The helper thread, started on first use; undefined with one thread or after it failed. */
  private startHelper(): typeof this.helper {
    if (this.threads < 2 || this.helperFailed) return undefined;
    if (!this.helper) {
      const control = new Int32Array(new SharedArrayBuffer(8 * 4));
      const worker = new Worker(HELPER, {
        eval: true,
        workerData: { module: this.module, memory: this.memory, control: control.buffer },
      });
      worker.unref();
      worker.on("error", () => {
        this.helperFailed = true;
      });
      this.helper = { worker, control, job: 0 };
    }
    return this.helper;
  }

  /** Waits for the helper's current job; false (and no helper from now on) if it does not answer. */
  private awaitHelper(helper: NonNullable<typeof this.helper>): boolean {
    const deadline = Date.now() + 1000;
    const c = helper.control;
    for (;;) {
      const done = Atomics.load(c, 6);
      if (done === helper.job) return true;
      const left = deadline - Date.now();
      if (left <= 0 || Atomics.wait(c, 6, done, left) === "timed-out") {
        if (Atomics.load(c, 6) === helper.job) return true;
        this.helperFailed = true;
        this.close();
        return false;
      }
    }
  }

  private ensure(bytes: number): void {
    const have = this.memory.buffer.byteLength;
    if (bytes <= have) return;
    // Grow by at least half again, so a stream of inserts grows the memory a few times only.
    if (bytes > MAX_PAGES * PAGE) throw new RangeError("sign codes: more than 4 GiB of codes and scratch");
    const pages = Math.min(MAX_PAGES, Math.ceil(Math.max(bytes, have * 1.5) / PAGE)) - have / PAGE;
    this.memory.grow(pages);
  }
}

function align(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

interface Kernel {
  /** distances[i] = popcount(code[i] XOR query) for i < n (16-bit), histogram[d] += 1. */
  hamming(codes: number, n: number, query: number, distances: number, histogram: number): void;
  /** Writes the indices i < n with distances[i] <= cut to `slots` (32-bit); returns how many. */
  collect(distances: number, n: number, cut: number, slots: number): number;
}

/** The WebAssembly opcodes used below, by their text names. */
const OPCODES: Record<string, number> = {
  block: 0x02,
  loop: 0x03,
  if: 0x04,
  end: 0x0b,
  br: 0x0c,
  br_if: 0x0d,
  "local.get": 0x20,
  "local.set": 0x21,
  "local.tee": 0x22,
  "i32.load": 0x28,
  "i64.load": 0x29,
  "i32.load16_u": 0x2f,
  "i32.store": 0x36,
  "i32.store16": 0x3b,
  "i32.const": 0x41,
  "i32.eqz": 0x45,
  "i32.lt_u": 0x49,
  "i32.le_u": 0x4d,
  "i32.ge_u": 0x4f,
  "i32.add": 0x6a,
  "i32.sub": 0x6b,
  "i32.shl": 0x74,
  "i64.popcnt": 0x7b,
  "i64.add": 0x7c,
  "i64.xor": 0x85,
  "i32.wrap_i64": 0xa7,
};
/** SIMD instructions: after the 0xfd prefix. */
const SIMD: Record<string, number> = {
  "v128.load": 0x00,
  "i16x8.splat": 0x10,
  "i16x8.le_u": 0x34,
  "v128.any_true": 0x53,
};
/** Natural alignment (log2 of the bytes accessed) of the memory instructions. */
const ALIGN: Record<string, number> = {
  "i32.load": 2,
  "i64.load": 3,
  "i32.load16_u": 1,
  "i32.store": 2,
  "i32.store16": 1,
  "v128.load": 4,
};
const VOID = 0x40;
const I32 = 0x7f;
const I64 = 0x7e;
const V128 = 0x7b;

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

/** Signed LEB128. */
function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) return [...out, byte];
    out.push(byte | 0x80);
  }
}

const name = (s: string) => [...uleb(s.length), ...Buffer.from(s, "utf8")];
const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];
const vec = (items: number[][]) => [...uleb(items.length), ...items.flat()];
const memarg = (align: number, offset: number) => [...uleb(align), ...uleb(offset)];

/** Instructions written as lines of a listing: `code("local.get 1", "i32.eqz", ...)`. */
function code(...lines: Array<string | number[]>): number[] {
  return lines.flatMap((line) => (typeof line === "string" ? line.split(";").flatMap(instruction) : line));
}

/** One instruction in text form (`i64.load 8`: a memory access at offset 8) as bytes. */
function instruction(text: string): number[] {
  const [op = "", arg] = text.trim().split(/\s+/);
  const simd = SIMD[op];
  if (simd !== undefined) {
    const align = ALIGN[op];
    return [0xfd, ...uleb(simd), ...(align === undefined ? [] : memarg(align, Number(arg ?? 0)))];
  }
  const opcode = OPCODES[op];
  if (opcode === undefined) throw new Error(`unknown instruction ${text}`);
  const n = Number(arg ?? 0);
  if (op === "block" || op === "loop" || op === "if") return [opcode, VOID];
  if (op === "i32.const") return [opcode, ...sleb(n)];
  const align = ALIGN[op];
  if (align !== undefined) return [opcode, ...memarg(align, n)];
  return arg === undefined ? [opcode] : [opcode, ...uleb(n)];
}

/** The module: `hamming` unrolled for codes of `words` 64-bit words, and `collect`. */
function assemble(words: number): Uint8Array<ArrayBuffer> {
  // hamming(codes 0, n 1, query 2, distances 3, histogram 4); locals: q0.. (i64), d, at (i32).
  const q = (w: number) => 5 + w;
  const d = 5 + words;
  const at = d + 1;
  const each = Array.from({ length: words }, (_, w) => w);
  const hamming = code(
    ...each.map((w) => `local.get 2; i64.load ${w * 8}; local.set ${q(w)}`),
    "block; local.get 1; i32.eqz; br_if 0; loop",
    // d = Σ popcount(code word XOR query word)
    ...each.map(
      (w) =>
        `local.get 0; i64.load ${w * 8}; local.get ${q(w)}; i64.xor; i64.popcnt${w > 0 ? "; i64.add" : ""}`,
    ),
    `i32.wrap_i64; local.set ${d}`,
    // distances[i] = d; distances += 2
    `local.get 3; local.get ${d}; i32.store16`,
    "local.get 3; i32.const 2; i32.add; local.set 3",
    // histogram[d] += 1
    `local.get 4; local.get ${d}; i32.const 2; i32.shl; i32.add; local.tee ${at}`,
    `local.get ${at}; i32.load; i32.const 1; i32.add; i32.store`,
    // codes += the code's bytes; loop while --n
    `local.get 0; i32.const ${words * 8}; i32.add; local.set 0`,
    "local.get 1; i32.const 1; i32.sub; local.tee 1; br_if 0",
    "end; end; end",
  );
  const hammingBody = [
    ...vec([
      [...uleb(words), I64],
      [...uleb(2), I32],
    ]),
    ...hamming,
  ];

  // collect(distances 0, n 1, cut 2, slots 3) -> found; locals: found 4, i 5 (i32), cuts 6 (v128).
  // Eight distances at a time are skipped with one SIMD comparison when none is within the cut:
  // nearly all of them, since the cut keeps a few thousand codes of up to millions.
  const collect = code(
    "local.get 2; i16x8.splat; local.set 6",
    "block; loop",
    "local.get 5; local.get 1; i32.ge_u; br_if 1",
    // while i + 8 <= n and none of distances[i..i+8] <= cut: i += 8
    "local.get 5; i32.const 8; i32.add; local.get 1; i32.le_u; if",
    "local.get 0; local.get 5; i32.const 1; i32.shl; i32.add; v128.load",
    "local.get 6; i16x8.le_u; v128.any_true; i32.eqz; if",
    "local.get 5; i32.const 8; i32.add; local.set 5; br 2",
    "end; end",
    // if distances[i] <= cut: slots[found++] = i
    "local.get 0; local.get 5; i32.const 1; i32.shl; i32.add; i32.load16_u",
    "local.get 2; i32.le_u; if",
    "local.get 3; local.get 4; i32.const 2; i32.shl; i32.add; local.get 5; i32.store",
    "local.get 4; i32.const 1; i32.add; local.set 4",
    "end",
    "local.get 5; i32.const 1; i32.add; local.set 5; br 0",
    "end; end; local.get 4; end",
  );
  const collectBody = [
    ...vec([
      [...uleb(2), I32],
      [...uleb(1), V128],
    ]),
    ...collect,
  ];

  const functype = (params: number, results: number) => [
    0x60,
    ...vec(Array.from({ length: params }, () => [I32])),
    ...vec(Array.from({ length: results }, () => [I32])),
  ];
  const body = (b: number[]) => [...uleb(b.length), ...b];
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vec([functype(5, 0), functype(4, 1)])),
    // (import "env" "memory" (memory 1 65536 shared))
    ...section(2, vec([[...name("env"), ...name("memory"), 0x02, 0x03, ...uleb(1), ...uleb(MAX_PAGES)]])),
    ...section(3, vec([[0], [1]])),
    ...section(
      7,
      vec([
        [...name("hamming"), 0x00, 0],
        [...name("collect"), 0x00, 1],
      ]),
    ),
    ...section(10, vec([body(hammingBody), body(collectBody)])),
  ]);
}
