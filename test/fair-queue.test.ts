import { describe, expect, it } from "vitest";
import { FairQueue } from "../service/embedding/fair-queue.ts";

type Job = { name: string; texts: string[]; tokens: number };
const job = (name: string, n = 1, tokens = 10): Job => ({
  name,
  texts: Array.from({ length: n }, (_, i) => `${name}-${i}`),
  tokens,
});
/** A text over LONG_TEXT_TOKENS tokens, as the embedder counts them (one letter repeated: a token each). */
const long = (name: string): Job => ({ name, texts: ["x".repeat(256)], tokens: 256 });

describe("the embedding worker's queue", () => {
  it("merges the queries waiting together into one batch, up to its size", () => {
    const q = new FairQueue<Job>(5, 4);
    for (const name of ["a", "b", "c"]) q.push(job(name, 2), "query");
    expect(q.next()?.map((j) => j.name)).toEqual(["a", "b"]);
    expect(q.next()?.map((j) => j.name)).toEqual(["c"]);
    expect(q.next()).toBeUndefined();
  });

  it("puts queries before bulk work, but gives waiting bulk work a turn after every few query batches", () => {
    const q = new FairQueue<Job>(1, 3);
    q.push(job("write"), "bulk");
    for (let i = 0; i < 10; i++) q.push(job(`q${i}`), "query");
    const order: string[] = [];
    for (let next = q.next(); next; next = q.next()) order.push(...next.map((j) => j.name));
    expect(order).toEqual(["q0", "q1", "q2", "write", "q3", "q4", "q5", "q6", "q7", "q8", "q9"]);
  });

  it("bounds a write's wait under a query load that never ends", () => {
    const q = new FairQueue<Job>(32, 4);
    let served = 0;
    q.push(job("write"), "bulk");
    for (;;) {
      // Eight new queries arrive for every batch taken: the load outruns the worker.
      for (let i = 0; i < 8; i++) q.push(job(`q${served}-${i}`), "query");
      const next = q.next() as Array<ReturnType<typeof job>>;
      served++;
      if (next.some((j) => j.name === "write")) break;
      expect(served).toBeLessThanOrEqual(5);
    }
    expect(served).toBe(5);
  });

  it("runs a long text alone, so it does not slow a whole batch of short ones", () => {
    const q = new FairQueue<Job>(32, 4);
    q.push(job("a"), "query");
    q.push(long("long"), "query");
    q.push(job("b"), "query");
    q.push(job("c"), "query");
    // Alone, and ahead of the short query that came before it.
    expect(q.next()?.map((j) => j.name)).toEqual(["long"]);
    expect(q.next()?.map((j) => j.name)).toEqual(["a", "b", "c"]);
  });

  it("takes long texts ahead of short queries only every other batch, so a flood of them cannot starve the rest", () => {
    const q = new FairQueue<Job>(2, 100);
    for (const name of ["a", "b", "c", "d"]) q.push(job(name), "query");
    for (const name of ["L1", "L2", "L3"]) q.push(long(name), "query");
    const order: string[][] = [];
    for (let next = q.next(); next; next = q.next()) order.push(next.map((j) => j.name));
    expect(order).toEqual([["L1"], ["a", "b"], ["L2"], ["c", "d"], ["L3"]]);
  });

  it("counts a long text by its tokens, not its characters: 256 characters of one letter are 256 tokens", () => {
    const q = new FairQueue<Job>(32, 4);
    for (const name of ["a", "b"]) q.push(job(name), "query");
    q.push(long("x256"), "query");
    q.push(job("c"), "query");
    expect(q.next()?.map((j) => j.name)).toEqual(["x256"]);
    expect(q.next()?.map((j) => j.name)).toEqual(["a", "b", "c"]);
  });

  it("bounds a batch's padded tokens: a longer short text waits for the next batch, the oldest always goes", () => {
    const q = new FairQueue<Job>(16, 4, 100);
    q.push(job("a", 1, 10), "query");
    q.push(job("b", 1, 10), "query");
    q.push(job("wide", 1, 60), "query"); // 3 × 60 > 100: not with a and b
    q.push(job("c", 1, 10), "query");
    expect(q.next()?.map((j) => j.name)).toEqual(["a", "b", "c"]);
    expect(q.next()?.map((j) => j.name)).toEqual(["wide"]);
  });

  it("with a long-text worker, leaves long texts to it, and gives them to the others only when nothing else waits", () => {
    const q = new FairQueue<Job>(16, 4);
    q.push(long("L1"), "query");
    q.push(job("a"), "query");
    q.push(long("L2"), "query");
    q.push(job("b"), "query");
    expect(q.next(false)?.map((j) => j.name)).toEqual(["a", "b"]);
    expect(q.nextLong()?.map((j) => j.name)).toEqual(["L1"]);
    expect(q.next(false)?.map((j) => j.name)).toEqual(["L2"]);
    expect(q.nextLong()).toBeUndefined();
    expect(q.next(false)).toBeUndefined();
  });

  it("drains every waiting job", () => {
    const q = new FairQueue<Job>();
    q.push(job("a"), "query");
    q.push(job("b"), "bulk");
    expect(q.drain().map((j) => j.name)).toEqual(["a", "b"]);
    expect(q.size).toBe(0);
  });
});
