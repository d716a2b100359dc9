import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { progressBar } from "../service/cli/progress.ts";

function stream(tty: boolean) {
  const s = Object.assign(new PassThrough(), { isTTY: tty, columns: 100 });
  let out = "";
  s.on("data", (d: Buffer) => {
    out += d.toString("utf8");
  });
  return { s, out: () => out };
}

describe("progress bar for CLI jobs", () => {
  it("draws one labelled bar on a terminal, ending at the total", async () => {
    const { s, out } = stream(true);
    const progress = progressBar("re-embed", s);
    progress(0, 4);
    progress(2, 4);
    progress(4, 4);
    await new Promise((r) => setImmediate(r));
    expect(out()).toContain("re-embed [");
    expect(out()).toContain("4/4 100%");
  });

  it("stays quiet when not on a terminal", async () => {
    const { s, out } = stream(false);
    const progress = progressBar("index", s);
    progress(0, 10);
    progress(10, 10);
    await new Promise((r) => setImmediate(r));
    expect(out()).toBe("");
  });
});
