import type { RankingSettings } from "../../service/routing/aggregate.ts";
import { type FoldedNeighbours, predict, rng } from "../../service/routing/crossval.ts";
import { aiq, type CurvePoint, costFor, hull, qualityAt, twoModel } from "../../service/routing/metrics.ts";
import type { Dataset, EvalItem } from "./datasets.ts";

/** One evaluated router configuration (or reference row). */
export interface Row {
  name: string;
  /** Two-model metrics, when the dataset names a strong and a weak model. */
  apgr?: number;
  cpt50?: number;
  cpt80?: number;
  /** N-model metrics over the cost range of the single models. */
  aiq?: number;
  /** Quality at the best single model's cost, and the cost to match its quality. */
  qualityAtBestCost?: number;
  costToMatchBest?: number;
  /** Mean quality when every query goes to the router's top pick (no cost). */
  topQuality: number;
  curve?: CurvePoint[];
}

export interface Evaluation {
  dataset: string;
  items: number;
  targets: string[];
  rows: Row[];
  /** The best single model, by mean quality, with its mean cost per query. */
  bestSingle: { target: string; quality: number; cost: number };
  costRange: [number, number];
  /** What a cost is measured in, when the dataset says. */
  costUnit?: string;
}

/** Cost of answering item i with target t: the item's own cost, else the dataset's per-call cost. */
function cost(d: Dataset, item: EvalItem, t: string): number {
  return item.costs?.[t] ?? d.costPerCall?.[t] ?? 0;
}

/** Points of a willingness-to-pay sweep: each query picks argmax predicted quality − λ·cost. */
function sweep(
  d: Dataset,
  predicted: ReadonlyArray<Record<string, number>>,
  targets: string[],
): CurvePoint[] {
  const costs = d.items.flatMap((item) => targets.map((t) => cost(d, item, t))).filter((c) => c > 0);
  const scale = costs.length ? costs.reduce((a, b) => a + b, 0) / costs.length : 1;
  const lambdas = [0, ...Array.from({ length: 60 }, (_, i) => 10 ** (-4 + (i * 7) / 59) / scale)];
  return lambdas.map((lambda) => {
    let q = 0;
    let c = 0;
    d.items.forEach((item, i) => {
      let best = targets[0] as string;
      let bestUtility = Number.NEGATIVE_INFINITY;
      for (const t of targets) {
        if (item.scores[t] === undefined) continue;
        const u = (predicted[i]?.[t] ?? 0) - lambda * cost(d, item, t);
        if (u > bestUtility) {
          bestUtility = u;
          best = t;
        }
      }
      q += item.scores[best] ?? 0;
      c += cost(d, item, best);
    });
    return { x: c / d.items.length, y: q / d.items.length };
  });
}

function topQuality(d: Dataset, predicted: ReadonlyArray<Record<string, number>>, targets: string[]): number {
  let q = 0;
  d.items.forEach((item, i) => {
    const avail = targets.filter((t) => item.scores[t] !== undefined);
    const best = avail.reduce(
      (a, b) => ((predicted[i]?.[b] ?? 0) > (predicted[i]?.[a] ?? 0) ? b : a),
      avail[0] as string,
    );
    q += item.scores[best] ?? 0;
  });
  return q / d.items.length;
}

/**
 * Evaluates router settings (their predictions from `folded`), routers' own predictions, and the
 * reference rows on one dataset.
 */
export function evaluate(
  d: Dataset,
  folded: FoldedNeighbours | undefined,
  configs: Array<{ name: string; k: number; settings: RankingSettings; categoryHint?: boolean }>,
  seed: number,
  /** Skip the cost-quality sweep (tuning on two-model data needs only APGR). Default true. */
  withCosts = true,
  /** Rows whose predicted scores (one record per item) come from elsewhere, such as the service. */
  predictedRows: ReadonlyArray<{ name: string; predicted: ReadonlyArray<Record<string, number>> }> = [],
): Evaluation {
  const targets = [...new Set(d.items.flatMap((i) => Object.keys(i.scores)))].sort();
  const n = d.items.length;
  const mean = (f: (item: EvalItem) => number) => d.items.reduce((a, item) => a + f(item), 0) / n;
  const singles = targets.map((t) => ({
    target: t,
    quality: mean((i) => i.scores[t] ?? 0),
    cost: mean((i) => cost(d, i, t)),
  }));
  const bestSingle = singles.reduce((a, b) => (b.quality > a.quality ? b : a));
  const zeroHull = hull(singles.map((s) => ({ x: s.cost, y: s.quality })));
  const costRange: [number, number] = [
    Math.min(...singles.map((s) => s.cost)),
    Math.max(...singles.map((s) => s.cost)),
  ];
  const twoModelData = d.strong !== undefined && d.weak !== undefined;
  const hasCosts = withCosts && costRange[1] > costRange[0];

  const row = (name: string, predicted: ReadonlyArray<Record<string, number>>): Row => {
    const r: Row = { name, topQuality: topQuality(d, predicted, targets) };
    if (twoModelData) {
      const s = d.strong as string;
      const w = d.weak as string;
      const m = twoModel(
        predicted.map((p) => (p[s] ?? 0) - (p[w] ?? 0)),
        d.items.map((i) => i.scores[s] ?? 0),
        d.items.map((i) => i.scores[w] ?? 0),
      );
      Object.assign(r, { apgr: m.apgr, cpt50: m.cpt50, cpt80: m.cpt80 });
    }
    if (hasCosts) {
      const h = hull(sweep(d, predicted, targets));
      Object.assign(r, {
        aiq: aiq(h, costRange[0], costRange[1]),
        qualityAtBestCost: qualityAt(h, bestSingle.cost),
        costToMatchBest: costFor(h, bestSingle.quality),
        curve: h,
      });
    }
    return r;
  };

  if (configs.length > 0 && !folded) throw new Error("router settings need the folded neighbours");
  const rows: Row[] = [
    ...predictedRows.map((p) => row(p.name, p.predicted)),
    ...configs.map((c) =>
      row(c.name, predict(d.items, folded as FoldedNeighbours, c.k, c.settings, c.categoryHint)),
    ),
  ];
  const next = rng(seed);
  rows.push(
    row(
      "random router",
      d.items.map(() => Object.fromEntries(targets.map((t) => [t, next()]))),
    ),
  );
  rows.push(
    row(
      "oracle",
      d.items.map((i) => ({ ...i.scores })),
    ),
  );
  for (const s of singles) {
    rows.push({
      name: `always ${s.target}`,
      topQuality: s.quality,
      ...(hasCosts && {
        aiq: undefined,
        qualityAtBestCost: s.cost <= bestSingle.cost ? s.quality : undefined,
      }),
    });
  }
  if (hasCosts) {
    rows.push({
      name: "zero router (best single model per budget)",
      topQuality: bestSingle.quality,
      aiq: aiq(zeroHull, costRange[0], costRange[1]),
      qualityAtBestCost: qualityAt(zeroHull, bestSingle.cost),
      costToMatchBest: costFor(zeroHull, bestSingle.quality),
      curve: zeroHull,
    });
  }
  return { dataset: d.name, items: n, targets, rows, bestSingle, costRange, costUnit: d.costUnit };
}
