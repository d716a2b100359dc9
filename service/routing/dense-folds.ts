import { clamp01, type RankingSettings } from "./aggregate.ts";
import type { FoldedNeighbours, LabelledItem } from "./crossval.ts";
import { advantageWeights } from "./priors.ts";

/**
 * Cross-validation's neighbours laid out as flat numeric arrays, so that scoring hundreds of
 * candidate settings over tens of thousands of items stays a tight loop. `predict` computes exactly
 * what `crossval.predict` computes through the service's ranking code (`rankTargets` with the
 * query's priors, the fallback to the label means, outcomes read against their baselines), which a
 * test checks on random data; it is only faster.
 */
export class DenseFolds {
  /** Target names, sorted; column t of every matrix below. */
  readonly targets: string[];
  /** scores[i·T + t]: item i's score for target t, NaN when it has none. */
  readonly scores: Float64Array;
  /** weights[i·T + t]: what that score counts for (1 for a label). */
  private readonly weights: Float64Array;
  /** baselines[i·T + t]: what an outcome's score is read against; NaN for a label, or none. */
  private readonly baselines: Float64Array;
  private readonly T: number;
  private readonly fold: Int32Array;
  /** Item i's neighbours: entries nbrStart[i] .. nbrStart[i+1]. */
  private readonly nbrStart: Int32Array;
  private readonly nbrItem: Int32Array;
  private readonly nbrSim: Float64Array;
  /** overall[f·T + t]: target t's label mean over fold f's training items (NaN when none scored it). */
  private readonly overall: Float64Array;
  /** Label means per (fold, category): catMeans[f][category id], or undefined (then overall applies). */
  private readonly catMeans: Array<Array<Float64Array | undefined>>;
  /** known[f·T + t]: 1 when fold f's training items know target t at all (labels or residuals). */
  private readonly known: Uint8Array;
  /** advOverall[f·T + t]: target t's overall advantage in fold f (shrunk toward 0). */
  private readonly advOverall: Float64Array;
  /** Advantage per (fold, category): advCat[f][category id][t]. */
  private readonly advCat: Array<Array<Float64Array | undefined>>;
  private readonly category: Int32Array;

