import { createHash } from "node:crypto";
import { appendFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Embedder } from "../../service/embedding/embedder.ts";

/**
 * Embeddings on disk, keyed by embedder id and the SHA-1 of the text: embedding the 14,037 MMLU
 * prompts with the local model takes minutes, a second run reads them back in a second. One
 * append-only file per embedder: records of 20 hash bytes followed by `dimension` float32s.
 */
export class DiskEmbeddingCache {
  private readonly vectors = new Map<string, Float32Array>();
  private readonly file: string;

  constructor(
    dir: string,
    private readonly embedder: Embedder,
  ) {
    mkdirSync(dir, { recursive: true });
    this.file = join(dir, `${embedder.id.replace(/[^A-Za-z0-9._-]+/g, "_")}.bin`);
    if (existsSync(this.file)) this.load();
  }

  /** Vectors for `texts` in order, embedding (in batches, reporting progress) only those not on disk. */
  async embed(
    texts: readonly string[],
    onProgress?: (done: number, total: number) => void,
  ): Promise<Float32Array[]> {
    const missing = [...new Set(texts.filter((t) => !this.vectors.has(key(t))))];
    const batch = 256;
    for (let i = 0; i < missing.length; i += batch) {
      const part = missing.slice(i, i + batch);
      const vectors = await this.embedder.embed(part, "bulk");
      const record = 20 + this.embedder.dimension * 4;
      const out = Buffer.alloc(part.length * record);
      part.forEach((t, j) => {
        const h = createHash("sha1").update(t).digest();
        h.copy(out, j * record);
        const v = vectors[j] as Float32Array;
        Buffer.from(v.buffer, v.byteOffset, v.byteLength).copy(out, j * record + 20);
        this.vectors.set(h.toString("hex"), v);
      });
      appendFileSync(this.file, out);
      onProgress?.(Math.min(i + batch, missing.length), missing.length);
    }
    return texts.map((t) => this.vectors.get(key(t)) as Float32Array);
  }

  private load(): void {
    const data = readFileSync(this.file);
    const dim = this.embedder.dimension;
    const record = 20 + dim * 4;
    // A crash mid-append leaves a partial last record: ignore it.
    for (let off = 0; off + record <= data.length; off += record) {
      const v = new Float32Array(dim);
      new Uint8Array(v.buffer).set(data.subarray(off + 20, off + record));
      this.vectors.set(data.subarray(off, off + 20).toString("hex"), v);
    }
  }
}

function key(text: string): string {
  return createHash("sha1").update(text).digest("hex");
}
