// The layering of service/, checked by `npm run lint` (depcruise): a file imports only from its
// own layer's folder or from layers below it; folders that share a layer never import each other;
// no file takes part in an import cycle. docs/architecture.md draws the same picture in words.

/** Top to bottom. Each entry is a layer; a layer may hold several folders (peers). */
const LAYERS = [
  { name: "entry", parts: ["service/main\\.ts$", "service/cli/"] },
  { name: "composition", parts: ["service/(app|deps|replica|startup)\\.ts$"] },
  { name: "http", parts: ["service/http/"] },
  { name: "replicas", parts: ["service/replicas/"] },
  { name: "tuning", parts: ["service/tuning/"] },
  { name: "templates", parts: ["service/templates/"] },
  { name: "learning", parts: ["service/learning/"] },
  { name: "core", parts: ["service/core/"] },
  { name: "adapters", parts: ["service/store/", "service/embedding/"] },
  { name: "routing", parts: ["service/routing/"] },
  { name: "vectors", parts: ["service/vectors/"] },
  { name: "foundation", parts: ["service/(config|errors|logger|metrics)\\.ts$"] },
];

const path = (parts) => `^(${parts.join("|")})`;

const upward = LAYERS.flatMap((layer, i) => {
  const above = LAYERS.slice(0, i).flatMap((l) => l.parts);
  if (above.length === 0) return [];
  return [
    {
      name: `no-upward-from-${layer.name}`,
      comment: `${layer.name} imports only from its own layer or below`,
      severity: "error",
      from: { path: path(layer.parts) },
      to: { path: path(above) },
    },
  ];
});

const peers = LAYERS.filter((l) => l.parts.length > 1).flatMap((layer) =>
  layer.parts.map((part) => ({
    name: `no-peer-import-${part.replace(/[^a-z]/g, "")}`,
    comment: `folders of the ${layer.name} layer do not import each other`,
    severity: "error",
    from: { path: `^${part}` },
    to: { path: path(layer.parts.filter((p) => p !== part)) },
  })),
);

module.exports = {
  forbidden: [
    ...upward,
    ...peers,
    {
      name: "no-circular",
      comment: "no file takes part in an import cycle",
      severity: "error",
      from: { path: "^service/" },
      to: { circular: true },
    },
    {
      name: "thin-edge",
      comment: "the HTTP edge goes through the domain services, never the store",
      severity: "error",
      from: { path: "^service/http/" },
      to: { path: "^service/store/" },
    },
    {
      name: "service-stands-alone",
      comment: "the service never imports tools, benchmarks or tests",
      severity: "error",
      from: { path: "^service/" },
      to: { path: "^(tools|bench|test)/" },
    },
    {
      name: "no-unresolvable",
      comment: "every relative import resolves to a file",
      severity: "error",
      from: { path: "^service/" },
      to: { couldNotResolve: true, path: "^[.]" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^service/console/" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: {
      extensions: [".ts", ".mjs", ".js"],
      conditionNames: ["import", "require", "node", "default"],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
