import { describe, expect, it } from "vitest";
import { prepareText } from "../service/embedding/embedder.ts";
import { HashEmbedder } from "../service/embedding/hash.ts";
import { LengthFeatureEmbedder, withLengthFeature } from "../service/embedding/length-feature.ts";
import { stripTemplates, TemplateStrippingEmbedder } from "../service/embedding/templates.ts";
import { learnTemplates } from "../service/templates/learner.ts";

const PREFIX = "You are a careful assistant. Solve the problem and show your working.\nQuestion: ";
const SUFFIX = "\nEnd with 'The final answer is' followed by the number, nothing else.";

describe("learned prompt templates", () => {
  const bodies = [
    "how many apples are left",
    "what is the total cost of the books",
    "how far did the train go",
    "how old is Anna",
  ];
  const texts = [
    ...bodies.map((b) => `${PREFIX}${b}${SUFFIX}`),
    "a prompt without any template",
    "another plain one",
  ];

  it("finds the shared prefix and suffix, and strips them", () => {
    const t = learnTemplates(texts, { minShare: 0.3 });
    expect(t.prefixes).toEqual([PREFIX]);
    expect(t.suffixes).toEqual([SUFFIX]);
    expect(texts.map((x) => stripTemplates(x, t))).toEqual([
      ...bodies,
      "a prompt without any template",
      "another plain one",
    ]);
  });

  it("learns nothing from prompts that share no boilerplate, and never strips a prompt to nothing", () => {
    expect(learnTemplates(bodies)).toEqual({ prefixes: [], suffixes: [] });
    expect(stripTemplates(PREFIX, { prefixes: [PREFIX], suffixes: [] })).toBe(PREFIX);
  });

  it("makes templated prompts embed by what distinguishes them", async () => {
    const base = new HashEmbedder(256);
    const t = learnTemplates(texts, { minShare: 0.3 });
    const stripping = new TemplateStrippingEmbedder(base, t);
    expect(stripping.id).toMatch(/^hash:v1:256\+templates:[0-9a-f]{12}$/);
    const [a, b] = await base.embed([texts[0] as string, texts[1] as string]);
    const prepared = await Promise.all(
      [0, 1].map(async (i) => (await prepareText(stripping, texts[i] as string)).text),
    );
    expect(prepared).toEqual([bodies[0], bodies[1]]);
    const [sa, sb] = await stripping.embed(prepared);
    const cos = (x: Float32Array, y: Float32Array) => x.reduce((s, v, i) => s + v * (y[i] as number), 0);
    expect(cos(a as Float32Array, b as Float32Array)).toBeGreaterThan(0.8);
    expect(cos(sa as Float32Array, sb as Float32Array)).toBeLessThan(0.5);
  });
});

describe("length feature", () => {
  it("appends a unit-norm length coordinate that grows with length, and names itself", async () => {
    const e = new LengthFeatureEmbedder(new HashEmbedder(16), 0.1);
    expect(e.dimension).toBe(17);
    expect(e.id).toBe("hash:v1:16+length:0.1");
    const [short, long] = await e.embed([
      "short question",
      `long question ${"with many more words ".repeat(40)}`,
    ]);
    expect(Math.hypot(...(short as Float32Array))).toBeCloseTo(1, 5);
    expect((long as Float32Array)[16]).toBeGreaterThan((short as Float32Array)[16] as number);
    const v = withLengthFeature(new Float32Array([1, 0]), "x".repeat(200), 0.3);
    // A 200-character prompt sits at the centre: the extra coordinate is 0.
    expect(Array.from(v)).toEqual([1, 0, 0]);
  });

  it("strips a template longer than the input limit before truncating, so the prompt's own text is kept", async () => {
    // 12 tokens at most: the template alone is longer, so truncating first would keep its head and
    // the end of the prompt, and the template would no longer match to be stripped.
    const stripping = new TemplateStrippingEmbedder(new HashEmbedder(256, 12), {
      prefixes: [PREFIX],
      suffixes: [],
    });
    const body = "how many apples are left after Tom gives three to Anna and eats two himself";
    const { text, truncated } = await prepareText(stripping, `${PREFIX}${body}`);
    expect(text.startsWith("how many apples")).toBe(true);
    expect(text).not.toContain("careful assistant");
    expect(truncated).toBe(true);
  });
});
