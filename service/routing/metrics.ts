/**
 * Router metrics. Two-model metrics follow RouteLLM (arXiv 2406.18665, section 5): sweep the
 * threshold on the router's preference for the strong model; APGR is the area under the
 * performance-gap-recovered curve against the share of calls sent to the strong model, and
 * CPT(x%) the smallest such share that recovers x% of the gap. N-model metrics trace a
 * cost-quality curve by sweeping the willingness to pay.
 */

export interface CurvePoint {
  /** x: share of calls to the strong model (two-model) or mean cost per query (N-model). */
  x: number;
  /** y: performance gap recovered (two-model) or mean quality (N-model). */
  y: number;
}

export interface TwoModelResult {
  apgr: number;
  /** Smallest share of strong-model calls recovering 50% / 80% of the gap. */
  cpt50: number;
  cpt80: number;
  curve: CurvePoint[];
}

/**
 * `preference[i]`: how much the router wants the strong model for query i (higher = more).
 * Queries are sent to the strong model in order of preference; tied queries switch together, so
 * the curve's points sit at tie boundaries and the area is taken by the trapezoid rule.
 */
export function twoModel(preference: number[], strong: number[], weak: number[]): TwoModelResult {
  const n = preference.length;
  const order = [...preference.keys()].sort((a, b) => (preference[b] as number) - (preference[a] as number));
  const weakTotal = weak.reduce((a, b) => a + b, 0);
  const strongTotal = strong.reduce((a, b) => a + b, 0);
  const gap = (strongTotal - weakTotal) / n;
  const pgr = (total: number) => (gap === 0 ? 0 : (total / n - weakTotal / n) / gap);
  const curve: CurvePoint[] = [{ x: 0, y: 0 }];
  let total = weakTotal;
  for (let i = 0; i < n; i++) {
    const q = order[i] as number;
    total += (strong[q] as number) - (weak[q] as number);
    const next = order[i + 1];
    if (next === undefined || preference[next] !== preference[q])
      curve.push({ x: (i + 1) / n, y: pgr(total) });
  }
  return { apgr: area(curve), cpt50: reach(curve, 0.5), cpt80: reach(curve, 0.8), curve };
}

/** Trapezoid area under a curve given by increasing x. */
export function area(curve: CurvePoint[]): number {
  let s = 0;
  for (let i = 1; i < curve.length; i++) {
    const a = curve[i - 1] as CurvePoint;
    const b = curve[i] as CurvePoint;
    s += ((b.x - a.x) * (a.y + b.y)) / 2;
  }
  return s;
}

/** The first x at which the (linearly interpolated) curve reaches y = target; 1 if it never does. */
export function reach(curve: CurvePoint[], target: number): number {
  for (let i = 1; i < curve.length; i++) {
    const a = curve[i - 1] as CurvePoint;
    const b = curve[i] as CurvePoint;
    if (b.y >= target) {
      if (a.y >= target) return a.x;
      return a.x + ((target - a.y) / (b.y - a.y)) * (b.x - a.x);
    }
  }
  return 1;
}

/**
 * The non-decreasing upper convex hull of cost-quality points: the best quality reachable at each
 * cost by choosing among the points or mixing two of them at random.
 */
export function hull(points: CurvePoint[]): CurvePoint[] {
  const sorted = [...points].sort((a, b) => a.x - b.x || b.y - a.y);
  const upper: CurvePoint[] = [];
  for (const p of sorted) {
    // Non-decreasing: a point no better than the best cheaper one adds nothing.
    if (upper.length > 0 && p.y <= (upper.at(-1) as CurvePoint).y) continue;
    while (upper.length >= 2) {
      const a = upper.at(-2) as CurvePoint;
      const b = upper.at(-1) as CurvePoint;
      // Drop b when it lies on or below the segment a-p.
      if ((b.x - a.x) * (p.y - a.y) - (b.y - a.y) * (p.x - a.x) >= 0) upper.pop();
      else break;
    }
    upper.push(p);
  }
  return upper;
}

/** Quality of a hull at cost x (flat beyond its ends: spending more buys nothing more). */
export function qualityAt(h: CurvePoint[], x: number): number {
  if (h.length === 0) return 0;
  if (x <= (h[0] as CurvePoint).x) return (h[0] as CurvePoint).y;
  for (let i = 1; i < h.length; i++) {
    const a = h[i - 1] as CurvePoint;
    const b = h[i] as CurvePoint;
    if (x <= b.x) return a.y + ((x - a.x) / (b.x - a.x)) * (b.y - a.y);
  }
  return (h.at(-1) as CurvePoint).y;
}

/** Smallest cost at which a hull reaches quality y; undefined if it never does. */
export function costFor(h: CurvePoint[], y: number): number | undefined {
  for (let i = 0; i < h.length; i++) {
    const b = h[i] as CurvePoint;
    if (b.y >= y) {
      const a = h[i - 1];
      if (!a) return b.x;
      return a.x + ((y - a.y) / (b.y - a.y)) * (b.x - a.x);
    }
  }
  return undefined;
}

/**
 * Average improvement in quality: the area under the hull between `from` and `to` divided by the
 * cost range, so routers are compared over the same costs.
 */
export function aiq(h: CurvePoint[], from: number, to: number): number {
  if (to <= from) return qualityAt(h, from);
  const steps = 2000;
  let s = 0;
  for (let i = 0; i < steps; i++) s += qualityAt(h, from + ((i + 0.5) / steps) * (to - from));
  return s / steps;
}
