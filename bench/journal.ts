/**
 * What the embedded index's image and journal cost a start, in process: an index of `--base`
 * random 512-d vectors (sign codes on, as at a million) saved as an image, `--more` vectors
 * written after it through the journal, then a new index restored from the image and the journal
 * replayed into it.
 *
 *   npx tsx bench/journal.ts [--base 800000] [--more 300000]
 *
 * Prints the time of each step and the vectors held after the replay.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { QuantizedScanIndex } from "../service/vectors/embedded.ts";
import { IndexJournal, readJournal } from "../service/vectors/index-journal.ts";

const { values } = parseArgs({
  options: { base: { type: "string", default: "800000" }, more: { type: "string", default: "300000" } },
});
const BASE = Number(values.base);
const MORE = Number(values.more);
const DIM = 512;
const OPTIONS = { compactFrom: 250_000, threads: 2 };

let seed = 1;
const random = () => {
  seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff;
  return seed / 0x7fffffff - 0.5;
};
const vector = () => Float32Array.from({ length: DIM }, random);
const seconds = (from: number) => `${((performance.now() - from) / 1000).toFixed(1)} s`;

async function fill(index: QuantizedScanIndex, prefix: string, n: number): Promise<void> {
  for (let i = 0; i < n; i += 4096)
    await index.upsert(
      Array.from({ length: Math.min(4096, n - i) }, (_, j) => ({
        id: `${prefix}-${i + j}`,
        vector: vector(),
      })),
    );
}

const dir = mkdtempSync(join(tmpdir(), "journal-bench-"));
const image = join(dir, "x.vectors");
const log = join(dir, "x.vectors.log");
try {
  const written = new QuantizedScanIndex(DIM, OPTIONS);
  let t = performance.now();
  await fill(written, "base", BASE);
  console.log(`built ${BASE.toLocaleString("en")} vectors: ${seconds(t)}`);
  t = performance.now();
  await written.saveImage(image, { embedderId: "bench", dataVersion: 1, vectors: BASE, snapshot: "s" });
  console.log(`image saved: ${seconds(t)}`);
  const header = { base: "s", database: "bench", bootId: "", embedderId: "bench", dimension: DIM };
  written.attachJournal(IndexJournal.create(log, header, () => 2));
  t = performance.now();
  await fill(written, "more", MORE);
  console.log(`${MORE.toLocaleString("en")} more through the journal: ${seconds(t)}`);
  await written.close();

  const restored = new QuantizedScanIndex(DIM, OPTIONS);
  t = performance.now();
  const scanned = readJournal(log);
  if (!(await restored.restoreImage(image, (s) => s.snapshot === "s", scanned?.upserted)))
    throw new Error("image refused");
  console.log(`image restored: ${seconds(t)}`);
  t = performance.now();
  restored.widen(scanned?.maxRange ?? 0);
  const scan = readJournal(log, (r) => restored.replay(r));
  console.log(
    `journal replayed (${scan?.records} records): ${seconds(t)}; ${(await restored.count()).toLocaleString("en")} vectors; ` +
      `RSS ${(process.memoryUsage().rss / 2 ** 30).toFixed(2)} GiB`,
  );
  await restored.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
