import type { RankingSettings } from "./aggregate.ts";
import type { FoldedNeighbours, LabelledItem } from "./crossval.ts";

/**
 * Cross-validation's neighbours laid out as flat numeric arrays, so that scoring hundreds of
 * candidate settings over tens of thousands of items stays a tight loop. `predict` computes exactly
 * what `crossval.predict` computes through the service's ranking code (`rankTargets`, the fallback
 * to the priors), which a test checks on random data; it is only faster.
 */
export class DenseFolds {
  /** Target names, sorted; column t of every matrix below. */
  readonly targets: string[];
  /** scores[i·T + t]: item i's score for target t, NaN when it has none. */
  readonly scores: Float64Array;
  /** weights[i·T + t]: what that score counts for (1 for a label). */
  private readonly weights: Float64Array;
  private readonly T: number;
  private readonly fold: Int32Array;
  /** Item i's neighbours: entries nbrStart[i] .. nbrStart[i+1]. */
  private readonly nbrStart: Int32Array;
  private readonly nbrItem: Int32Array;
  private readonly nbrSim: Float64Array;
  /** overall[f·T + t]: target t's mean over fold f's training items (NaN when none scored it). */
  private readonly overall: Float64Array;
  /** Means per (fold, category): catMeans[f][category id], or undefined (then overall applies). */
  private readonly catMeans: Array<Array<Float64Array | undefined>>;
  private readonly category: Int32Array;

  constructor(items: readonly LabelledItem[], folded: FoldedNeighbours) {
    const n = items.length;
    this.targets = [...new Set(items.flatMap((i) => Object.keys(i.scores)))].sort();
    const T = this.targets.length;
    this.T = T;
    const col = new Map(this.targets.map((t, c) => [t, c]));
    this.scores = new Float64Array(n * T).fill(Number.NaN);
    this.weights = new Float64Array(n * T).fill(1);
    items.forEach((item, i) => {
      for (const [t, s] of Object.entries(item.scores)) {
        const at = i * T + (col.get(t) as number);
        this.scores[at] = s;
        this.weights[at] = item.weights?.[t] ?? 1;
      }
    });
    const categories = new Map<string, number>();
    this.category = Int32Array.from(items, (item) => {
      if (item.category === null) return -1;
      if (!categories.has(item.category)) categories.set(item.category, categories.size);
      return categories.get(item.category) as number;
    });
    this.fold = Int32Array.from(folded.fold);
    this.nbrStart = new Int32Array(n + 1);
    let total = 0;
    for (let i = 0; i < n; i++) {
      this.nbrStart[i] = total;
      total += folded.neighbours[i]?.length ?? 0;
    }
    this.nbrStart[n] = total;
    this.nbrItem = new Int32Array(total);
    this.nbrSim = new Float64Array(total);
    for (let i = 0; i < n; i++) {
      let at = this.nbrStart[i] as number;
      for (const nb of folded.neighbours[i] ?? []) {
        this.nbrItem[at] = Number(nb.id);
        this.nbrSim[at] = nb.similarity;
        at++;
      }
    }
    const row = (means: Readonly<Record<string, number>>) => {
      const out = new Float64Array(T).fill(Number.NaN);
      for (const [t, m] of Object.entries(means)) {
        const c = col.get(t);
        if (c !== undefined) out[c] = m;
      }
      return out;
    };
    this.overall = new Float64Array(folded.stats.length * T);
    this.catMeans = folded.stats.map((stats, f) => {
      this.overall.set(row(stats.overall), f * T);
      const byId: Array<Float64Array | undefined> = [];
      for (const [name, id] of categories) {
        const means = stats.byCategory.get(name);
        byId[id] = means && row(means);
      }
      return byId;
    });
  }

  get size(): number {
    return this.fold.length;
  }

  /** Predicted score of every target for every item (pred[i·T + t]; NaN: the target is unknown there). */
  predict(k: number, s: RankingSettings): Float64Array {
    const { T } = this;
    const n = this.fold.length;
    const out = new Float64Array(n * T);
    const W = new Float64Array(T);
    const WS = new Float64Array(T);
    const P = new Float64Array(T);
    const support = new Int32Array(T);
    const prior = new Float64Array(T);
    const priorNum = new Float64Array(T);
    const priorDen = new Float64Array(T);
    const w = new Float64Array(k);
    for (let i = 0; i < n; i++) {
      const f = this.fold[i] as number;
      const overallAt = f * T;
      const start = this.nbrStart[i] as number;
      const kk = Math.min(k, (this.nbrStart[i + 1] as number) - start);
      const base = i * T;
      // Fallback: fewer than min(minSupport, k) neighbours at the similarity floor (and any at all).
      let close = 0;
      for (let j = 0; j < kk; j++) if ((this.nbrSim[start + j] as number) >= s.minSimilarity) close++;
      if (kk > 0 && close < Math.min(s.minSupport, k)) {
        for (let t = 0; t < T; t++) out[base + t] = this.overall[overallAt + t] as number;
        continue;
      }
      for (let j = 0; j < kk; j++) w[j] = Math.max(this.nbrSim[start + j] as number, 0) ** s.power;
      W.fill(0);
      WS.fill(0);
      P.fill(0);
      support.fill(0);
      for (let j = 0; j < kk; j++) {
        const row = (this.nbrItem[start + j] as number) * T;
        const wj = w[j] as number;
        for (let t = 0; t < T; t++) {
          const sc = this.scores[row + t] as number;
          if (Number.isNaN(sc)) continue; // NaN: no score
          const ws = wj * (this.weights[row + t] as number);
          WS[t] = (WS[t] as number) + ws * sc;
          W[t] = (W[t] as number) + ws;
          P[t] = (P[t] as number) + sc;
          support[t] = (support[t] as number) + 1;
        }
      }
      const shrink = s.shrinkage > 0;
      if (shrink) {
        if (s.prior === "overall") {
          for (let t = 0; t < T; t++) prior[t] = this.overall[overallAt + t] as number;
        } else {
          priorNum.fill(0);
          priorDen.fill(0);
          const cats = this.catMeans[f] as Array<Float64Array | undefined>;
          for (let j = 0; j < kk; j++) {
            const c = this.category[this.nbrItem[start + j] as number] as number;
            const means = c >= 0 ? cats[c] : undefined;
            const wj = w[j] as number;
            for (let t = 0; t < T; t++) {
              const m = means ? (means[t] as number) : (this.overall[overallAt + t] as number);
              if (Number.isNaN(m)) continue;
              priorNum[t] = (priorNum[t] as number) + wj * m;
              priorDen[t] = (priorDen[t] as number) + wj;
            }
          }
          for (let t = 0; t < T; t++) {
            const o = this.overall[overallAt + t] as number;
            // Targets unknown overall have no prior at all.
            prior[t] = Number.isNaN(o)
              ? Number.NaN
              : (priorDen[t] as number) > 0
                ? (priorNum[t] as number) / (priorDen[t] as number)
                : o;
          }
        }
      }
      for (let t = 0; t < T; t++) {
        if (support[t] === 0) {
          out[base + t] = this.overall[overallAt + t] as number;
          continue;
        }
        const p = prior[t] as number;
        const lambda = shrink && !Number.isNaN(p) ? s.shrinkage : 0;
        const weight = (W[t] as number) + lambda;
        out[base + t] =
          weight > 0
            ? ((WS[t] as number) + (lambda > 0 ? lambda * p : 0)) / weight
            : (P[t] as number) / (support[t] as number);
      }
    }
    return out;
  }
}
