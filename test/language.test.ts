import { afterEach, describe, expect, it } from "vitest";
import { HashEmbedder } from "../service/embedding/hash.ts";
import { SentencePieceSpans } from "../service/embedding/sentencepiece.ts";
import { example, startService, type TestService } from "./support/harness.ts";

const vocabulary = SentencePieceSpans.fromModelPackage();

/** The hash embedder, telling what the local model's vocabulary cannot read (the local model's own rule). */
class ReadingHashEmbedder extends HashEmbedder {
  unknownShare(text: string): number {
    return vocabulary.unknownShare(text);
  }
}

describe("what the default model cannot read", () => {
  it("is the share of letters its vocabulary lacks: none of English, all of Chinese", () => {
    expect(vocabulary.unknownShare("write a haiku about rain")).toBe(0);
    expect(vocabulary.unknownShare("Schreibe ein Gedicht über Regen")).toBe(0);
    expect(vocabulary.unknownShare("写一首关于雨的俳句")).toBe(1);
    const mixed = vocabulary.unknownShare("用Python写一个快速排序");
    expect(mixed).toBeGreaterThan(0.4);
    expect(mixed).toBeLessThan(0.7);
    expect(vocabulary.unknownShare("?! 123")).toBe(0);
  });

  describe("in the service", () => {
    let svc: TestService | undefined;
    afterEach(async () => {
      await svc?.close();
      svc = undefined;
    });

    it("is answered as X-Unknown-Text-Share and counted in /metrics", async () => {
      svc = await startService({}, { embedder: new ReadingHashEmbedder(64) });
      await svc.addExamples([example("write a poem about rain", { big: 0.9, small: 0.3 })]);
      const english = await svc.request("POST", "/rank", { query: "write a haiku about rain" });
      expect(english.headers.get("x-unknown-text-share")).toBe("0.000");
      const chinese = await svc.request("POST", "/rank", { query: "写一首关于雨的俳句" });
      expect(chinese.headers.get("x-unknown-text-share")).toBe("1.000");
      const knn = await svc.request("POST", "/", { query: "写一首关于雨的俳句" });
      expect(knn.headers.get("x-unknown-text-share")).toBe("1.000");
      const metrics = await (await svc.request("GET", "/metrics")).text();
      expect(metrics).toMatch(/router_rank_unknown_text_share_bucket\{le="0"\} 1\b/);
      expect(metrics).toMatch(/router_rank_unknown_text_share_count 3\b/);
    });

    it("is not answered when the embedder cannot tell", async () => {
      svc = await startService();
      await svc.addExamples([example("write a poem about rain", { big: 0.9 })]);
      const res = await svc.request("POST", "/rank", { query: "写一首关于雨的俳句" });
      expect(res.status).toBe(200);
      expect(res.headers.get("x-unknown-text-share")).toBeNull();
    });
  });
});