  constructor(items: readonly LabelledItem[], folded: FoldedNeighbours) {
    const n = items.length;
    this.targets = [...new Set(items.flatMap((i) => Object.keys(i.scores)))].sort();
    const T = this.targets.length;
    this.T = T;
    const col = new Map(this.targets.map((t, c) => [t, c]));
    this.scores = new Float64Array(n * T).fill(Number.NaN);
    this.weights = new Float64Array(n * T).fill(1);
    this.baselines = new Float64Array(n * T).fill(Number.NaN);
    items.forEach((item, i) => {
      for (const [t, s] of Object.entries(item.scores)) {
        const at = i * T + (col.get(t) as number);
        this.scores[at] = s;
        this.weights[at] = item.weights?.[t] ?? 1;
        const b = item.outcome ? item.baselines?.[t] : undefined;
        if (b !== undefined) this.baselines[at] = b;
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
    const row = <V>(values: Readonly<Record<string, V>>, of: (v: V) => number) => {
      const out = new Float64Array(T).fill(Number.NaN);
      for (const [t, v] of Object.entries(values)) {
        const c = col.get(t);
        if (c !== undefined) out[c] = of(v);
      }
      return out;
    };
    const F = folded.stats.length;
    this.overall = new Float64Array(F * T);
    this.advOverall = new Float64Array(F * T);
    this.known = new Uint8Array(F * T);
    this.catMeans = [];
    this.advCat = [];
    folded.stats.forEach((stats, f) => {
      this.overall.set(
        row(stats.overall, (m) => m),
        f * T,
      );
      const residuals = stats.residuals;
      const sums = row(residuals?.overall ?? {}, (r) => r.sum);
      const weights = row(residuals?.overall ?? {}, (r) => r.weight);
      const kOverall = new Float64Array(T);
      const kCategory = new Float64Array(T);
      for (let t = 0; t < T; t++) {
        const k = advantageWeights(stats, this.targets[t] as string);
        kOverall[t] = k.overall;
        kCategory[t] = k.category;
        const s = Number.isNaN(sums[t] as number) ? 0 : (sums[t] as number);
        const w = Number.isNaN(weights[t] as number) ? 0 : (weights[t] as number);
        this.advOverall[f * T + t] = s / (w + (kOverall[t] as number));
        this.known[f * T + t] =
          Number.isNaN(this.overall[f * T + t] as number) && Number.isNaN(sums[t] as number) ? 0 : 1;
      }
      const means: Array<Float64Array | undefined> = [];
      const advantages: Array<Float64Array | undefined> = [];
      for (const [name, id] of categories) {
        const m = stats.byCategory.get(name);
        means[id] = m && row(m, (v) => v);
        const r = residuals?.byCategory.get(name);
        if (!r) continue;
        const rs = row(r, (v) => v.sum);
        const rw = row(r, (v) => v.weight);
        const adv = new Float64Array(T);
        for (let t = 0; t < T; t++) {
          const overall = this.advOverall[f * T + t] as number;
          const k = kCategory[t] as number;
          adv[t] = Number.isNaN(rs[t] as number)
            ? overall
            : ((rs[t] as number) + k * overall) / ((rw[t] as number) + k);
        }
        advantages[id] = adv;
      }
      this.catMeans.push(means);
      this.advCat.push(advantages);
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
    // Labels: weight, weighted sum, plain sum, count; then every score, outcomes read against baselines.
    const WA = new Float64Array(T);
    const WSA = new Float64Array(T);
    const PA = new Float64Array(T);
    const SA = new Int32Array(T);
    const W = new Float64Array(T);
    const WS = new Float64Array(T);
    const P = new Float64Array(T);
    const support = new Int32Array(T);
    const prior = new Float64Array(T);
    const priorNum = new Float64Array(T);
    const priorDen = new Float64Array(T);
    const estimate = new Float64Array(T);
    const base = new Float64Array(T);
    const advantage = new Float64Array(T);
    const w = new Float64Array(k);
    const shrink = s.shrinkage > 0;
    for (let i = 0; i < n; i++) {
      const f = this.fold[i] as number;
      const overallAt = f * T;
      const start = this.nbrStart[i] as number;
      const kk = Math.min(k, (this.nbrStart[i + 1] as number) - start);
      const base0 = i * T;
      // Fallback: fewer than min(minSupport, k) neighbours at the similarity floor (and any at all).
      let close = 0;
      for (let j = 0; j < kk; j++) if ((this.nbrSim[start + j] as number) >= s.minSimilarity) close++;
      const fallback = kk > 0 && close < Math.min(s.minSupport, k);
      const used = fallback ? 0 : kk;
      for (let j = 0; j < used; j++) w[j] = Math.max(this.nbrSim[start + j] as number, 0) ** s.power;
      // Each target's label mean at this query: the neighbours' categories' means, or overall.
      if (s.prior === "overall" || used === 0) {
        for (let t = 0; t < T; t++) prior[t] = this.overall[overallAt + t] as number;
      } else {
        priorNum.fill(0);
        priorDen.fill(0);
        const cats = this.catMeans[f] as Array<Float64Array | undefined>;
        for (let j = 0; j < used; j++) {
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
          // Targets without labels have no label mean at all.
          prior[t] = Number.isNaN(o)
            ? Number.NaN
            : (priorDen[t] as number) > 0
              ? (priorNum[t] as number) / (priorDen[t] as number)
              : o;
        }
      }
      // The advantage of each target over the others, mixed over the neighbours' categories.
      if (s.prior === "overall" || used === 0) {
        for (let t = 0; t < T; t++) advantage[t] = this.advOverall[overallAt + t] as number;
      } else {
        advantage.fill(0);
        let total = 0;
        const cats = this.advCat[f] as Array<Float64Array | undefined>;
        for (let j = 0; j < used; j++) {
          const c = this.category[this.nbrItem[start + j] as number] as number;
          const adv = c >= 0 ? cats[c] : undefined;
          const wj = w[j] as number;
          total += wj;
          for (let t = 0; t < T; t++) {
            const a = adv ? (adv[t] as number) : (this.advOverall[overallAt + t] as number);
            advantage[t] = (advantage[t] as number) + wj * a;
          }
        }
        for (let t = 0; t < T; t++) {
          advantage[t] =
            total > 0 ? (advantage[t] as number) / total : (this.advOverall[overallAt + t] as number);
        }
      }
      // The label estimates, and each target's baseline: the mean of the other targets' estimates.
      WA.fill(0);
      WSA.fill(0);
      PA.fill(0);
      SA.fill(0);
      for (let j = 0; j < used; j++) {
        const row = (this.nbrItem[start + j] as number) * T;
        const wj = w[j] as number;
        for (let t = 0; t < T; t++) {
          const sc = this.scores[row + t] as number;
          if (Number.isNaN(sc) || !Number.isNaN(this.baselines[row + t] as number)) continue;
          if (this.known[overallAt + t] === 0) continue;
          const ws = wj * (this.weights[row + t] as number);
          WSA[t] = (WSA[t] as number) + ws * sc;
          WA[t] = (WA[t] as number) + ws;
          PA[t] = (PA[t] as number) + sc;
          SA[t] = (SA[t] as number) + 1;
        }
      }
      // Each target's prediction: its label estimate, else its label mean; its baseline, the mean of
      // the other targets' predictions.
      let sumP = 0;
      let nP = 0;
      for (let t = 0; t < T; t++) {
        if (SA[t] !== 0) {
          const m = prior[t] as number;
          const lambda = shrink && !Number.isNaN(m) ? s.shrinkage : 0;
          const weight = (WA[t] as number) + lambda;
          estimate[t] =
            weight > 0
              ? ((WSA[t] as number) + (lambda > 0 ? lambda * m : 0)) / weight
              : (PA[t] as number) / (SA[t] as number);
        } else {
          estimate[t] = prior[t] as number;
        }
        if (Number.isNaN(estimate[t] as number)) continue;
        sumP += estimate[t] as number;
        nP++;
      }
      for (let t = 0; t < T; t++) {
        const own = !Number.isNaN(estimate[t] as number);
        const others = nP - (own ? 1 : 0);
        base[t] = others > 0 ? (sumP - (own ? (estimate[t] as number) : 0)) / others : Number.NaN;
      }
      if (fallback) {
        for (let t = 0; t < T; t++) {
          if (this.known[overallAt + t] === 0) {
            out[base0 + t] = Number.NaN;
            continue;
          }
          const o = this.overall[overallAt + t] as number;
          out[base0 + t] = Number.isNaN(o) ? relativePrior(base[t] as number, advantage[t] as number) : o;
        }
        continue;
      }
      // Every score, an outcome's read against its baseline: its advantage there, on this query's baseline.
      W.fill(0);
      WS.fill(0);
      P.fill(0);
      support.fill(0);
      for (let j = 0; j < used; j++) {
        const row = (this.nbrItem[start + j] as number) * T;
        const wj = w[j] as number;
        for (let t = 0; t < T; t++) {
          const sc = this.scores[row + t] as number;
          if (Number.isNaN(sc) || this.known[overallAt + t] === 0) continue; // NaN: no score
          const b = this.baselines[row + t] as number;
          const q = base[t] as number;
          const value = Number.isNaN(b) || Number.isNaN(q) ? sc : sc - b + q;
          const ws = wj * (this.weights[row + t] as number);
          WS[t] = (WS[t] as number) + ws * value;
          W[t] = (W[t] as number) + ws;
          P[t] = (P[t] as number) + value;
          support[t] = (support[t] as number) + 1;
        }
      }
      for (let t = 0; t < T; t++) {
        const m = prior[t] as number;
        const p = Number.isNaN(m) ? relativePrior(base[t] as number, advantage[t] as number, false) : m;
        if (this.known[overallAt + t] === 0) {
          out[base0 + t] = Number.NaN;
          continue;
        }
        if (support[t] === 0) {
          const o = this.overall[overallAt + t] as number;
          out[base0 + t] = Number.isNaN(o) ? relativePrior(base[t] as number, advantage[t] as number) : o;
          continue;
        }
        const lambda = shrink && !Number.isNaN(p) ? s.shrinkage : 0;
        const weight = (W[t] as number) + lambda;
        const score =
          weight > 0
            ? ((WS[t] as number) + (lambda > 0 ? lambda * p : 0)) / weight
            : (P[t] as number) / (support[t] as number);
        out[base0 + t] = clamp01(score);
      }
    }
    return out;
  }
}

/** A target known only by scores read against a baseline: the query's baseline plus its advantage. */
function relativePrior(base: number, advantage: number, clamp = true): number {
  if (Number.isNaN(base)) return Number.NaN;
  const p = base + advantage;
  return clamp ? clamp01(p) : p;
}
