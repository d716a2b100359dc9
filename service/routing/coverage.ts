/**
 * `m` of `vectors` chosen to cover the space they fill: diverse (one per region) and representative
 * (each the member nearest its region's centre, regions taken largest first). The regions are a
 * k-means partition: seeded k-means++ (each next centre drawn with probability proportional to its
 * squared distance from the nearest chosen one), then `iterations` of Lloyd's updates. Vectors are
 * unit length; distances are 1 − cosine. Deterministic for a given `seed`. Pure computation.
 */
export function coveringSample(
  vectors: readonly Float32Array[],
  m: number,
  options: { iterations?: number } = {},
): number[] {
  const n = vectors.length;
  if (n === 0 || m <= 0) return [];
  if (m >= n) return Array.from({ length: n }, (_, i) => i);
  const dim = (vectors[0] as Float32Array).length;
  const dot = (a: Float32Array, b: Float32Array) => {
    let s = 0;
    for (let d = 0; d < dim; d++) s += (a[d] as number) * (b[d] as number);
    return s;
  };
  // Seeds by farthest-first traversal from the most central vector: every well-separated region gets
  // a seed, whatever the draw (k-means++'s random seeding can put two in one region and none in another).
  const mean = new Float64Array(dim);
  for (const v of vectors) for (let d = 0; d < dim; d++) mean[d] = (mean[d] as number) + (v[d] as number);
  let first = 0;
  let firstSim = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < n; i++) {
    const v = vectors[i] as Float32Array;
    let s = 0;
    for (let d = 0; d < dim; d++) s += (v[d] as number) * (mean[d] as number);
    if (s > firstSim) {
      firstSim = s;
      first = i;
    }
  }
  const centres: Float32Array[] = [Float32Array.from(vectors[first] as Float32Array)];
  const nearest = new Float64Array(n).fill(Number.POSITIVE_INFINITY);
  while (centres.length < m) {
    const c = centres[centres.length - 1] as Float32Array;
    let pick = -1;
    for (let i = 0; i < n; i++) {
      const d = Math.max(0, 1 - dot(vectors[i] as Float32Array, c));
      if (d < (nearest[i] as number)) nearest[i] = d;
      if (pick < 0 || (nearest[i] as number) > (nearest[pick] as number)) pick = i;
    }
    if (pick < 0 || (nearest[pick] as number) === 0) break; // every vector is a centre already
    centres.push(Float32Array.from(vectors[pick] as Float32Array));
  }
  // Lloyd's updates.
  const k = centres.length;
  const assign = new Int32Array(n);
  for (let it = 0; it < (options.iterations ?? 5); it++) {
    for (let i = 0; i < n; i++) assign[i] = closest(vectors[i] as Float32Array, centres, dot);
    const sums = Array.from({ length: k }, () => new Float64Array(dim));
    const counts = new Int32Array(k);
    for (let i = 0; i < n; i++) {
      const c = assign[i] as number;
      const v = vectors[i] as Float32Array;
      const s = sums[c] as Float64Array;
      for (let d = 0; d < dim; d++) s[d] = (s[d] as number) + (v[d] as number);
      counts[c] = (counts[c] as number) + 1;
    }
    for (let c = 0; c < k; c++) {
      if (counts[c] === 0) continue;
      const s = sums[c] as Float64Array;
      let norm = 0;
      for (let d = 0; d < dim; d++) norm += (s[d] as number) ** 2;
      const inv = norm > 0 ? 1 / Math.sqrt(norm) : 0;
      const centre = centres[c] as Float32Array;
      for (let d = 0; d < dim; d++) centre[d] = (s[d] as number) * inv;
    }
  }
  for (let i = 0; i < n; i++) assign[i] = closest(vectors[i] as Float32Array, centres, dot);
  // Each region's most central member, the largest regions first.
  const best = new Int32Array(k).fill(-1);
  const bestSim = new Float64Array(k).fill(Number.NEGATIVE_INFINITY);
  const size = new Int32Array(k);
  for (let i = 0; i < n; i++) {
    const c = assign[i] as number;
    size[c] = (size[c] as number) + 1;
    const s = dot(vectors[i] as Float32Array, centres[c] as Float32Array);
    if (s > (bestSim[c] as number)) {
      bestSim[c] = s;
      best[c] = i;
    }
  }
  const chosen = [...best.keys()]
    .filter((c) => (best[c] as number) >= 0)
    .sort((a, b) => (size[b] as number) - (size[a] as number) || a - b)
    .map((c) => best[c] as number);
  // Empty regions (duplicates): fill with the vectors farthest from those chosen.
  if (chosen.length < m) {
    const taken = new Set(chosen);
    const far = new Float64Array(n).fill(Number.POSITIVE_INFINITY);
    for (const c of chosen) {
      for (let i = 0; i < n; i++) {
        far[i] = Math.min(far[i] as number, 1 - dot(vectors[i] as Float32Array, vectors[c] as Float32Array));
      }
    }
    while (chosen.length < m) {
      let pick = -1;
      for (let i = 0; i < n; i++)
        if (!taken.has(i) && (pick < 0 || (far[i] as number) > (far[pick] as number))) pick = i;
      if (pick < 0) break;
      chosen.push(pick);
      taken.add(pick);
      for (let i = 0; i < n; i++) {
        far[i] = Math.min(
          far[i] as number,
          1 - dot(vectors[i] as Float32Array, vectors[pick] as Float32Array),
        );
      }
    }
  }
  return chosen;
}

function closest(
  v: Float32Array,
  centres: readonly Float32Array[],
  dot: (a: Float32Array, b: Float32Array) => number,
): number {
  let best = 0;
  let bestSim = Number.NEGATIVE_INFINITY;
  for (let c = 0; c < centres.length; c++) {
    const s = dot(v, centres[c] as Float32Array);
    if (s > bestSim) {
      bestSim = s;
      best = c;
    }
  }
  return best;
}
