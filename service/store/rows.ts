/** A vector as SQLite stores it (a blob of float32s). */
export function toBlob(v: Float32Array): Buffer {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

export function fromBlob(b: Buffer): Float32Array {
  // Copy: a Buffer's offset into its pool need not be 4-byte aligned.
  const out = new Float32Array(b.byteLength / 4);
  new Uint8Array(out.buffer).set(b);
  return out;
}

/** Rows of a keyset-paginated query: `page(after)` returns up to `pageSize` rows with ids after `after`. */
export function* byPage<T extends { id: string }>(
  pageSize: number,
  page: (after: string | undefined) => T[],
): Generator<T> {
  let after: string | undefined;
  for (;;) {
    const rows = page(after);
    yield* rows;
    if (rows.length < pageSize) return;
    after = rows.at(-1)?.id;
  }
}
