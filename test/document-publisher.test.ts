import { describe, expect, it } from "vitest";
import { NO_FEATURES } from "../service/embedding/features.ts";
import { DocumentPublisher, type DocumentStore } from "../service/replicas/publisher.ts";
import { type DocumentContent, documentContent } from "../service/replicas/routing-document.ts";
import { DEFAULT_SETTINGS } from "../service/routing/aggregate.ts";
import { RecordingLogger } from "./support/harness.ts";

const content = (k: number): DocumentContent =>
  documentContent({
    embedderId: "hash:v1:8",
    features: NO_FEATURES,
    collection: "examples",
    choice: { k, settings: DEFAULT_SETTINGS },
    targets: [
      { name: "big", enabled: true, priorScore: null, inputPricePerMtok: null, outputPricePerMtok: null },
    ],
    stats: { overall: { big: 0.5 }, byCategory: new Map() },
  });

/** A store that fails its first `failures` calls, then keeps what is written. */
function flakyStore(previous: number, failures: number) {
  const written: number[] = [];
  let calls = 0;
  const store: DocumentStore = {
    read: async () => {
      if (calls++ < failures) throw new Error("unreachable");
      return { version: previous, body: { version: previous, publishedAt: "", ...content(1) } };
    },
    write: async (version) => {
      written.push(version);
    },
  };
  return { store, written };
}

describe("the routing document's publisher", () => {
  it("continues the versions published before, even when the store did not answer at first", async () => {
    const { store, written } = flakyStore(41, 1);
    let k = 2;
    const publisher = new DocumentPublisher(store, () => content(k), new RecordingLogger(), 60_000);
    await publisher.start();
    expect(written).toEqual([]);
    await publisher.publishNow();
    expect(written).toEqual([42]);
    // Unchanged content is not published again; a change is, as the next version.
    await publisher.publishNow();
    k = 3;
    await publisher.publishNow();
    expect(written).toEqual([42, 43]);
    await publisher.stop();
  });

  it("publishes nothing new when what it would publish is what was published before", async () => {
    const { store, written } = flakyStore(5, 0);
    const publisher = new DocumentPublisher(store, () => content(1), new RecordingLogger(), 60_000);
    await publisher.start();
    expect(written).toEqual([]);
    expect(publisher.published).toBe(5);
    await publisher.stop();
  });
});
