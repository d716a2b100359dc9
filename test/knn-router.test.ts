import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FakeTei } from "./support/fake-tei.ts";
import { type ErrorBody, startService, type TestService } from "./support/harness.ts";

// knn-router's own quickstart files (Apache-2.0), read in place: see ../shared/data/knn-router/SOURCE.md.
const ROOT = "../shared/data/knn-router";
const DATA = join(ROOT, "deploy/docker-compose/data");
const here = existsSync(join(DATA, "points.jsonl")) && existsSync(join(DATA, "targets.jsonl"));
const skipNote = here ? "" : ` (skipped: ${ROOT} is absent)`;

interface Point {
  point_uid: string;
  category: string;
  utterance: string;
  embedding: number[];
}

const lines = (file: string) =>
  readFileSync(join(DATA, file), "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l));

/** The query of knn-router's quickstart README and its real answer there (hits in order, scores). */
const README_QUERY = "who are the candidates running for office?";
const README_HITS: Array<[string, number]> = [
  ["887cd819-15f5-4c27-a17b-532fec485271", 0.52368176],
  ["3d0c0974-0d99-41fd-b7b1-4dfc9155d53f", 0.48429558],
  ["442ae99e-c4d4-4316-9067-3b7232f23754", 0.47992623],
  ["485d0e5b-599f-4844-99ab-d86f376c3214", 0.4750255],
  ["b9c076c0-e96c-4208-88ec-761b325ca12e", 0.46624953],
  ["9d7d61c1-a922-456c-913f-3c3a51beb8aa", 0.4377066],
  ["8453a119-eff9-4473-bbb9-359adf9bf4c0", 0.43222725],
  ["82dafcc6-b4eb-4ea1-967c-5d21453d881c", 0.41400117],
  ["b9784f9c-ace9-4939-87d3-83e28dc44b5e", 0.39327258],
  ["7f2ad3ce-4505-4d3b-89c1-178abc1aee80", 0.3586356],
];
const README_SCORES = [
  { target: "politics-agent", score: 0.54 },
  { target: "chitchat-agent", score: 0.46 },
];

interface KnnRouterAnswer {
  hits: Array<{ id: string; category: string; similarity: number }>;
  scores: Array<{ target: string; score: number }>;
}

const dot = (a: readonly number[], b: readonly number[]) =>
  a.reduce((s, x, i) => s + x * (b[i] as number), 0);
const unit = (v: number[]) => {
  const n = Math.sqrt(dot(v, v));
  return v.map((x) => x / n);
};

/** Solves G x = b by Gaussian elimination with partial pivoting (G small and well conditioned). */
function solve(g: number[][], b: number[]): number[] {
  const n = b.length;
  const m = g.map((row, i) => [...row, b[i] as number]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r]?.[c] as number) > Math.abs(m[p]?.[c] as number)) p = r;
    [m[c], m[p]] = [m[p] as number[], m[c] as number[]];
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = (m[r]?.[c] as number) / (m[c]?.[c] as number);
      for (let j = c; j <= n; j++) (m[r] as number[])[j] = (m[r]?.[j] as number) - f * (m[c]?.[j] as number);
    }
  }
  return m.map((row, i) => (row[n] as number) / (row[i] as number));
}

/**
 * A unit vector whose cosine with each point is the similarity the README reports: the README does
 * not ship its query's embedding, but ten similarities in 384 dimensions pin one down (the
 * least-norm solution, topped up to unit length along a direction orthogonal to every point).
 */
function readmeQueryVector(points: Point[]): number[] {
  const rows = README_HITS.map(([id]) => unit((points.find((p) => p.point_uid === id) as Point).embedding));
  const s = README_HITS.map(([, sim]) => sim);
  const gram = rows.map((a) => rows.map((b) => dot(a, b)));
  const alpha = solve(gram, s);
  const v0 = (rows[0] as number[]).map((_, j) =>
    rows.reduce((acc, r, i) => acc + (alpha[i] as number) * (r[j] as number), 0),
  );
  const r = v0.map((_, j) => Math.sin(j + 1));
  const beta = solve(
    gram,
    rows.map((row) => dot(row, r)),
  );
  const ortho = r.map(
    (x, j) => x - rows.reduce((acc, row, i) => acc + (beta[i] as number) * (row[j] as number), 0),
  );
  const rest = Math.sqrt(1 - dot(v0, v0)) / Math.sqrt(dot(ortho, ortho));
  return v0.map((x, j) => x + rest * (ortho[j] as number));
}

