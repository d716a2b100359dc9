import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import type { LabelledItem } from "../routing/crossval.ts";
import type { TargetStore } from "../store/target-store.ts";
import type { TuningSnapshots } from "../store/tuning-snapshots.ts";
import type { TuningInput } from "./worker.ts";

/** The examples as one run cross-validates them: labels, vectors (flat), lengths, prices, and ids. */
export interface Snapshot extends Omit<TuningInput, "current"> {
  ids: string[];
}

/** Which vectors a snapshot reads: those in force, or those staged for a template trial. */
export type VectorSource = "stored" | "staged";

/** Examples read per page, with a turn of the event loop between pages. */
const PAGE = 2000;

/** Every example's labels and vector from `embedderId`, a page at a time between other work. */
async function* pages(snapshots: TuningSnapshots, embedderId: string, from: VectorSource) {
  let after: string | undefined;
  for (;;) {
    const page = snapshots.labelledPage(embedderId, after, PAGE, from);
    yield* page;
    if (page.length < PAGE) return;
    after = page.at(-1)?.id;
    await yieldToEventLoop();
  }
}

/** Every example's category, scores, length and vector, with the targets' prices as they are now. */
export async function readSnapshot(
  snapshots: TuningSnapshots,
  targets: Pick<TargetStore, "targetPrices">,
  embedderId: string,
): Promise<Snapshot> {
  const ids: string[] = [];
  const items: LabelledItem[] = [];
  const tokens: number[] = [];
  const vectors: Float32Array[] = [];
  for await (const r of pages(snapshots, embedderId, "stored")) {
    // Tuning fits scores: an example with comparisons only (arena battles) has none to fit.
    if (Object.keys(r.scores).length === 0) continue;
    ids.push(r.id);
    items.push({
      category: r.category,
      scores: r.scores,
      ...(r.weights && { weights: r.weights }),
      ...(r.baselines && { baselines: r.baselines }),
      ...(r.outcome && { outcome: true }),
    });
    // About four characters a token: the cost of an example under a target is priced by it.
    tokens.push(Math.max(1, Math.ceil(r.chars / 4)));
    vectors.push(r.vector);
  }
  const dim = vectors[0]?.length ?? 0;
  const flat = new Float32Array(vectors.length * dim);
  for (const [i, v] of vectors.entries()) flat.set(v, i * dim);
  const prices: Record<string, number> = {};
  for (const t of targets.targetPrices()) {
    if (t.inputPricePerMtok !== null && t.outputPricePerMtok !== null) {
      // The blend /rank's objective uses by default: half input, half output tokens.
      prices[t.name] = (t.inputPricePerMtok + t.outputPricePerMtok) / 2;
    }
  }
  return { ids, items, flat, dim, prices, tokens };
}

/** The vectors `embedderId` made, by example id. */
export async function vectorsOf(
  snapshots: TuningSnapshots,
  embedderId: string,
  from: VectorSource,
): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for await (const r of pages(snapshots, embedderId, from)) out.set(r.id, r.vector);
  return out;
}

/**
 * The examples of `snapshot` at positions `keep`, with their vectors from `vectors` (by id):
 * the same labels, lengths and prices, other vectors.
 */
export function subset(
  snapshot: Snapshot,
  keep: readonly number[],
  vectors: Map<string, Float32Array>,
): Snapshot {
  const ids = keep.map((i) => snapshot.ids[i] as string);
  const dim = vectors.values().next().value?.length ?? snapshot.dim;
  const flat = new Float32Array(ids.length * dim);
  for (const [j, id] of ids.entries()) flat.set(vectors.get(id) as Float32Array, j * dim);
  return {
    ids,
    items: keep.map((i) => snapshot.items[i] as LabelledItem),
    tokens: keep.map((i) => snapshot.tokens[i] as number),
    prices: snapshot.prices,
    flat,
    dim,
  };
}
