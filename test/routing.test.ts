import { describe, expect, it } from "vitest";
import { truncate } from "../service/embedding/truncate.ts";
import { rankTargets, type ScoredNeighbour } from "../service/routing/aggregate.ts";

const n = (id: string, similarity: number, scores: Record<string, number>): ScoredNeighbour => ({
  id,
  similarity,
  category: null,
  scores,
});
const enabled = (...names: string[]) => names.map((name) => ({ name, enabled: true }));

describe("rankTargets", () => {
  it("takes the similarity-weighted mean over the neighbours that scored each target", () => {
    const ranked = rankTargets(
      [n("a", 0.9, { x: 1, y: 0 }), n("b", 0.3, { x: 0 }), n("c", 0.6, { y: 1 })],
      enabled("x", "y"),
    );
    expect(ranked).toEqual([
      { target: "x", score: 0.9 / 1.2, support: 2, confidence: 1 },
      { target: "y", score: 0.6 / 1.5, support: 2, confidence: 1 },
    ]);
  });

  it("gives negative similarities no weight, and falls back to the plain mean when no weight is left", () => {
    const ranked = rankTargets([n("a", -0.5, { x: 1, y: 0.2 }), n("b", 0.5, { x: 0 })], enabled("x", "y"));
    expect(ranked).toEqual([
      { target: "y", score: 0.2, support: 1, confidence: 0 },
      { target: "x", score: 0, support: 2, confidence: 1 },
    ]);
  });

  it("leaves out disabled targets, targets outside `only`, and targets nobody scored", () => {
    const targets = [...enabled("x", "y"), { name: "z", enabled: false }, ...enabled("w")];
    const neighbours = [n("a", 1, { x: 0.5, y: 0.6, z: 1 })];
    expect(rankTargets(neighbours, targets).map((r) => r.target)).toEqual(["y", "x"]);
    expect(rankTargets(neighbours, targets, { only: ["x", "z"] }).map((r) => r.target)).toEqual(["x"]);
  });

  it("breaks ties on support, then on name", () => {
    const ranked = rankTargets(
      [n("a", 1, { b: 0.5, a: 0.5, c: 0.5 }), n("b", 1, { c: 0.5 })],
      enabled("a", "b", "c"),
    );
    expect(ranked.map((r) => r.target)).toEqual(["c", "a", "b"]);
  });

  it("returns an empty list for no neighbours", () => {
    expect(rankTargets([], enabled("x"))).toEqual([]);
  });
});

describe("truncate", () => {
  const text = "one two three four five six seven eight";
  it("leaves a text within the limit alone", () => {
    expect(truncate(text, 8, 3)).toBe(text);
  });
  it("1 drops the head", () => expect(truncate(text, 3, 1)).toBe("six seven eight"));
  it("2 drops the tail", () => expect(truncate(text, 3, 2)).toBe("one two three"));
  it("3 drops the middle", () => expect(truncate(text, 4, 3)).toBe("one two seven eight"));
  it("4 drops both ends", () => expect(truncate(text, 4, 4)).toBe("three four five six"));
  it("keeps the original spacing inside a kept span", () => {
    expect(truncate("a  b\nc d e", 3, 2)).toBe("a  b\nc");
  });
});