/** knn-router's answer by its server.go formula, computed here from the shipped vectors (top 10 of 10). */
function knnRouterAnswer(
  query: number[],
  points: Point[],
  targets: Array<{ point_uid: string; target: string; score: number }>,
) {
  const hits = points
    .map((p) => ({ id: p.point_uid, similarity: dot(unit(query), unit(p.embedding)) }))
    .sort((a, b) => b.similarity - a.similarity)
    .slice(0, 10);
  const weightSum = hits.reduce((s, h) => s + h.similarity, 0);
  const sums = new Map<string, number>();
  for (const h of hits) {
    for (const t of targets.filter((t) => t.point_uid === h.id)) {
      sums.set(t.target, (sums.get(t.target) ?? 0) + h.similarity * t.score);
    }
  }
  const scores = Object.fromEntries([...sums].map(([t, s]) => [t, Math.round((s / weightSum) * 100) / 100]));
  return { hits, scores };
}

describe.skipIf(!here)(`knn-router compatibility on knn-router's own quickstart files${skipNote}`, () => {
  let tei: FakeTei;
  let svc: TestService;
  let points: Point[];
  let targets: Array<{ point_uid: string; target: string; score: number }>;
  let pointsText: string;
  let targetsText: string;

  beforeAll(async () => {
    points = lines("points.jsonl");
    targets = lines("targets.jsonl");
    pointsText = readFileSync(join(DATA, "points.jsonl"), "utf8");
    targetsText = readFileSync(join(DATA, "targets.jsonl"), "utf8");
    // The embedding server knn-router used, stood in for: it answers the shipped vectors.
    tei = await new FakeTei(384).start();
    for (const p of points) tei.vectors.set(p.utterance, p.embedding);
    tei.vectors.set(README_QUERY, readmeQueryVector(points));
    svc = await startService({
      EMBEDDER: "huggingface",
      HF_ENDPOINT_URL: `${tei.url}/embed`,
      EMBED_RETRIES: "0",
      DEFAULT_K: "10",
    });
    const form = new FormData();
    form.append("points", pointsText);
    form.append("targets", targetsText);
    const res = await svc.request("POST", "/admin/import", form, { admin: true });
    expect(res.status).toBe(201);
  });
  afterAll(async () => {
    await svc?.close();
    await tei?.stop();
  });

  const post = async (body: unknown) => {
    const res = await svc.request("POST", "/", body);
    return { status: res.status, body: (await res.json()) as KnnRouterAnswer };
  };

  it("answers each of the ten sample utterances on POST / with knn-router's hits and scores", async () => {
    for (const p of points) {
      const expected = knnRouterAnswer(p.embedding, points, targets);
      const { status, body } = await post({ query: p.utterance });
      expect(status).toBe(200);
      expect(Object.keys(body).sort()).toEqual(["hits", "scores"]);
      expect(body.hits.map((h) => h.id)).toEqual(expected.hits.map((h) => h.id));
      body.hits.forEach((h, i) => {
        expect(h.similarity).toBeCloseTo(expected.hits[i]?.similarity as number, 4);
        expect(typeof h.category).toBe("string");
      });
      const got = Object.fromEntries(body.scores.map((s) => [s.target, s.score]));
      expect(Object.keys(got).sort()).toEqual(Object.keys(expected.scores).sort());
      for (const [t, score] of Object.entries(expected.scores))
        expect(Math.abs((got[t] as number) - score)).toBeLessThanOrEqual(0.01);
      // The point's own agent comes first, as knn-router's scores put it.
      expect(body.scores[0]?.target).toBe(p.category === "politics" ? "politics-agent" : "chitchat-agent");
    }
  });

  it("answers the README's query exactly as the README shows knn-router answering it", async () => {
    const { status, body } = await post({ query: README_QUERY });
    expect(status).toBe(200);
    expect(body.hits.map((h) => h.id)).toEqual(README_HITS.map(([id]) => id));
    body.hits.forEach((h, i) => {
      expect(h.similarity).toBeCloseTo(README_HITS[i]?.[1] as number, 4);
      expect(h.category).toBe(i < 5 ? "politics" : "chitchat");
    });
    expect(body.scores).toEqual(README_SCORES);
  });

  it("ranks knn-router's best target first on /rank for every utterance and the README query", async () => {
    for (const query of [...points.map((p) => p.utterance), README_QUERY]) {
      const knn = (await post({ query })).body.scores[0]?.target;
      const { status, body } = await svc.rank({ query });
      expect(status).toBe(200);
      expect(body.scores[0]?.target).toBe(knn);
      // Sparse labels were stored with explicit zeros, so every hit supports both agents.
      expect(body.scores.map((s) => s.support)).toEqual([10, 10]);
    }
  });

  it("ignores request fields knn-router does not know, and treats a null truncate_strategy as middle", async () => {
    const plain = await post({ query: README_QUERY });
    const extra = await post({ query: README_QUERY, user: "abc", k: 3, truncate_strategy: null });
    expect(extra.status).toBe(200);
    expect(extra.body).toEqual(plain.body);
    // Go decodes field names case-insensitively.
    expect((await post({ Query: README_QUERY })).body).toEqual(plain.body);
  });

  it("refuses what knn-router refuses with a 400", async () => {
    const cases: Array<[string, string]> = [
      ["{}", "query"],
      ['{"query":""}', "query"],
      ['{"truncate_strategy":3}', "query"],
      ["null", "query"],
      ['{"query": 42}', "query"],
      ["[1,2]", "body"],
      ['{"query": "a"', ""],
      ['{"query":"a","truncate_strategy":9}', "truncate_strategy"],
    ];
    for (const [raw, words] of cases) {
      const res = await svc.request("POST", "/", raw);
      expect(res.status, raw).toBe(400);
      const err = (await res.json()) as ErrorBody;
      expect(["INVALID_JSON", "VALIDATION_FAILED"]).toContain(err.error.code);
      expect(err.error.message).toContain(words);
    }
  });

  it("imports knn-router's documented points without utterances when told which embedder made the vectors", async () => {
    const bare = points.map(({ point_uid, category, embedding }) =>
      JSON.stringify({ point_uid, category, embedding, extra: 1 }),
    );
    const importBare = async (embedder?: string, text = bare.join("\n")) => {
      const form = new FormData();
      form.append("points", text);
      form.append("targets", targetsText);
      if (embedder !== undefined) form.append("embedder", embedder);
      const fresh = await startService({
        EMBEDDER: "huggingface",
        HF_ENDPOINT_URL: `${tei.url}/embed`,
        DEFAULT_K: "10",
      });
      const res = await fresh.request("POST", "/admin/import", form, { admin: true });
      return { fresh, res, body: (await res.json()) as ErrorBody & { imported: number } };
    };

    const missing = await importBare();
    expect(missing.res.status).toBe(400);
    expect(missing.body.error.details?.[0]).toMatchObject({ path: "points:1" });
    expect(missing.body.error.details?.[0]?.message).toContain("embedder=");
    expect(missing.fresh.deps.stores.examples.countExamples()).toBe(0);
    await missing.fresh.close();

    const wrong = await importBare("huggingface:some-other-model:384");
    expect(wrong.res.status).toBe(400);
    expect(wrong.body.error.details?.[0]?.path).toBe("embedder");
    await wrong.fresh.close();

    const shortLine = JSON.stringify({ point_uid: points[0]?.point_uid, embedding: [0.1, 0.2] });
    const short = await importBare(svc.deps.embedder.id, [shortLine, ...bare.slice(1)].join("\n"));
    expect(short.res.status).toBe(400);
    expect(short.body.error.details?.[0]).toMatchObject({ path: "points:1.embedding" });
    expect(short.body.error.details?.[0]?.message).toContain("2 dimensions");
    await short.fresh.close();

    const embedCalls = tei.requests.filter((r) => r.path === "/embed").length;
    const ok = await importBare(svc.deps.embedder.id);
    expect(ok.res.status).toBe(201);
    expect(ok.body.imported).toBe(10);
    // The probe at start embeds once; the points' own vectors need no embedding.
    expect(tei.requests.filter((r) => r.path === "/embed").length).toBe(embedCalls + 1);
    const res = await ok.fresh.request("POST", "/", { query: README_QUERY });
    expect(((await res.json()) as { scores: unknown }).scores).toEqual(README_SCORES);
    await ok.fresh.close();
  });

  it("refuses a (point, target) pair given twice, naming both lines", async () => {
    const form = new FormData();
    form.append("points", pointsText);
    form.append("targets", `${targetsText.trimEnd()}\n${JSON.stringify({ ...targets[0], score: 0.5 })}\n`);
    const before = svc.deps.stores.examples.get(targets[0]?.point_uid as string)?.updatedAt;
    const res = await svc.request("POST", "/admin/import", form, { admin: true });
    expect(res.status).toBe(400);
    const err = (await res.json()) as ErrorBody;
    expect(err.error.details?.[0]).toMatchObject({ path: `targets:${targets.length + 1}` });
    expect(err.error.details?.[0]?.message).toContain("first at targets:1");
    expect(svc.deps.stores.examples.get(targets[0]?.point_uid as string)?.updatedAt).toEqual(before);
  });
});
