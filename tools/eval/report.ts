import type { Evaluation, Row } from "./evaluate.ts";

const f = (x: number | undefined, digits = 3) => (x === undefined ? "–" : x.toFixed(digits));
const money = (x: number | undefined) => (x === undefined ? "not reached" : x.toPrecision(3));

/** The evaluation as a Markdown section: one table row per router and reference. */
export function markdown(e: Evaluation, command: string): string {
  const two = e.rows.some((r) => r.apgr !== undefined);
  const costs = e.rows.some((r) => r.aiq !== undefined);
  const head = [
    "router",
    ...(two ? ["APGR", "CPT(50%)", "CPT(80%)"] : []),
    ...(costs ? ["AIQ", "quality at best single cost", "cost to match best single"] : []),
    "top-pick quality",
  ];
  const cells = (r: Row) => [
    r.name,
    ...(two
      ? [
          f(r.apgr),
          r.cpt50 === undefined ? "–" : `${(r.cpt50 * 100).toFixed(1)}%`,
          r.cpt80 === undefined ? "–" : `${(r.cpt80 * 100).toFixed(1)}%`,
        ]
      : []),
    ...(costs ? [f(r.aiq), f(r.qualityAtBestCost), r.curve ? money(r.costToMatchBest) : "–"] : []),
    f(r.topQuality),
  ];
  const lines = [
    `### ${e.dataset} (${e.items.toLocaleString("en")} prompts, ${e.targets.length} targets)`,
    "",
    `\`${command}\``,
    "",
    `| ${head.join(" | ")} |`,
    `|${head.map(() => "---").join("|")}|`,
    ...e.rows.map((r) => `| ${cells(r).join(" | ")} |`),
    "",
    `Best single model: ${e.bestSingle.target} (quality ${f(e.bestSingle.quality)}, cost ${money(e.bestSingle.cost)} a query).`,
    `Costs are per query in the dataset's unit${e.costUnit ? ` (${e.costUnit})` : ""}. Quality is the mean score in [0, 1].`,
  ];
  return lines.join("\n");
}

/** Summary of one router's metric over several splits. */
export function spread(values: readonly number[]): { mean: number; sd: number; min: number; max: number } {
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const sd = n > 1 ? Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, sd, min: Math.min(...values), max: Math.max(...values) };
}

/** How much each router's metric moves with the split alone, as a Markdown section. */
export function spreadMarkdown(
  metric: string,
  seeds: readonly number[],
  routers: ReadonlyArray<{ name: string; values: readonly number[] }>,
): string {
  const seedList =
    seeds.length > 6 ? `${seeds.slice(0, 3).join(", ")}, …, ${seeds.at(-1)}` : seeds.join(", ");
  return [
    `#### ${metric} over ${seeds.length} split seeds (${seedList})`,
    "",
    "| router | mean | sd | min | max |",
    "|---|---|---|---|---|",
    ...routers.map((r) => {
      const s = spread(r.values);
      return `| ${r.name} | ${f(s.mean)} | ${f(s.sd)} | ${f(s.min)} | ${f(s.max)} |`;
    }),
  ].join("\n");
}

/** Cost-quality curves (hulls) of the rows that have one, as a standalone SVG. */
export function svg(e: Evaluation): string {
  const curves = e.rows.filter((r) => r.curve && r.curve.length > 0);
  const W = 640;
  const H = 400;
  const pad = 56;
  const xs = curves.flatMap((r) => (r.curve ?? []).map((p) => p.x));
  const ys = curves.flatMap((r) => (r.curve ?? []).map((p) => p.y));
  if (xs.length === 0) return "";
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  const sx = (x: number) => pad + ((x - x0) / (x1 - x0 || 1)) * (W - 2 * pad);
  const sy = (y: number) => H - pad - ((y - y0) / (y1 - y0 || 1)) * (H - 2 * pad);
  const colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2"];
  const paths = curves.map((r, i) => {
    const d = (r.curve ?? [])
      .map((p, j) => `${j === 0 ? "M" : "L"}${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`)
      .join(" ");
    const colour = colours[i % colours.length];
    return `<path d="${d}" fill="none" stroke="${colour}" stroke-width="2"/><text x="${W - pad + 4 - 150}" y="${pad + 16 * i}" fill="${colour}" font-size="12">${escapeXml(r.name)}</text>`;
  });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">${escapeXml(e.dataset)}: quality against cost per query</text>`,
    `<line x1="${pad}" y1="${H - pad}" x2="${W - pad}" y2="${H - pad}" stroke="black"/>`,
    `<line x1="${pad}" y1="${pad}" x2="${pad}" y2="${H - pad}" stroke="black"/>`,
    `<text x="${pad}" y="${H - pad + 16}" font-size="11">${x0.toPrecision(3)}</text>`,
    `<text x="${W - pad}" y="${H - pad + 16}" font-size="11" text-anchor="end">${x1.toPrecision(3)}</text>`,
    `<text x="${pad - 4}" y="${H - pad}" font-size="11" text-anchor="end">${y0.toFixed(3)}</text>`,
    `<text x="${pad - 4}" y="${pad + 4}" font-size="11" text-anchor="end">${y1.toFixed(3)}</text>`,
    `<text x="${W / 2}" y="${H - 12}" font-size="12" text-anchor="middle">mean cost per query</text>`,
    ...paths,
    "</svg>",
  ].join("\n");
}

function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;");
}
